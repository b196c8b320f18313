-- pgTAP: the queue hop's byte counting and claim (change queue_hot_path):
-- sizes measured once, counters untouched by claims, deliveries given back by
-- ack_messages per app, other decreases applied once per app and statement.
BEGIN;
SELECT plan(20);

SELECT workflow.ensure_app(a) FROM unnest(ARRAY['hp_a', 'hp_b']) a;
SELECT set_config('workflow.app_id', 'hp_a', true);
SELECT workflow.register_handler('hp_a', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT set_config('workflow.app_id', 'hp_b', true);
SELECT workflow.register_handler('hp_b', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT set_config('workflow.app_id', '', true);
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('hp:1', 0, clock_timestamp());
CREATE FUNCTION pg_temp.claim() RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions), 100, 300, 60, 100,
                                 4194304, 1048576) -> 'deliveries' $$;
CREATE FUNCTION pg_temp.settle(p_deliveries jsonb, p_outcome text) RETURNS integer LANGUAGE sql AS $$
  SELECT workflow.ack_messages(jsonb_agg(jsonb_build_object('seq', d -> 'seq', 'attempt', d -> 'attempt',
                                 'podId', d -> 'podId', 'outcome', p_outcome, 'error', 'boom')),
                               1, 1, 300, 5, 60, 3600, 0.1)
    FROM jsonb_array_elements(p_deliveries) d $$;
CREATE FUNCTION pg_temp.queued(p_app text) RETURNS bigint LANGUAGE sql AS $$
  SELECT t.queued_bytes FROM workflow.app_bytes(p_app) t $$;
CREATE FUNCTION pg_temp.stored(p_app text) RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(sum(octet_length(payload::text)), 0)::bigint FROM workflow.messages
   WHERE app_id = p_app AND status IN ('queued', 'held', 'claimed') $$;

SELECT set_config('workflow.app_id', 'hp_a', true);
SELECT workflow.enqueue('hp_a', '__wkf_step_s', jsonb_build_object('workflowRunId', 'r' || i, 'pad', repeat('x', i)), 'v1')
  FROM generate_series(1, 3) i;
SELECT set_config('workflow.app_id', 'hp_b', true);
SELECT workflow.enqueue('hp_b', '__wkf_step_s', '{"workflowRunId":"rb"}', 'v1');
SELECT set_config('workflow.app_id', '', true);

SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id LIKE 'hp_%' AND payload_bytes <> octet_length(payload::text)),
          0::bigint, 'payload_bytes is the size of the payload''s JSON text');
SELECT is(pg_temp.queued('hp_a'), pg_temp.stored('hp_a'), 'enqueues are counted');

CREATE TEMP TABLE claimed AS SELECT pg_temp.claim() AS d;
SELECT is(jsonb_array_length((SELECT d FROM claimed)), 4, 'both apps'' messages are claimed');
SELECT is(pg_temp.queued('hp_a'), pg_temp.stored('hp_a'), 'claimed messages still count');
SELECT is(coalesce(current_setting('workflow.queued_bytes_pending', true), ''), '', 'a claim leaves nothing pending');

-- One batch, two apps: each gets its delivered bytes back.
SELECT is(pg_temp.settle((SELECT d FROM claimed), 'done'), 4, 'a batch of deliveries of two apps settles');
SELECT is(pg_temp.queued('hp_a'), 0::bigint, 'app A''s delivered bytes are given back');
SELECT is(pg_temp.queued('hp_b'), 0::bigint, 'and app B''s');
SELECT is(coalesce(current_setting('workflow.queued_bytes_pending', true), ''), '', 'nothing is left pending');

-- A failure past max attempts dead-letters: given back through the statement trigger.
SELECT set_config('workflow.app_id', 'hp_a', true);
SELECT workflow.enqueue('hp_a', '__wkf_step_s', '{"workflowRunId":"r9"}', 'v1');
SELECT set_config('workflow.app_id', '', true);
SELECT pg_temp.settle(pg_temp.claim(), 'failed');
SELECT is((SELECT status FROM workflow.messages WHERE app_id = 'hp_a' AND run_id = 'r9'), 'dead', 'the message is dead');
SELECT is(pg_temp.queued('hp_a'), 0::bigint, 'and no longer counts');

-- A retried dead letter counts again (the tenant's doing, counted at once).
SELECT set_config('workflow.app_id', 'hp_a', true);
SELECT workflow.retry_dead_letter('hp_a', (SELECT message_id FROM workflow.messages WHERE app_id = 'hp_a' AND run_id = 'r9'));
SELECT is(pg_temp.queued('hp_a'), pg_temp.stored('hp_a'), 'a retried dead letter counts again');

-- A bulk change: an expired version's backlog goes dead in one statement,
-- one counter change for the app.
SELECT workflow.enqueue('hp_a', '__wkf_step_s', jsonb_build_object('workflowRunId', 'bulk' || i), 'v1')
  FROM generate_series(1, 200) i;
SELECT is(pg_temp.queued('hp_a'), pg_temp.stored('hp_a'), 'the backlog is counted');
SELECT set_config('workflow.app_id', '', true);
CREATE TEMP TABLE updates_before AS
  SELECT n_tup_upd + n_tup_ins AS n FROM pg_stat_xact_user_tables WHERE relid = 'workflow.app_byte_usage'::regclass;
UPDATE workflow.messages SET status = 'dead', dead_at = clock_timestamp(), last_error = 'test: expired'
 WHERE app_id = 'hp_a' AND status = 'queued';
SELECT is(pg_temp.queued('hp_a'), 0::bigint, 'a bulk dead-lettering gives all the bytes back');
SELECT is((SELECT n_tup_upd + n_tup_ins FROM pg_stat_xact_user_tables WHERE relid = 'workflow.app_byte_usage'::regclass)
            - (SELECT n FROM updates_before), 1::bigint, 'in one change of the app''s counter');

-- Deleting undelivered messages gives their bytes back too.
SELECT set_config('workflow.app_id', 'hp_b', true);
SELECT workflow.enqueue('hp_b', '__wkf_step_s', '{"workflowRunId":"rd"}', 'v1');
SELECT set_config('workflow.app_id', '', true);
DELETE FROM workflow.messages WHERE app_id = 'hp_b' AND status = 'queued';
SELECT is(pg_temp.queued('hp_b'), 0::bigint, 'deleted undelivered messages give their bytes back');

SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.release_queued_bytes(text, bigint)', 'EXECUTE'),
          'tenants cannot call release_queued_bytes');

-- Decreases made inside an API function (SECURITY DEFINER, its own settings)
-- are applied before it returns: a tenant's cancel gives the bytes back.
SELECT set_config('workflow.app_id', 'hp_b', true);
SELECT workflow.create_event('hp_b', NULL, 'run_created', NULL,
         '{"deploymentId":"v1","workflowName":"wf","input":[]}'::jsonb, 3)::jsonb #>> '{run,runId}' AS run \gset hp_
SELECT workflow.create_event('hp_b', :'hp_run', 'run_started', NULL, NULL, 3) IS NOT NULL;
SELECT workflow.enqueue('hp_b', '__wkf_workflow_wf', jsonb_build_object('runId', :'hp_run'), 'v1') IS NOT NULL;
SELECT isnt(pg_temp.queued('hp_b'), 0::bigint, 'the run''s message counts');
SET LOCAL ROLE pgw_tenant;
SELECT is(workflow.cancel_run('hp_b', :'hp_run') ->> 'status', 'cancelled', 'the tenant cancels the run');
RESET ROLE;
SELECT set_config('workflow.app_id', '', true);
SELECT is(pg_temp.queued('hp_b'), 0::bigint, 'and its message''s bytes are given back');

SELECT * FROM finish();
ROLLBACK;
