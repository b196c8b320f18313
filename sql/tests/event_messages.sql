-- pgTAP: events that carry the queue message they make necessary
-- (workflow.create_event's nine-argument form, change event_messages).
BEGIN;
SELECT set_config('workflow.app_id', 'tap_evmsg', false);
SELECT plan(22);
SELECT workflow.ensure_app('tap_evmsg');

-- ev(run, type, correlation, data, enqueue)
CREATE FUNCTION pg_temp.ev(r text, t text, c text, d jsonb, q jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_evmsg', r, t, c, d, 3, 'all', NULL, q)::jsonb $$;
CREATE FUNCTION pg_temp.ev_sql(r text, t text, c text, d jsonb, q jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.ev(%L, %L, %L, %L, %L)', r, t, c, d, q) $$;
CREATE FUNCTION pg_temp.messages(r text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM workflow.messages WHERE app_id = 'tap_evmsg' AND run_id = r $$;
CREATE FUNCTION pg_temp.step_msg(r text, s text) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('queueName', '__wkf_step_add', 'deploymentId', 'dep1', 'idempotencyKey', s,
           'message', jsonb_build_object('workflowName', 'w', 'workflowRunId', r, 'workflowStartedAt', 1,
                                         'stepId', s, 'traceCarrier', '{}'::jsonb, 'requestedAt', '2026-01-01T00:00:00.000Z'))
$$;
CREATE FUNCTION pg_temp.wake(r text) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('queueName', '__wkf_workflow_w', 'deploymentId', 'dep1',
           'message', jsonb_build_object('runId', r, 'traceCarrier', '{}'::jsonb, 'requestedAt', '2026-01-01T00:00:00.000Z'))
$$;

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5G01'''
SELECT pg_temp.ev(:run, 'run_created', NULL, '{"deploymentId":"dep1","workflowName":"w","input":null}', NULL);
SELECT pg_temp.ev(:run, 'run_started', NULL, NULL, NULL);

-- Without a message the answer is the eight-argument one.
SELECT is(pg_temp.ev(:run, 'wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}', NULL) ? 'queued', false,
          'no enqueue: no queued member');

-- step_created with its step message: both in one transaction.
SELECT ok(pg_temp.ev(:run, 'step_created', 's1', '{"stepName":"add"}', pg_temp.step_msg(:run, 's1')) #>> '{queued,messageId}' LIKE 'msg_%',
          'step_created answers the messageId of the step message');
SELECT is((SELECT payload FROM workflow.messages WHERE app_id = 'tap_evmsg' AND idempotency_key = 's1'),
          pg_temp.step_msg(:run, 's1') -> 'message', 'the message body is stored as sent');
SELECT is((SELECT (queue_name, kind, deployment_id) FROM workflow.messages WHERE app_id = 'tap_evmsg' AND idempotency_key = 's1'),
          ROW('__wkf_step_add'::text, 'step'::text, 'dep1'::text), 'queue, kind and deployment as sent');
-- The runtime's own queue() with the same idempotency key finds it: nothing doubled.
SELECT is(workflow.enqueue('tap_evmsg', '__wkf_step_add', pg_temp.step_msg(:run, 's1') -> 'message', 'dep1', 's1'),
          jsonb_build_object('messageId', (SELECT message_id FROM workflow.messages WHERE app_id = 'tap_evmsg' AND idempotency_key = 's1'),
                             'created', false),
          'a later enqueue with the same key answers the same message');

-- A refused event queues nothing.
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's1', '{"stepName":"add"}', pg_temp.step_msg(:run, 's1')),
                 'PW409', NULL, 'a duplicate step_created is refused (409)');
SELECT is(pg_temp.messages(:run), 1::bigint, 'and queued nothing');

-- The step message must be that step's own.
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's2', '{"stepName":"add"}', pg_temp.step_msg(:run, 's1')),
                 'PW400', NULL, 'another step''s message is refused');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's2', '{"stepName":"add"}', pg_temp.step_msg(:run, 's2') - 'idempotencyKey'),
                 'PW400', NULL, 'a step message without its idempotency key is refused');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's2', '{"stepName":"add"}', pg_temp.wake(:run)),
                 'PW400', NULL, 'a wake-up with step_created is refused');
SELECT is((SELECT count(*) FROM workflow.steps WHERE app_id = 'tap_evmsg' AND run_id = :run AND step_id = 's2'), 0::bigint,
          'the refused event was not created');

-- step_completed with the run's wake-up.
SELECT pg_temp.ev(:run, 'step_started', 's1', NULL, NULL);
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_completed', 's1', '{"result":1}', pg_temp.wake('wrun_01ARZ3NDEKTSV4RRFFQ69G5G99')),
                 'PW400', NULL, 'another run''s wake-up is refused');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_completed', 's1', '{"result":1}', pg_temp.wake(:run) || '{"idempotencyKey":"k"}'),
                 'PW400', NULL, 'a wake-up with an idempotency key is refused');
SELECT ok(pg_temp.ev(:run, 'step_completed', 's1', '{"result":1}', pg_temp.wake(:run)) #>> '{queued,messageId}' LIKE 'msg_%',
          'step_completed answers the wake-up''s messageId');
SELECT is((SELECT payload FROM workflow.messages WHERE app_id = 'tap_evmsg' AND run_id = :run AND kind = 'workflow'),
          pg_temp.wake(:run) -> 'message', 'the wake-up is stored as sent');
-- The queue's per-run coalescing still applies to wake-ups that ride on events.
SELECT pg_temp.ev(:run, 'step_created', 's3', '{"stepName":"add"}', NULL);
SELECT pg_temp.ev(:run, 'step_started', 's3', NULL, NULL);
SELECT is(pg_temp.ev(:run, 'step_failed', 's3', '{"error":"x"}', pg_temp.wake(:run)) #>> '{queued,created}', 'false',
          'a second wake-up merges into the pending one');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'tap_evmsg' AND run_id = :run AND kind = 'workflow'), 1::bigint,
          'one pending wake-up for the run');

-- Events that make no message cannot carry one.
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'w2', '{"resumeAt":"2999-01-01T00:00:00Z"}', pg_temp.wake(:run)),
                 'PW400', NULL, 'wait_created with a message is refused');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's4', '{"stepName":"add"}', '"x"'),
                 'PW400', NULL, 'enqueue must be an object');

-- Over the queue quota the event stands and carries no message.
UPDATE workflow.apps SET max_queue_per_minute = 1 WHERE app_id = 'tap_evmsg';
SELECT is(pg_temp.ev(:run, 'step_created', 's5', '{"stepName":"add"}', pg_temp.step_msg(:run, 's5')) ? 'queued', false,
          'over maxQueuePerMinute: the event is created without queued');

-- A tenant executes it; the wrapper is scoped to the request's app.
UPDATE workflow.apps SET max_queue_per_minute = 100000 WHERE app_id = 'tap_evmsg';
SELECT workflow.ensure_app('tap_evmsg_other');
SELECT pg_temp.step_msg(:run, 's6') AS msg6 \gset
SET LOCAL ROLE pgw_tenant;
SELECT ok(workflow.create_event('tap_evmsg', :run, 'step_created', 's6', '{"stepName":"add"}', 3, 'all', NULL, :'msg6')::jsonb
          #>> '{queued,messageId}' LIKE 'msg_%', 'pgw_tenant creates an event with its message');
SELECT throws_ok(format('SELECT workflow.create_event(%L, %L, %L, %L, NULL, 3, %L, NULL, %L)', 'tap_evmsg_other', :run,
                        'step_created', 's7', 'all', :'msg6'),
                 'PW403', NULL, 'another app''s id is refused (403)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
