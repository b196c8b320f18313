-- pgTAP: change settle_and_claim — acks settled first, then the claim, in one call.
BEGIN;
SELECT plan(7);

SELECT workflow.ensure_app('sac_a');
SELECT set_config('workflow.app_id', 'sac_a', true);
SELECT workflow.register_handler('sac_a', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT workflow.enqueue('sac_a', '__wkf_workflow_w', '{"runId": "wrun_sac"}', 'v1');
SELECT set_config('workflow.app_id', '', true);
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('sac:1', 0, clock_timestamp());
CREATE FUNCTION pg_temp.session() RETURNS integer LANGUAGE sql AS $$
  SELECT max(session_id) FROM workflow.dispatcher_sessions $$;
CREATE FUNCTION pg_temp.done(p_deliveries jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('seq', d -> 'seq', 'attempt', d -> 'attempt', 'podId', d -> 'podId',
                                               'outcome', 'done')), '[]'::jsonb)
    FROM jsonb_array_elements(p_deliveries) d $$;
CREATE FUNCTION pg_temp.settle_and_claim(p_results jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.settle_and_claim(p_results, 5, 1, 300, 5, 60, 3600, 0.1,
                                   pg_temp.session(), 10, 300, 25, 4194304, 1048576) $$;

CREATE TEMP TABLE first AS SELECT workflow.claim_messages(pg_temp.session(), 10, 300, 60, 25, 4194304, 1048576) -> 'deliveries' AS d;
SELECT is(jsonb_array_length((SELECT d FROM first)), 1, 'the run''s wake-up is claimed');
-- The run's next wake-up waits while the first is in flight (one workflow message per run at a time).
SELECT set_config('workflow.app_id', 'sac_a', true);
SELECT workflow.enqueue('sac_a', '__wkf_workflow_w', '{"runId": "wrun_sac", "n": 2}', 'v1');
SELECT set_config('workflow.app_id', '', true);
SELECT is(jsonb_array_length(workflow.claim_messages(pg_temp.session(), 10, 300, 60, 25, 4194304, 1048576) -> 'deliveries'),
          0, 'a claim alone finds the run busy');

CREATE TEMP TABLE second AS SELECT pg_temp.settle_and_claim(pg_temp.done((SELECT d FROM first))) AS r;
SELECT is(((SELECT r FROM second) ->> 'settled')::integer, 1, 'the result counted');
SELECT is((SELECT status FROM workflow.messages WHERE message_seq = ((SELECT d FROM first) -> 0 ->> 'seq')::bigint),
          'delivered', 'the first message is delivered');
SELECT is(jsonb_array_length((SELECT r FROM second) -> 'deliveries'), 1,
          'settled first: the same call claims the run''s next wake-up');
SELECT ok((SELECT r FROM second) ?& ARRAY['nextDueIn', 'appsAtShare'], 'with the claim''s other members');
SELECT is(((SELECT pg_temp.settle_and_claim('[]'::jsonb)) ->> 'settled')::integer, 0, 'no results: only a claim');

SELECT * FROM finish();
ROLLBACK;
