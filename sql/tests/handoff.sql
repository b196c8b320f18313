-- pgTAP: a message queued by a request is claimed in the request's own
-- transaction for the serving replica's dispatcher session (change handoff),
-- or left queued — and then notified — when it cannot be.
BEGIN;
SELECT plan(26);

SELECT workflow.ensure_app('ho');
SELECT workflow.ensure_app('ho_other');
SELECT set_config('workflow.app_id', 'ho', true);  -- API functions act for the request's app only
SELECT workflow.register_handler('ho', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
-- A session row as a dispatcher opens it (the lock does not matter to a handoff).
CREATE FUNCTION pg_temp.session(name text) RETURNS integer
LANGUAGE sql AS $$
  INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES (name, 0, clock_timestamp())
  RETURNING session_id $$;
CREATE TEMP TABLE s (label text PRIMARY KEY, id integer);
INSERT INTO s VALUES ('live', pg_temp.session('live:1')), ('lost', pg_temp.session('lost:1'));
UPDATE workflow.dispatcher_sessions SET lost_at = clock_timestamp() WHERE session_id = (SELECT id FROM s WHERE label = 'lost');

-- enq(queue, message, session, key, delay): enqueue_handoff's (result, delivery)
CREATE FUNCTION pg_temp.enq(q text, m jsonb, session integer, k text DEFAULT NULL, d numeric DEFAULT NULL,
                            version text DEFAULT 'v1')
RETURNS TABLE (result jsonb, delivery jsonb) LANGUAGE sql AS $$
  SELECT h.result, h.delivery FROM workflow.enqueue_handoff('ho', q, m, version, k, d, session, 300, 60) h $$;
CREATE FUNCTION pg_temp.msg(id text) RETURNS workflow.messages
LANGUAGE sql AS $$ SELECT * FROM workflow.messages WHERE app_id = 'ho' AND message_id = id $$;
CREATE FUNCTION pg_temp.live() RETURNS integer LANGUAGE sql AS $$ SELECT id FROM s WHERE label = 'live' $$;

-- A step message is claimed for the session and comes back as a delivery.
CREATE TEMP TABLE a AS SELECT * FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_a","stepId":"s1"}', pg_temp.live());
SELECT is((SELECT delivery ->> 'messageId' FROM a), (SELECT result ->> 'messageId' FROM a), 'the queued message is handed off');
SELECT is((SELECT (m).status FROM (SELECT pg_temp.msg(result ->> 'messageId') m FROM a) x), 'claimed', 'claimed at once');
SELECT is((SELECT (m).claimed_by FROM (SELECT pg_temp.msg(result ->> 'messageId') m FROM a) x), pg_temp.live(),
          'for the given dispatcher session');
SELECT is((SELECT (m).attempt FROM (SELECT pg_temp.msg(result ->> 'messageId') m FROM a) x), 1, 'as its first attempt');
SELECT ok((SELECT (m).lease_until > clock_timestamp() + interval '250 seconds'
             FROM (SELECT pg_temp.msg(result ->> 'messageId') m FROM a) x), 'with the full lease');
SELECT is((SELECT delivery - 'dueAt' - 'seq' FROM a),
          jsonb_build_object('attempt', 1, 'messageId', (SELECT result ->> 'messageId' FROM a), 'queueName', '__wkf_step_s',
                             'appId', 'ho', 'podId', 'pod', 'url', 'http://127.0.0.1:9/step',
                             'body', '{"stepId": "s1", "workflowRunId": "wrun_a"}', 'sourceAddress', NULL),
          'the delivery is a claim as claim_messages returns it');
SELECT is((SELECT result FROM a), jsonb_build_object('messageId', (SELECT result ->> 'messageId' FROM a), 'created', true),
          'the answer is enqueue''s');
SELECT is(current_setting('workflow.hold_notify', true), '', 'notifications are not held after the call');

-- Left to the dispatchers: no session, a lost session, a delay, no handler of the version.
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status)
             FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_b"}', NULL)), (true, 'queued'::text),
          'no session: queued as by enqueue');
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status)
             FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_c"}', (SELECT id FROM s WHERE label = 'lost'))),
          (true, 'queued'::text), 'a lost session claims nothing');
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status)
             FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_d"}', -1)), (true, 'queued'::text),
          'nor does an unknown one');
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status)
             FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_e"}', pg_temp.live(), NULL, 60)), (true, 'queued'::text),
          'a delayed message waits for its time');
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status)
             FROM pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_f"}', pg_temp.live(), NULL, NULL, 'v9')),
          (true, 'held'::text), 'a version without handlers holds it, as a claim would');

-- A run has one workflow message in flight at a time.
CREATE TEMP TABLE w1 AS SELECT * FROM pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_w"}', pg_temp.live(), 'w-1');
SELECT isnt((SELECT delivery FROM w1), NULL, 'a run''s first workflow message is handed off');
CREATE TEMP TABLE w2 AS SELECT * FROM pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_w"}', pg_temp.live(), 'w-2');
SELECT is((SELECT (delivery IS NULL, (pg_temp.msg(result ->> 'messageId')).status) FROM w2), (true, 'queued'::text),
          'a second one waits while the first is in flight');
SELECT is((SELECT delivery FROM pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_w"}', pg_temp.live(), 'w-1')), NULL,
          'a repeated idempotency key hands off nothing');

-- create_event_handoff: the event's message is handed off.
SELECT workflow.create_event('ho', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5H00', 'run_created', NULL,
                             '{"deploymentId":"v1","workflowName":"w","input":null}', 3, 'all');
SELECT workflow.create_event('ho', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5H00', 'run_started', NULL, NULL, 3, 'all');
CREATE TEMP TABLE e AS SELECT h.* FROM workflow.create_event_handoff('ho', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5H00', 'step_created', 's1',
  '{"stepName":"add"}', 3, 'all', NULL,
  '{"queueName":"__wkf_step_add","deploymentId":"v1","idempotencyKey":"s1","message":{"workflowRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5H00","stepId":"s1"}}',
  pg_temp.live(), 300, 60) h;
SELECT is((SELECT result::jsonb #>> '{step,status}' FROM e), 'pending', 'the answer is create_event''s');
SELECT is((SELECT delivery ->> 'messageId' FROM e), (SELECT result::jsonb #>> '{queued,messageId}' FROM e),
          'and its message is handed off');
SELECT is((SELECT (pg_temp.msg(delivery ->> 'messageId')).claimed_by FROM e), pg_temp.live(), 'claimed for the session');
CREATE TEMP TABLE e2 AS SELECT h.* FROM workflow.create_event_handoff('ho', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5H00', 'step_started', 's1',
  NULL, 3, 'all', NULL, NULL, pg_temp.live(), 300, 60) h;
SELECT is((SELECT (result::jsonb #>> '{step,status}', delivery) FROM e2), ('running'::text, NULL::jsonb),
          'an event without a message hands off nothing');
SELECT is(current_setting('workflow.hold_notify', true), '', 'notifications are not held after an event');
SELECT throws_ok($$SELECT workflow.create_event_handoff('ho', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5H00', 'step_created', 's1',
  '{"stepName":"add"}', 3, 'all', NULL,
  '{"queueName":"__wkf_step_add","idempotencyKey":"s1","message":{"workflowRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5H00","stepId":"s1"}}',
  NULL, 300, 60)$$, 'PW409', NULL, 'a refused event is refused as by create_event');

-- The request's app only; the helper is not for tenants.
SELECT throws_ok($$SELECT * FROM workflow.enqueue_handoff('ho_other', '__wkf_step_s', '{}', 'v1', NULL, NULL, NULL, 300, 60)$$,
                 'PW403', NULL, 'enqueue_handoff refuses another app');
SELECT throws_ok($$SELECT * FROM workflow.create_event_handoff('ho_other', 'wrun_x', 'run_started', NULL, NULL, 3, 'all', NULL,
                                                                NULL, NULL, 300, 60)$$,
                 'PW403', NULL, 'create_event_handoff refuses another app');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.handoff_message(text, text, integer, numeric, numeric)', 'EXECUTE'),
          'tenants cannot call handoff_message');
SELECT ok(has_function_privilege('pgw_tenant',
            'workflow.enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric)', 'EXECUTE'),
          'tenants call enqueue_handoff');

SELECT * FROM finish();
ROLLBACK;
