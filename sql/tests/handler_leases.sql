-- pgTAP: registrations are leases (changes handler_leases, claim_fairness).
BEGIN;
SELECT plan(12);

SELECT workflow.ensure_app('hl');
SELECT set_config('workflow.app_id', 'hl', true);
CREATE FUNCTION pg_temp.reg(ttl numeric) RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.register_handler('hl', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step', NULL,
                                   NULL, NULL, ttl) $$;
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('hl:1', 0, clock_timestamp());
CREATE FUNCTION pg_temp.claim() RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions), 100, 300, 60, 100,
                                 4194304, 1048576) -> 'deliveries' $$;

SELECT is(pg_temp.reg(60), '{"registered": true, "ttlSeconds": 60}'::jsonb, 'the answer tells the TTL');
SELECT ok((SELECT expires_at BETWEEN seen_at + interval '59 s' AND seen_at + interval '61 s'
             FROM workflow.handlers WHERE app_id = 'hl'), 'the lease ends TTL seconds after the registration');
UPDATE workflow.handlers SET seen_at = seen_at - interval '30 s', expires_at = expires_at - interval '30 s';
SELECT pg_temp.reg(60);
SELECT ok((SELECT expires_at > clock_timestamp() + interval '59 s' FROM workflow.handlers WHERE app_id = 'hl'),
          'registering again extends it');
SELECT is(pg_temp.reg(0), '{"registered": true}'::jsonb, 'TTL 0: no lease, no ttlSeconds');
SELECT is((SELECT expires_at FROM workflow.handlers WHERE app_id = 'hl'), NULL, 'and no expiry');
SELECT throws_ok($$SELECT pg_temp.reg(-1)$$, 'PW400', NULL, 'a negative TTL is refused');
SELECT throws_ok($$SELECT pg_temp.reg(86401)$$, 'PW400', NULL, 'so is one over a day');

-- An expired registration gets nothing: the message waits (held) and the row goes.
SELECT pg_temp.reg(60);
UPDATE workflow.handlers SET expires_at = clock_timestamp() - interval '1 s' WHERE app_id = 'hl';
SELECT workflow.enqueue('hl', '__wkf_step_s', '{"workflowRunId":"r1"}', 'v1');
SELECT is(pg_temp.claim(), '[]'::jsonb, 'an expired registration is not routed to');
SELECT is((SELECT status FROM workflow.messages WHERE app_id = 'hl'), 'held', 'the message waits without a handler');
SELECT is((SELECT count(*) FROM workflow.handlers WHERE app_id = 'hl'), 0::bigint, 'the expired row is removed');
SELECT pg_temp.reg(60);
SELECT is((SELECT count(*) FROM jsonb_array_elements(pg_temp.claim())), 1::bigint,
          'registering again delivers what waited');

-- Registering removes the app's other ended leases.
SELECT workflow.register_handler('hl', 'pod-old', 'v0', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step', NULL,
                                 NULL, NULL, 60);
UPDATE workflow.handlers SET expires_at = clock_timestamp() - interval '1 s' WHERE pod_id = 'pod-old';
SELECT pg_temp.reg(60);
SELECT is((SELECT array_agg(pod_id) FROM workflow.handlers WHERE app_id = 'hl'), ARRAY['pod'],
          'a registration deletes the app''s ended leases');

SELECT * FROM finish();
ROLLBACK;
