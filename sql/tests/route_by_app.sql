-- pgTAP: route_messages finds handlers by app (change route_by_app).
BEGIN;
SELECT plan(5);

SELECT workflow.ensure_app(a) FROM unnest(ARRAY['rba_a', 'rba_b']) a;
SELECT set_config('workflow.app_id', 'rba_a', true);
SELECT workflow.register_handler('rba_a', p, 'v1', 'http://127.0.0.1:9/f', 'http://127.0.0.1:9/s')
  FROM unnest(ARRAY['live', 'lapsed']) p;
SELECT set_config('workflow.app_id', 'rba_b', true);
SELECT workflow.register_handler('rba_b', 'lapsed', 'v1', 'http://127.0.0.1:9/f', 'http://127.0.0.1:9/s');
SELECT workflow.register_handler('rba_b', 'pod' || i, 'v' || i, 'http://127.0.0.1:9/f', 'http://127.0.0.1:9/s')
  FROM generate_series(1, 300) i;
SELECT set_config('workflow.app_id', '', true);
UPDATE workflow.handlers SET expires_at = now() + CASE pod_id WHEN 'lapsed' THEN interval '-1 hour' ELSE interval '1 hour' END
 WHERE pod_id IN ('live', 'lapsed');
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('rba:1', 0, clock_timestamp());
SELECT set_config('workflow.app_id', 'rba_a', true);
SELECT workflow.enqueue('rba_a', '__wkf_step_s', '{"workflowRunId":"r1"}', 'v1');
SELECT set_config('workflow.app_id', '', true);

CREATE TEMP TABLE claimed AS
  SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions), 10, 300, 60, 10,
                                 4194304, 1048576) -> 'deliveries' AS d;
SELECT is(jsonb_array_length((SELECT d FROM claimed)), 1, 'the message is claimed');
SELECT is((SELECT d -> 0 ->> 'podId' FROM claimed), 'live', 'by the app''s live handler');
SELECT ok(NOT EXISTS (SELECT 1 FROM workflow.handlers WHERE app_id = 'rba_a' AND pod_id = 'lapsed'),
          'the app''s lapsed registration is removed');
SELECT ok(EXISTS (SELECT 1 FROM workflow.handlers WHERE app_id = 'rba_b' AND pod_id = 'lapsed'),
          'another app''s registrations are not this claim''s business');
SELECT ok(position('h.app_id = ANY (v_apps)' IN
                   pg_get_functiondef('workflow.route_messages(bigint[], numeric, numeric, integer)'::regprocedure)) > 0,
          'handlers are looked up by app');

SELECT * FROM finish();
ROLLBACK;
