-- pgTAP: the admin API — apps, service-account bindings, quotas, version
-- status and expiry — and request_context's binding check.
BEGIN;
SELECT plan(45);

-- Apps
SELECT is(workflow.create_app('adm_a') -> 'created', 'true'::jsonb, 'create_app creates a new app');
SELECT is(workflow.create_app('adm_a') -> 'created', 'false'::jsonb, 'create_app of an existing app: created false');
SELECT is(workflow.create_app('adm_a') #> '{app,quotas}',
          '{"maxRuns":100000,"maxEventsPerRun":100000,"maxQueuePerMinute":600000,"maxMessageBytes":262144,
            "maxQueuedBytes":1073741824,"maxStreamBytes":10737418240,"maxConcurrentRequests":0}'::jsonb,
          'a new app has the default quotas');
SELECT ok(workflow.create_app('adm_a') -> 'app' ? 'createdAt', 'the app has createdAt');
SELECT throws_ok($$ SELECT workflow.create_app('bad app!') $$, 'PW400', NULL, 'create_app: invalid id ⇒ 400');
SELECT throws_ok($$ SELECT workflow.create_app(NULL) $$, 'PW400', NULL, 'create_app: missing id ⇒ 400');
SELECT workflow.create_app('adm_b'), workflow.create_app('adm_c');
SELECT is((SELECT jsonb_agg(x ->> 'appId') FROM jsonb_array_elements(workflow.list_apps(2, 'adm_') -> 'data') x),
          '["adm_a", "adm_b"]'::jsonb, 'list_apps: first page in id order after the cursor');
SELECT is(workflow.list_apps(2, 'adm_') -> 'hasMore', 'true'::jsonb, 'list_apps: hasMore when more follow');
SELECT is(workflow.list_apps(2, 'adm_') ->> 'cursor', 'adm_b', 'list_apps: cursor is the last app id');
SELECT is(workflow.list_apps(2, 'adm_b') #>> '{data,0,appId}', 'adm_c', 'list_apps: the next page starts after the cursor');
SELECT is(workflow.list_apps(1, '') #>> '{data,0,appId}', 'adm_a', 'list_apps: an empty cursor starts at the beginning');
SELECT throws_ok($$ SELECT workflow.list_apps(0, NULL) $$, 'PW400', NULL, 'list_apps: limit 0 ⇒ 400');
SELECT throws_ok($$ SELECT workflow.list_apps(10, 'a b') $$, 'PW400', NULL, 'list_apps: malformed cursor ⇒ 400');

-- Bindings
SELECT is(workflow.bind_service_account('adm_a', 'team-a', 'runner') -> 'created', 'true'::jsonb, 'bind: created');
SELECT is(workflow.bind_service_account('adm_a', 'team-a', 'runner') -> 'created', 'false'::jsonb, 'bind again: created false');
SELECT is(workflow.bind_service_account('adm_a', 'team-a', 'runner') #>> '{binding,serviceAccount}', 'runner', 'bind returns the binding');
SELECT throws_ok($$ SELECT workflow.bind_service_account('nope', 'team-a', 'runner') $$, 'PW404', NULL, 'bind: unknown app ⇒ 404');
SELECT throws_ok($$ SELECT workflow.bind_service_account('adm_a', 'Team_A', 'runner') $$, 'PW400', NULL, 'bind: bad namespace ⇒ 400');
SELECT throws_ok($$ SELECT workflow.bind_service_account('adm_a', 'team-a', 'run:ner') $$, 'PW400', NULL, 'bind: bad service account ⇒ 400');
SELECT throws_ok($$ SELECT workflow.bind_service_account('adm_a', repeat('a', 64), 'runner') $$, 'PW400', NULL, 'bind: 64-character namespace ⇒ 400');
SELECT workflow.bind_service_account('adm_b', 'team-b', 'runner.v2');
SELECT is(workflow.unbind_service_account('adm_b', 'team-b', 'runner.v2'), '{"deleted": true}'::jsonb, 'unbind deletes');
SELECT throws_ok($$ SELECT workflow.unbind_service_account('adm_b', 'team-b', 'runner.v2') $$, 'PW404', NULL, 'unbind again ⇒ 404');

-- Quotas
SELECT is(workflow.set_quotas('adm_a', '{"maxRuns": 7}'),
          '{"maxRuns":7,"maxEventsPerRun":100000,"maxQueuePerMinute":600000,"maxMessageBytes":262144,
            "maxQueuedBytes":1073741824,"maxStreamBytes":10737418240,"maxConcurrentRequests":0}'::jsonb,
          'set_quotas of a subset keeps the other quotas');
SELECT is(workflow.get_quotas('adm_a') -> 'maxRuns', '7'::jsonb, 'get_quotas reads it back');
SELECT throws_ok($$ SELECT workflow.set_quotas('adm_a', '{"maxRuns": 5, "maxWidgets": 1}') $$, 'PW400',
                 'unknown quota ''maxWidgets'': expected maxRuns, maxEventsPerRun, maxQueuePerMinute, maxMessageBytes, '
                 'maxQueuedBytes, maxStreamBytes or maxConcurrentRequests', 'unknown key ⇒ 400 naming it');
SELECT throws_ok($$ SELECT workflow.set_quotas('adm_a', '{"maxRuns": 1.5}') $$, 'PW400', NULL, 'non-integer ⇒ 400');
SELECT throws_ok($$ SELECT workflow.set_quotas('adm_a', '{"maxRuns": "9"}') $$, 'PW400', NULL, 'string ⇒ 400');
SELECT throws_ok($$ SELECT workflow.set_quotas('adm_a', '{"maxQueuePerMinute": 0}') $$, 'PW400', NULL, '0 ⇒ 400');
SELECT throws_ok($$ SELECT workflow.set_quotas('adm_a', '{"maxEventsPerRun": 2147483648}') $$, 'PW400',
                 'maxEventsPerRun must be an integer between 1 and 2147483647, not 2147483648', 'out of range ⇒ 400 naming the field');
SELECT is(workflow.get_quotas('adm_a') -> 'maxRuns', '7'::jsonb, 'a refused update changes nothing');
SELECT throws_ok($$ SELECT workflow.get_quotas('nope') $$, 'PW404', NULL, 'get_quotas: unknown app ⇒ 404');
SELECT throws_ok($$ SELECT workflow.set_quotas('nope', '{"maxRuns": 3}') $$, 'PW404', NULL, 'set_quotas: unknown app ⇒ 404');

-- Version status and expiry: two runs of v1 (one with a hook and a wait), one of v2.
SELECT set_config('workflow.app_id', 'adm_a', true);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'run_created', NULL, '{"deploymentId":"v1","workflowName":"w","input":null}', 3);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'run_started', NULL, NULL, 3);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'hook_created', 'h1', '{"token":"tok-1"}', 3);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'wait_created', 'w1', '{"resumeAt":"2100-01-01T00:00:00Z"}', 3);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA2', 'run_created', NULL, '{"deploymentId":"v1","workflowName":"w","input":null}', 3);
SELECT workflow.create_event('adm_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA3', 'run_created', NULL, '{"deploymentId":"v2","workflowName":"w","input":null}', 3);
SELECT workflow.enqueue('adm_a', '__wkf_workflow_w', '{"runId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1"}', 'v1');
SELECT workflow.enqueue('adm_a', '__wkf_step_s', '{"workflowRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5FA2"}', 'v1');
SELECT workflow.register_handler('adm_a', 'pod-1', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT set_config('workflow.app_id', '', true);

SELECT is(workflow.version_status('adm_a', 'v1'),
          '{"activeRuns":2,"pendingHooks":1,"pendingWaits":1,"queuedMessages":2}'::jsonb, 'version_status counts v1''s work');
SELECT is(workflow.version_status('adm_a', 'v9'),
          '{"activeRuns":0,"pendingHooks":0,"pendingWaits":0,"queuedMessages":0}'::jsonb, 'an unknown version has nothing');
SELECT is(workflow.expire_version('adm_a', 'v1'),
          '{"cancelledRuns":2,"deadLetteredMessages":2,"removedHandlers":1}'::jsonb, 'expire_version reports what it did');
SELECT is((SELECT array_agg(status ORDER BY run_id) FROM workflow.runs WHERE app_id = 'adm_a'),
          ARRAY['cancelled', 'cancelled', 'pending'], 'v1''s runs are cancelled, v2''s is not');
SELECT is((SELECT count(*) FROM workflow.events WHERE app_id = 'adm_a' AND event_type = 'run_cancelled'), 2::bigint,
          'each cancellation is a run_cancelled event in the log');
SELECT is((SELECT count(*) FROM workflow.hooks WHERE app_id = 'adm_a' AND disposed_at IS NULL), 0::bigint, 'hooks disposed');
SELECT is((SELECT count(*) FROM workflow.waits WHERE app_id = 'adm_a' AND status = 'waiting'), 0::bigint, 'waits completed');
SELECT is(workflow.version_status('adm_a', 'v1'),
          '{"activeRuns":0,"pendingHooks":0,"pendingWaits":0,"queuedMessages":0}'::jsonb, 'nothing left in flight');
SELECT is(coalesce(current_setting('workflow.app_id', true), ''), '', 'expire_version restores the request scope');
SELECT is(workflow.expire_version('adm_a', 'v1'),
          '{"cancelledRuns":0,"deadLetteredMessages":0,"removedHandlers":0}'::jsonb, 'expiring again changes nothing');

-- request_context with a principal
SET LOCAL ROLE pgw_tenant;
SELECT is((SELECT app_id FROM workflow.request_context('adm_a', 'team-a:runner')), 'adm_a', 'a bound service account may act for the app');
SELECT throws_ok($$ SELECT * FROM workflow.request_context('adm_b', 'team-a:runner') $$, 'PW403',
                 'service account team-a:runner may not act for app adm_b', 'an unbound service account is refused (403)');
SELECT is((SELECT app_id FROM workflow.request_context('adm_b', NULL)), 'adm_b', 'NULL principal (single-tenant / admin) is allowed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
