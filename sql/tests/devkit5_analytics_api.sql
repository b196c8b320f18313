-- pgTAP: the DevKit 5 analytics namespace over workflow_analytics (change devkit5_analytics_api).
BEGIN;
SELECT plan(32);
SELECT set_config('workflow.app_id', 'tap_dk5a_other', false);
SELECT workflow.ensure_app('tap_dk5a_other');
SELECT workflow.create_event('tap_dk5a_other', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5A09', 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w","input":null,"attributes":{"team":"a"}}', 7);
SELECT set_config('workflow.app_id', 'tap_dk5a', false);
SELECT workflow.ensure_app('tap_dk5a');

\set a '''wrun_01ARZ3NDEKTSV4RRFFQ69G5A01'''
\set b '''wrun_01ARZ3NDEKTSV4RRFFQ69G5A02'''
\set c '''wrun_01ARZ3NDEKTSV4RRFFQ69G5A03'''
SELECT workflow.create_event('tap_dk5a', :a, 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w1","input":null,"attributes":{"team":"a","tier":"gold"}}', 7);
SELECT workflow.create_event('tap_dk5a', :a, 'run_started', NULL, NULL, 7);
SELECT workflow.create_event('tap_dk5a', :a, 'step_created', 's1', '{"stepName":"charge","input":null}', 7);
SELECT workflow.create_event('tap_dk5a', :a, 'step_started', 's1', NULL, 7);
SELECT workflow.create_event('tap_dk5a', :a, 'wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}', 7);
SELECT workflow.create_event('tap_dk5a', :a, 'hook_created', 'h1', '{"token":"tap-dk5a-h1"}', 7);
SELECT workflow.create_event('tap_dk5a', :a, 'hook_received', 'h1', '{"payload":null}', 7);
SELECT workflow.create_event('tap_dk5a', :b, 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w2","input":null,"attributes":{"team":"b"}}', 7);
SELECT workflow.create_event('tap_dk5a', :b, 'run_started', NULL, NULL, 7);
SELECT workflow.create_event('tap_dk5a', :b, 'hook_created', 'h2', '{"token":"tap-dk5a-h1"}', 7);
SELECT workflow.create_event('tap_dk5a', :c, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w1","input":null}', 3);
SELECT workflow.create_event('tap_dk5a', :c, 'run_started', NULL, NULL, 3);
SELECT workflow.create_event('tap_dk5a', :c, 'run_completed', NULL, '{"output":null}', 3);

-- runs
SELECT is(workflow.analytics_runs('tap_dk5a', jsonb_build_object('id', :a)) - 'createdAt' - 'updatedAt' - 'startedAt',
          jsonb_build_object('runId', :a, 'status', 'running', 'deploymentId', 'd', 'workflowName', 'w1', 'specVersion', 7,
                             'attributes', '{"team":"a","tier":"gold"}'::jsonb, 'completedAt', NULL, 'errorCode', NULL),
          'runs.get: the metadata row, attributes included, no payload');
SELECT throws_ok($$SELECT workflow.analytics_runs('tap_dk5a', '{"id":"wrun_01ARZ3NDEKTSV4RRFFQ69G5A09"}')$$, 'PW404', NULL,
                 'runs.get: another app''s run is 404');
SELECT workflow.analytics_runs('tap_dk5a', '{}') AS all_runs \gset
SELECT is(jsonb_path_query_array(:'all_runs'::jsonb, '$.data[*].runId'), jsonb_build_array(:c, :b, :a),
          'runs.list: the app''s runs, newest first');
SELECT is((:'all_runs'::jsonb -> 'pageInfo') ->> 'upgradeAvailable', 'false', 'runs.list: pageInfo, no upgrade to sell');
SELECT ok((:'all_runs'::jsonb -> 'pageInfo') ?& ARRAY['currentLookbackDays', 'maxLookbackDays', 'currentWindowStart', 'maxWindowStart'],
          'runs.list: pageInfo has the window members');
SELECT is(jsonb_path_query_array(workflow.analytics_runs('tap_dk5a', '{"attributes":{"team":"a"}}'), '$.data[*].runId'),
          jsonb_build_array(:a), 'runs.list: attribute filter');
SELECT is(jsonb_path_query_array(workflow.analytics_runs('tap_dk5a', '{"workflowName":"w1","status":"completed"}'), '$.data[*].runId'),
          jsonb_build_array(:c), 'runs.list: workflowName and status filters');
SELECT workflow.analytics_runs('tap_dk5a', '{"limit":2,"sortOrder":"asc"}') AS p1 \gset
SELECT is(jsonb_path_query_array(:'p1'::jsonb, '$.data[*].runId'), jsonb_build_array(:a, :b), 'runs.list: a page of 2');
SELECT is((:'p1'::jsonb ->> 'hasMore')::boolean, true, 'runs.list: hasMore');
SELECT is(jsonb_path_query_array(workflow.analytics_runs('tap_dk5a',
            jsonb_build_object('limit', 2, 'sortOrder', 'asc', 'cursor', :'p1'::jsonb ->> 'cursor')), '$.data[*].runId'),
          jsonb_build_array(:c), 'runs.list: the cursor continues');
SELECT is(jsonb_array_length(workflow.analytics_runs('tap_dk5a',
            jsonb_build_object('startTime', '2000-01-01T00:00:00Z', 'endTime', '2000-01-02T00:00:00Z')) -> 'data'), 0,
          'runs.list: a window before every run is empty');
SELECT is(workflow.analytics_runs('tap_dk5a', jsonb_build_object('startTime', '2000-01-01T00:00:00Z',
            'endTime', '2999-01-02T00:00:00Z')) #>> '{pageInfo,currentWindowStart}', '2000-01-01T00:00:00.000Z',
          'runs.list: pageInfo names the window asked for');
SELECT throws_ok($$SELECT workflow.analytics_runs('tap_dk5a', '{"startTime":"2000-01-01T00:00:00Z"}')$$, 'PW400', NULL,
                 'runs.list: startTime without endTime is 400');
SELECT throws_ok($$SELECT workflow.analytics_runs('tap_dk5a', '{"limit":101}')$$, 'PW400', NULL, 'runs.list: limit <= 100');
SELECT throws_ok($$SELECT workflow.analytics_runs('tap_dk5a', '{"attributes":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1"}}')$$,
                 'PW400', NULL, 'runs.list: at most 8 attribute filters');
SELECT throws_ok($$SELECT workflow.analytics_runs('tap_dk5a', '{"cursor":"nope"}')$$, 'PW400', NULL, 'runs.list: a bad cursor is 400');

-- attributes
SELECT is(jsonb_path_query_array(workflow.analytics_attributes('tap_dk5a', '{}'), '$.data[*] ? (@.key == "team").runCount'),
          '[2]'::jsonb, 'attributes.list: runs per key, this app only');
SELECT is(jsonb_path_query_array(workflow.analytics_attributes('tap_dk5a', '{}'), '$.data[*].key'), '["team", "tier"]'::jsonb,
          'attributes.list: by key');
SELECT is(jsonb_path_query_array(workflow.analytics_attributes('tap_dk5a', '{"limit":1,"cursor":"team"}'), '$.data[*].key'),
          '["tier"]'::jsonb, 'attributes.list: the cursor is the last key');

-- steps, events, hooks, waits
SELECT is(workflow.analytics_steps('tap_dk5a', :a, '{"id":"s1"}') ->> 'stepName', 'charge', 'steps.get');
SELECT is(jsonb_array_length(workflow.analytics_steps('tap_dk5a', :a, '{}') -> 'data'), 1, 'steps.list');
SELECT throws_ok(format('SELECT workflow.analytics_steps(%L, %L, %L)', 'tap_dk5a', :a, '{"id":"nope"}'), 'PW404', NULL,
                 'steps.get: unknown is 404');
SELECT is(jsonb_path_query_array(workflow.analytics_events('tap_dk5a', :a, '{}'), '$.data[*].eventType'),
          '["run_created", "run_started", "step_created", "step_started", "wait_created", "hook_created", "hook_received"]'::jsonb,
          'events.list: the run''s log in order');
SELECT is(workflow.analytics_events('tap_dk5a', :a, '{"id":"evnt_00000000000000000000000003"}') ->> 'stepName', 'charge',
          'events.get: metadata with the step''s name, no eventData');
SELECT is(jsonb_array_length(workflow.analytics_events('tap_dk5a', :a,
            '{"ids":["evnt_00000000000000000000000001","evnt_00000000000000000000000001","evnt_00000000000000000000000099"]}')),
          1, 'events.getMany: repeats once, missing ones left out');
SELECT is(jsonb_path_query_array(workflow.analytics_events('tap_dk5a', :a, '{"correlationId":"s1","eventType":"step_started"}'),
            '$.data[*].eventId'), '["evnt_00000000000000000000000004"]'::jsonb, 'events.list: filters');
SELECT is(workflow.analytics_hooks('tap_dk5a', '{"id":"h1"}') ->> 'status', 'received', 'hooks.get: received after hook_received');
SELECT ok(NOT (workflow.analytics_hooks('tap_dk5a', '{"id":"h1"}') ? 'token'), 'hooks.get: never the token');
SELECT is(workflow.analytics_hooks('tap_dk5a', jsonb_build_object('runId', :b)) #>> '{data,0,status}', 'conflict',
          'hooks.list: a hook_created that lost its token is a conflict');
SELECT throws_ok($$SELECT workflow.analytics_hooks('tap_dk5a', '{}')$$, 'PW400', NULL, 'hooks.list needs a runId');
SELECT is(jsonb_path_query_array(workflow.analytics_waits('tap_dk5a', :a, '{"status":"waiting"}'), '$.data[*].waitId'),
          '["w1"]'::jsonb, 'waits.list with a status');

SELECT is(workflow.page_info('tap_dk5a') - 'currentLookbackDays' - 'maxLookbackDays',
          jsonb_build_object('currentWindowStart', (SELECT workflow.iso(min(created_at)) FROM workflow.runs WHERE app_id = 'tap_dk5a'),
                             'maxWindowStart', (SELECT workflow.iso(min(created_at)) FROM workflow.runs WHERE app_id = 'tap_dk5a'),
                             'upgradeAvailable', false),
          'page_info: the window of what the app has stored');

SELECT * FROM finish();
ROLLBACK;
