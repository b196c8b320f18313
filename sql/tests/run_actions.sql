-- pgTAP: run actions (SPEC section 5) — cancel, replay, wake-up, workflow template.
BEGIN;
SELECT plan(63);

SELECT workflow.ensure_app('ra'), workflow.ensure_app('rb');
-- API functions act for the request's app only: the tests act for 'ra'.
SELECT set_config('workflow.app_id', 'ra', false);
-- ev(run, type, correlation, data): create_event for app 'ra', spec 3.
CREATE FUNCTION pg_temp.ev(r text, t text, c text DEFAULT NULL, d jsonb DEFAULT NULL, app text DEFAULT 'ra') RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event(app, r, t, c, d, 3)::jsonb $$;
-- new_run(name, deployment): a started run of app 'ra'; its id.
CREATE FUNCTION pg_temp.new_run(wf text DEFAULT 'workflow//./src/w//order', dep text DEFAULT 'dep1', app text DEFAULT 'ra')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  id text;
BEGIN
  id := pg_temp.ev(NULL, 'run_created', NULL, jsonb_build_object(
          'deploymentId', dep, 'workflowName', wf, 'input', '{"__type":"Uint8Array","data":"ZGV2bAABAg=="}'::jsonb,
          'executionContext', '{"traceCarrier":{"traceparent":"00-ab-cd-01"},"workflowCoreVersion":"4.8.9"}'::jsonb),
          app => app) #>> '{run,runId}';
  PERFORM pg_temp.ev(id, 'run_started', app => app);
  RETURN id;
END $$;
CREATE FUNCTION pg_temp.types(r text) RETURNS text[]
LANGUAGE sql AS $$ SELECT array_agg(event_type ORDER BY run_ordinal) FROM workflow.events WHERE run_id = r $$;
CREATE FUNCTION pg_temp.msg(id text) RETURNS workflow.messages
LANGUAGE sql AS $$ SELECT * FROM workflow.messages WHERE message_id = id $$;
-- active(app): the app's active-runs counter (quota maxRuns) and, to compare, its pending and running runs.
CREATE FUNCTION pg_temp.active(app text DEFAULT 'ra') RETURNS integer
LANGUAGE sql AS $$ SELECT active_runs FROM workflow.app_usage WHERE app_id = app $$;
CREATE FUNCTION pg_temp.counted(app text DEFAULT 'ra') RETURNS integer
LANGUAGE sql AS $$ SELECT count(*)::integer FROM workflow.runs WHERE app_id = app AND status IN ('pending', 'running') $$;
CREATE FUNCTION pg_temp.enq(queue text, message jsonb, delay numeric DEFAULT NULL, app text DEFAULT 'ra') RETURNS text
LANGUAGE sql AS $$ SELECT workflow.enqueue(app, queue, message, 'dep1', NULL, delay) ->> 'messageId' $$;

-- ---------------------------------------------------------------- cancel
SELECT throws_ok($$ SELECT workflow.cancel_run('ra', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW404', NULL,
                 'cancel: an unknown run is 404');
SELECT pg_temp.new_run() AS run \gset c_
SELECT pg_temp.new_run() AS run \gset other_
SELECT pg_temp.ev(:'c_run', 'hook_created', 'hook_1', '{"token":"tok-cancel"}');
SELECT pg_temp.ev(:'c_run', 'wait_created', 'wait_1', jsonb_build_object('resumeAt', workflow.iso(now() + interval '1 hour')));
SELECT pg_temp.enq('__wkf_workflow_order', jsonb_build_object('runId', :'c_run'), 3600) AS flow \gset c_
SELECT pg_temp.enq('__wkf_step_charge', jsonb_build_object('workflowRunId', :'c_run', 'stepId', 's1')) AS held \gset c_
SELECT pg_temp.enq('__wkf_step_charge', jsonb_build_object('workflowRunId', :'c_run', 'stepId', 's2')) AS claimed \gset c_
SELECT pg_temp.enq('__wkf_step_charge', jsonb_build_object('workflowRunId', :'other_run', 'stepId', 's1')) AS step \gset other_
UPDATE workflow.messages SET status = 'held' WHERE message_id = :'c_held';
UPDATE workflow.messages SET status = 'claimed', lease_until = now() + interval '1 minute', pod_id = 'pod-1', attempt = 1
 WHERE message_id = :'c_claimed';

SELECT pg_temp.active() AS before \gset c_
SELECT is(workflow.cancel_run('ra', :'c_run') ->> 'status', 'cancelled', 'cancel answers the run, cancelled');
SELECT is(pg_temp.active(), :c_before - 1, 'cancel counts the run out of the app''s active runs (maxRuns)');
SELECT is(pg_temp.active(), pg_temp.counted(), 'the counter equals the app''s pending and running runs after a cancel');
SELECT is((pg_temp.types(:'c_run'))[array_length(pg_temp.types(:'c_run'), 1)], 'run_cancelled', 'cancel appends run_cancelled');
SELECT ok((SELECT completed_at IS NOT NULL FROM workflow.runs WHERE run_id = :'c_run'), 'the cancelled run has completedAt');
SELECT is((SELECT disposed_at IS NOT NULL FROM workflow.hooks WHERE run_id = :'c_run'), true, 'cancel disposes the run''s hooks');
SELECT is((SELECT status FROM workflow.waits WHERE run_id = :'c_run'), 'completed', 'cancel completes the run''s waits');
SELECT is((pg_temp.msg(:'c_flow')).status, 'dead', 'cancel dead-letters the queued workflow message');
SELECT is((pg_temp.msg(:'c_held')).status, 'dead', 'cancel dead-letters the held step message');
SELECT is((pg_temp.msg(:'c_flow')).last_error, 'run cancelled', 'the dead letter says why');
SELECT is((pg_temp.msg(:'c_claimed')).status, 'claimed', 'a delivery in flight is left to finish');
SELECT is((pg_temp.msg(:'other_step')).status, 'queued', 'another run''s messages are untouched');
SELECT throws_ok(format('SELECT workflow.cancel_run(%L, %L)', 'ra', :'c_run'), 'PW409', NULL,
                 'cancel: a cancelled run is 409');
SELECT is(pg_temp.active(), pg_temp.counted(), 'a refused cancel leaves the counter alone');
SELECT pg_temp.ev(:'other_run', 'run_completed', NULL, '{"output":1}');
SELECT throws_ok(format('SELECT workflow.cancel_run(%L, %L)', 'ra', :'other_run'), 'PW409', NULL,
                 'cancel: a completed run is 409');
SELECT is(workflow.cancel_run('ra', pg_temp.new_run(), 'none') -> 'input', NULL, 'resolveData none leaves the input out');

-- ---------------------------------------------------------------- replay
SELECT throws_ok($$ SELECT workflow.replay_run('ra', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW404', NULL,
                 'replay: an unknown run is 404');
SELECT pg_temp.active() AS before \gset r_
SELECT workflow.replay_run('ra', :'c_run') ->> 'runId' AS run \gset r_
SELECT is(pg_temp.active(), :r_before + 1, 'replay counts the new run (pending) among the app''s active runs');
SELECT is(pg_temp.active(), pg_temp.counted(), 'the counter equals the app''s pending and running runs after a replay');
SELECT ok(:'r_run' ~ '^wrun_[0-9A-HJKMNP-TV-Z]{26}$' AND :'r_run' <> :'c_run', 'replay makes a new wrun_ ULID');
SELECT is((SELECT (status, workflow_name, deployment_id, input, execution_context, spec_version)::text
             FROM workflow.runs WHERE run_id = :'r_run'),
          (SELECT ('pending', workflow_name, deployment_id, input, execution_context, spec_version)::text
             FROM workflow.runs WHERE run_id = :'c_run'),
          'the new run has the workflowName, deploymentId, input, executionContext and specVersion of the old');
SELECT is(pg_temp.types(:'r_run'), ARRAY['run_created'], 'the new run starts with run_created');
SELECT is((SELECT count(*) FROM workflow.messages WHERE run_id = :'r_run'), 1::bigint, 'replay queues one message');
SELECT is((SELECT (queue_name, kind, deployment_id, status)::text FROM workflow.messages WHERE run_id = :'r_run'),
          '(__wkf_workflow_order,workflow,dep1,queued)',
          'on the run''s workflow queue, routed to the original deployment');
SELECT is((SELECT payload FROM workflow.messages WHERE run_id = :'r_run'),
          jsonb_build_object('runId', :'r_run', 'traceCarrier', '{"traceparent":"00-ab-cd-01"}'::jsonb,
            'runInput', jsonb_build_object(
              'input', '{"__type":"Uint8Array","data":"ZGV2bAABAg=="}'::jsonb, 'deploymentId', 'dep1',
              'workflowName', 'workflow//./src/w//order', 'specVersion', 3,
              'executionContext', '{"traceCarrier":{"traceparent":"00-ab-cd-01"},"workflowCoreVersion":"4.8.9"}'::jsonb)),
          'the message is the one start() sends: runId, traceCarrier, runInput');
SELECT pg_temp.new_run() AS run \gset fresh_
SELECT workflow.replay_run('ra', :'fresh_run') ->> 'runId' AS run \gset r2_
SELECT is((SELECT queue_name FROM workflow.messages WHERE run_id = :'r2_run'),
          '__wkf_workflow_workflow//./src/w//order', 'without an earlier message: __wkf_workflow_<workflowName>');
UPDATE workflow.runs SET spec_version = 2 WHERE run_id = :'fresh_run';
SELECT workflow.replay_run('ra', :'fresh_run') ->> 'runId' AS run \gset r3_
SELECT is((SELECT payload FROM workflow.messages WHERE run_id = :'r3_run'),
          jsonb_build_object('runId', :'r3_run', 'traceCarrier', '{"traceparent":"00-ab-cd-01"}'::jsonb),
          'a spec-2 run''s message carries no runInput');
UPDATE workflow.apps SET max_runs = (SELECT count(*) FROM workflow.runs WHERE app_id = 'ra' AND status IN ('pending', 'running'))
 WHERE app_id = 'ra';
SELECT throws_ok(format('SELECT workflow.replay_run(%L, %L)', 'ra', :'c_run'), 'PW429', NULL, 'replay obeys maxRuns');
SELECT is(pg_temp.active(), pg_temp.counted(), 'a replay refused by maxRuns leaves the counter alone');
UPDATE workflow.apps SET max_runs = 1000 WHERE app_id = 'ra';

-- ---------------------------------------------------------------- wake-up
SELECT throws_ok($$ SELECT workflow.wake_up_run('ra', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW404', NULL,
                 'wake-up: an unknown run is 404');
SELECT pg_temp.new_run() AS run \gset w_
SELECT pg_temp.ev(:'w_run', 'wait_created', 'wait_a', '{"resumeAt":"2099-01-01T00:00:00.000Z"}');
SELECT pg_temp.ev(:'w_run', 'wait_created', 'wait_b', '{"resumeAt":"2099-06-01T00:00:00.000Z"}');
SELECT pg_temp.ev(:'w_run', 'wait_created', 'wait_done', '{"resumeAt":"2000-01-01T00:00:00.000Z"}');
SELECT pg_temp.ev(:'w_run', 'wait_completed', 'wait_done');
SELECT pg_temp.enq('__wkf_workflow_order', jsonb_build_object('runId', :'w_run', 'traceCarrier', '{}'::jsonb), 86400) AS msg \gset w_
SELECT is(workflow.wake_up_run('ra', :'w_run'), '{"stoppedCount": 2}'::jsonb, 'wake-up stops the two waiting waits');
SELECT is((SELECT array_agg(correlation_id ORDER BY run_ordinal) FROM workflow.events
            WHERE run_id = :'w_run' AND event_type = 'wait_completed'),
          ARRAY['wait_done', 'wait_a', 'wait_b'], 'one wait_completed event per waiting wait');
SELECT is((SELECT event_data ->> 'resumeAt' FROM workflow.events
            WHERE run_id = :'w_run' AND event_type = 'wait_completed' AND correlation_id = 'wait_b'),
          '2099-06-01T00:00:00.000Z', 'the event carries the wait''s resumeAt, as the DevKit''s wakeUpRun sends');
SELECT is((SELECT count(*) FROM workflow.waits WHERE run_id = :'w_run' AND status = 'waiting'), 0::bigint,
          'no wait is left waiting');
SELECT is((SELECT count(*) FROM workflow.messages WHERE run_id = :'w_run'), 1::bigint,
          'the wake-up merged into the deferred message');
SELECT ok((pg_temp.msg(:'w_msg')).due_at <= clock_timestamp() AND (pg_temp.msg(:'w_msg')).status = 'queued',
          'the deferred workflow message is due now');
SELECT is((pg_temp.msg(:'w_msg')).payload -> 'traceCarrier', '{}'::jsonb, 'and keeps its payload');
SELECT is(workflow.wake_up_run('ra', :'w_run'), '{"stoppedCount": 0}'::jsonb, 'nothing waits any more: stoppedCount 0');
SELECT pg_temp.new_run() AS run \gset w2_
SELECT pg_temp.ev(:'w2_run', 'wait_created', 'w', '{"resumeAt":"2099-01-01T00:00:00.000Z"}');
SELECT pg_temp.enq('__wkf_workflow_order', jsonb_build_object('runId', :'w2_run')) AS msg \gset w2_
UPDATE workflow.messages SET status = 'claimed', lease_until = now() + interval '1 minute', pod_id = 'pod-1', attempt = 1
 WHERE message_id = :'w2_msg';
SELECT is(workflow.wake_up_run('ra', :'w2_run') ->> 'stoppedCount', '1', 'wake-up while a delivery is in flight');
SELECT is((SELECT array_agg(status ORDER BY message_seq) FROM workflow.messages WHERE run_id = :'w2_run'),
          ARRAY['claimed', 'queued'], 'queues a wake-up due now behind the delivery in flight');
SELECT is((SELECT count(*) FROM workflow.messages WHERE run_id = :'w2_run' AND due_at <= clock_timestamp()), 2::bigint,
          'both are due');
SELECT is(workflow.wake_up_run('ra', pg_temp.new_run()), '{"stoppedCount": 0}'::jsonb,
          'a run that never slept: stoppedCount 0');
SELECT is((SELECT count(*) FROM workflow.messages m JOIN workflow.runs r USING (app_id, run_id)
            WHERE r.run_seq = (SELECT max(run_seq) FROM workflow.runs)), 0::bigint, 'and no message is queued');

-- ---------------------------------------------------------------- template
SELECT throws_ok($$ SELECT workflow.get_workflow_template('ra', 'workflow//./src/w//shape') $$, 'PW404',
                 'no completed run of workflow workflow//./src/w//shape', 'template: no completed run is 404');
SELECT pg_temp.new_run('workflow//./src/w//shape') AS run \gset t_
-- prepare, then validate + price in parallel (created together, completed later), then ship after a sleep and a hook
SELECT pg_temp.ev(:'t_run', 'step_created', 'step_1', '{"stepName":"step//prepare"}');
SELECT pg_temp.ev(:'t_run', 'step_started', 'step_1');
SELECT pg_temp.ev(:'t_run', 'step_completed', 'step_1', '{"result":1}');
SELECT pg_temp.ev(:'t_run', 'step_created', 'step_2', '{"stepName":"step//validate"}');
SELECT pg_temp.ev(:'t_run', 'step_created', 'step_3', '{"stepName":"step//price"}');
SELECT pg_temp.ev(:'t_run', 'step_started', 'step_3');
SELECT pg_temp.ev(:'t_run', 'step_completed', 'step_3', '{"result":1}');
SELECT pg_temp.ev(:'t_run', 'step_started', 'step_2');
SELECT pg_temp.ev(:'t_run', 'step_completed', 'step_2', '{"result":1}');
SELECT pg_temp.ev(:'t_run', 'wait_created', 'wait_1', '{"resumeAt":"2000-01-01T00:00:00.000Z"}');
SELECT pg_temp.ev(:'t_run', 'wait_completed', 'wait_1');
SELECT pg_temp.ev(:'t_run', 'step_created', 'step_4', '{"stepName":"step//ship"}');
SELECT pg_temp.ev(:'t_run', 'step_started', 'step_4');
SELECT pg_temp.ev(:'t_run', 'step_completed', 'step_4', '{"result":1}');
SELECT throws_ok(format('SELECT workflow.get_workflow_template(%L, %L)', 'ra', 'workflow//./src/w//shape'), 'PW404', NULL,
                 'template: a running run does not count');
SELECT pg_temp.ev(:'t_run', 'run_completed', NULL, '{"output":1}');
SELECT is(workflow.get_workflow_template('ra', 'workflow//./src/w//shape'),
          jsonb_build_object('steps', '[{"stepName":"step//prepare","order":1},
                                        {"stepName":"step//validate","order":2,"parallelGroup":1},
                                        {"stepName":"step//price","order":2,"parallelGroup":1},
                                        {"stepName":"step//ship","order":3}]'::jsonb,
                             'hasHooks', false, 'hasWaits', true, 'sourceRunId', :'t_run'),
          'template: steps in creation order, overlapping ones share a parallelGroup and an order (change template_order); hasWaits from the events');
SELECT pg_temp.new_run('workflow//./src/w//shape', 'dep2') AS run \gset t2_
SELECT pg_temp.ev(:'t2_run', 'hook_created', 'hook_1', '{"token":"tok-template"}');
SELECT pg_temp.ev(:'t2_run', 'step_created', 'a', '{"stepName":"step//a"}');
SELECT pg_temp.ev(:'t2_run', 'step_created', 'b', '{"stepName":"step//b"}');
SELECT pg_temp.ev(:'t2_run', 'step_created', 'c', '{"stepName":"step//c"}');
SELECT pg_temp.ev(:'t2_run', 'step_started', x) FROM unnest(ARRAY['a', 'b', 'c']) x;
SELECT pg_temp.ev(:'t2_run', 'step_completed', x, '{"result":1}') FROM unnest(ARRAY['a', 'b', 'c']) x;
SELECT pg_temp.ev(:'t2_run', 'step_created', 'd', '{"stepName":"step//d"}');
SELECT pg_temp.ev(:'t2_run', 'step_created', 'e', '{"stepName":"step//e"}');
SELECT pg_temp.ev(:'t2_run', 'step_started', x) FROM unnest(ARRAY['d', 'e']) x;
SELECT pg_temp.ev(:'t2_run', 'step_completed', x, '{"result":1}') FROM unnest(ARRAY['d', 'e']) x;
SELECT pg_temp.ev(:'t2_run', 'run_completed', NULL, '{"output":1}');
SELECT is(workflow.get_workflow_template('ra', 'workflow//./src/w//shape'),
          jsonb_build_object('steps', '[{"stepName":"step//a","order":1,"parallelGroup":1},
                                        {"stepName":"step//b","order":1,"parallelGroup":1},
                                        {"stepName":"step//c","order":1,"parallelGroup":1},
                                        {"stepName":"step//d","order":2,"parallelGroup":2},
                                        {"stepName":"step//e","order":2,"parallelGroup":2}]'::jsonb,
                             'hasHooks', true, 'hasWaits', false, 'sourceRunId', :'t2_run'),
          'the newest completed run is the source; hooks seen in its events (disposed since)');
SELECT is(workflow.get_workflow_template('ra', 'workflow//./src/w//shape', 'dep1') ->> 'sourceRunId', :'t_run',
          'deploymentId picks the newest completed run of that deployment');
SELECT throws_ok(format('SELECT workflow.get_workflow_template(%L, %L, %L)', 'ra', 'workflow//./src/w//shape', 'dep9'),
                 'PW404', NULL, 'template: none in that deployment is 404');
SELECT pg_temp.new_run('workflow//./src/w//empty') AS run \gset e_
SELECT pg_temp.ev(:'e_run', 'run_completed', NULL, '{"output":1}');
SELECT is(workflow.get_workflow_template('ra', 'workflow//./src/w//empty') -> 'steps', '[]'::jsonb,
          'a run without steps: no steps');

-- ---------------------------------------------------------------- tenancy
SELECT set_config('workflow.app_id', 'rb', false);
SELECT pg_temp.new_run(app => 'rb') AS run \gset b_
SELECT set_config('workflow.app_id', 'ra', false);
SELECT pg_temp.new_run() AS run \gset own_
SELECT throws_ok(format('SELECT workflow.%s', x), 'PW403', NULL, format('%s refuses an app other than the request''s', x))
  FROM unnest(ARRAY[format('cancel_run(%L, %L)', 'rb', :'b_run'), format('replay_run(%L, %L)', 'rb', :'b_run'),
                    format('wake_up_run(%L, %L)', 'rb', :'b_run'),
                    format('get_workflow_template(%L, %L)', 'rb', 'workflow//./src/w//order')]) x;
SET LOCAL ROLE pgw_tenant;
SELECT throws_ok(format('SELECT workflow.cancel_run(%L, %L)', 'ra', :'b_run'), 'PW404', NULL,
                 'a tenant cannot cancel another app''s run');
SELECT throws_ok(format('SELECT workflow.replay_run(%L, %L)', 'ra', :'b_run'), 'PW404', NULL,
                 'nor replay it');
SELECT throws_ok(format('SELECT workflow.wake_up_run(%L, %L)', 'ra', :'b_run'), 'PW404', NULL,
                 'nor wake it up');
SELECT is(workflow.cancel_run('ra', :'own_run') ->> 'status', 'cancelled', 'pgw_tenant may run the actions');
SELECT throws_ok(format('SELECT workflow.lock_run_row(%L, %L)', 'ra', :'own_run'), '42501', NULL,
                 'the internal lock_run_row is not executable by pgw_tenant');
SELECT throws_ok('SELECT workflow.workflow_queue_of(r) FROM workflow.runs r LIMIT 1', '42501', NULL,
                 'nor workflow_queue_of');
RESET ROLE;
SELECT is(pg_temp.active('rb'), pg_temp.counted('rb'), 'the other app''s counter is untouched');
SELECT is(pg_temp.active(), pg_temp.counted(), 'and this app''s counter is exact');

SELECT * FROM finish();
ROLLBACK;
