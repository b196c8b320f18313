-- pgTAP: timeoutSeconds answers have a floor, count as attempts and are
-- charged against the app's enqueue rate (change redelivery_floor).
BEGIN;
SELECT plan(8);

SELECT workflow.ensure_app('rf');
SELECT set_config('workflow.app_id', 'rf', true);
SELECT workflow.register_handler('rf', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('rf:1', 0, clock_timestamp());
CREATE FUNCTION pg_temp.claim() RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions), 100, 300, 60, 100,
                                 4194304, 1048576) -> 'deliveries' $$;
CREATE FUNCTION pg_temp.answer(seconds numeric, floor_seconds numeric DEFAULT 0.5) RETURNS integer LANGUAGE sql AS $$
  SELECT workflow.ack_messages(jsonb_agg(jsonb_build_object('seq', d -> 'seq', 'attempt', d -> 'attempt',
                                 'podId', d -> 'podId', 'outcome', 'timeout', 'timeoutSeconds', seconds)),
                               50, 1, 300, 5, 60, 3600, floor_seconds)
    FROM jsonb_array_elements(pg_temp.claim()) d $$;

SELECT workflow.enqueue('rf', '__wkf_step_s', '{"workflowRunId":"r1"}', 'v1');
SELECT is(pg_temp.answer(0), 1, 'a timeoutSeconds 0 answer settles');
SELECT ok((SELECT due_at = updated_at + interval '0.5 s' FROM workflow.messages WHERE app_id = 'rf'),
          'but the message is due again only after the floor');
SELECT is((SELECT attempt FROM workflow.messages WHERE app_id = 'rf'), 1, 'the delivery counted as an attempt');
SELECT is((SELECT sum(enqueued) FROM workflow.queue_rate WHERE app_id = 'rf' AND slot >= 100), 1::bigint,
          'and against the app''s rate, in a dispatcher slot');
UPDATE workflow.messages SET due_at = clock_timestamp() WHERE app_id = 'rf';
SELECT is(pg_temp.answer(2), 1, 'a longer answer');
SELECT ok((SELECT due_at = updated_at + interval '2 s'
             FROM workflow.messages WHERE app_id = 'rf'), 'keeps its own delay');

-- Over the rate: delayed to the next minute, not lost.
UPDATE workflow.apps SET max_queue_per_minute = 2 WHERE app_id = 'rf';
UPDATE workflow.messages SET due_at = clock_timestamp() WHERE app_id = 'rf';
SELECT pg_temp.answer(0);
SELECT is((SELECT status || ' ' || (due_at = date_trunc('minute', updated_at) + interval '1 minute')
             FROM workflow.messages WHERE app_id = 'rf'), 'queued true',
          'over maxQueuePerMinute the redelivery waits for the next minute');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.charge_redeliveries(text, integer, timestamptz)', 'EXECUTE'),
          'tenants cannot call charge_redeliveries');

SELECT * FROM finish();
ROLLBACK;
