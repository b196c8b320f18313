-- pgTAP: retention — the purge functions delete exactly what is old enough,
-- in batches, and never a live run.
BEGIN;
SELECT plan(23);

SELECT workflow.ensure_app('ret');
SELECT set_config('workflow.app_id', 'ret', true);  -- API functions act for the request's app only
-- A run with one of everything, written straight into the tables (as the
-- owner): status and age are what matter here, not how the run got there.
CREATE FUNCTION pg_temp.run(id text, status text, age interval) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := clock_timestamp() - age;
  done timestamptz := CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN t END;
BEGIN
  INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, created_at, updated_at,
                             started_at, completed_at)
  VALUES ('ret', id, status, 'v1', 'wf', t, t, t, done);
  INSERT INTO workflow.events (app_id, run_id, run_ordinal, event_id, event_type, created_at, event_json)
  VALUES ('ret', id, 1, 'wevt_' || id || '_1', 'run_created', t, '{}'), ('ret', id, 2, 'wevt_' || id || '_2', 'run_started', t, '{}');
  INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, created_at, updated_at, started_at, attempt,
                              completed_at)
  VALUES ('ret', id, 'step_' || id, 's', 'completed', t, t, t, 1, t);
  INSERT INTO workflow.hooks (app_id, run_id, hook_id, token, created_at, disposed_at)
  VALUES ('ret', id, 'hook_' || id, 'tok_' || id, t, done);
  INSERT INTO workflow.waits (app_id, run_id, wait_id, status, created_at, updated_at, completed_at)
  VALUES ('ret', id, 'wait_' || id, 'completed', t, t, t);
  INSERT INTO workflow.streams (app_id, name, run_id, next_index, created_at, updated_at)
  VALUES ('ret', 'out_' || id, id, 2, t, t);
  INSERT INTO workflow.stream_chunks (app_id, name, chunk_index, data)
  VALUES ('ret', 'out_' || id, 0, 'a'), ('ret', 'out_' || id, 1, 'b');
END $$;
CREATE FUNCTION pg_temp.left_of(id text) RETURNS bigint[]  -- rows still there: run, events, steps, hooks, waits, streams, chunks
LANGUAGE sql AS $$
  SELECT ARRAY[(SELECT count(*) FROM workflow.runs WHERE run_id = id),
               (SELECT count(*) FROM workflow.events WHERE run_id = id),
               (SELECT count(*) FROM workflow.steps WHERE run_id = id),
               (SELECT count(*) FROM workflow.hooks WHERE run_id = id),
               (SELECT count(*) FROM workflow.waits WHERE run_id = id),
               (SELECT count(*) FROM workflow.streams WHERE run_id = id),
               (SELECT count(*) FROM workflow.stream_chunks WHERE name = 'out_' || id)] $$;

SELECT pg_temp.run('old_done', 'completed', interval '40 days');
SELECT pg_temp.run('old_failed', 'failed', interval '39 days');
SELECT pg_temp.run('old_cancelled', 'cancelled', interval '38 days');
SELECT pg_temp.run('old_running', 'running', interval '90 days');
SELECT pg_temp.run('old_pending', 'pending', interval '90 days');
SELECT pg_temp.run('recent_done', 'completed', interval '1 day');

SELECT is(workflow.purge_runs(interval '30 days', 2), 2, 'one batch deletes at most batch runs');
SELECT is(pg_temp.left_of('old_done'), ARRAY[0, 0, 0, 0, 0, 0, 0]::bigint[],
          'the oldest terminal run goes first, with its events, steps, hooks, waits, streams and chunks');
SELECT is(pg_temp.left_of('old_failed'), ARRAY[0, 0, 0, 0, 0, 0, 0]::bigint[], 'failed runs are terminal too');
SELECT is(workflow.purge_runs(interval '30 days', 2), 1, 'the next batch takes the rest (less than a batch: done)');
SELECT is(pg_temp.left_of('old_cancelled'), ARRAY[0, 0, 0, 0, 0, 0, 0]::bigint[], 'cancelled runs are terminal too');
SELECT is(workflow.purge_runs(interval '30 days', 100), 0, 'nothing more is old enough');
SELECT is(pg_temp.left_of('old_running'), ARRAY[1, 2, 1, 1, 1, 1, 2]::bigint[], 'a running run is never purged, however old');
SELECT is(pg_temp.left_of('old_pending'), ARRAY[1, 2, 1, 1, 1, 1, 2]::bigint[], 'nor a pending one');
SELECT is(pg_temp.left_of('recent_done'), ARRAY[1, 2, 1, 1, 1, 1, 2]::bigint[], 'a recent terminal run stays');
SELECT is(workflow.purge_runs(interval '0', 100), 1, 'with age 0 every terminal run goes');
SELECT is((SELECT array_agg(run_id ORDER BY run_id) FROM workflow.runs WHERE app_id = 'ret'),
          ARRAY['old_pending', 'old_running'], 'only the live runs are left');
SELECT throws_ok($$ SELECT workflow.purge_runs(interval '-1 day', 10) $$, 'PW400', NULL, 'a negative age is refused');
SELECT throws_ok($$ SELECT workflow.purge_runs(interval '1 day', 0) $$, 'PW400', NULL, 'an empty batch is refused');

-- Messages: delivered ones after the idempotency window, dead letters after theirs.
SELECT workflow.register_handler('ret', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT workflow.enqueue('ret', '__wkf_step_s', jsonb_build_object('workflowRunId', 'old_running', 'i', i), 'v1', 'k' || i)
  FROM generate_series(1, 6) i;
UPDATE workflow.messages SET status = 'delivered', delivered_at = clock_timestamp() - interval '2 hours'
 WHERE app_id = 'ret' AND idempotency_key IN ('k1', 'k2');
UPDATE workflow.messages SET status = 'delivered', delivered_at = clock_timestamp() - interval '1 minute'
 WHERE app_id = 'ret' AND idempotency_key = 'k3';
UPDATE workflow.messages SET status = 'dead', dead_at = clock_timestamp() - interval '20 days'
 WHERE app_id = 'ret' AND idempotency_key = 'k4';
UPDATE workflow.messages SET status = 'dead', dead_at = clock_timestamp() - interval '1 day'
 WHERE app_id = 'ret' AND idempotency_key = 'k5';
SELECT is(workflow.purge_delivered_messages(interval '1 hour', 1), 1, 'delivered messages go in batches');
SELECT is(workflow.purge_delivered_messages(interval '1 hour', 10), 1, 'the second batch takes the other old one');
SELECT is(workflow.purge_dead_letters(interval '14 days', 10), 1, 'old dead letters go');
SELECT is((SELECT array_agg(idempotency_key || ':' || status ORDER BY idempotency_key) FROM workflow.messages
            WHERE app_id = 'ret'), ARRAY['k3:delivered', 'k5:dead', 'k6:queued'],
          'recent deliveries and dead letters and every undelivered message stay');
SELECT is((workflow.enqueue('ret', '__wkf_step_s', '{"workflowRunId":"old_running"}', 'v1', 'k1') ->> 'created')::boolean,
          true, 'a purged message''s idempotency key is free again');

-- ack_messages no longer purges delivered messages itself.
UPDATE workflow.messages SET status = 'delivered', delivered_at = clock_timestamp() - interval '2 hours'
 WHERE app_id = 'ret' AND idempotency_key = 'k3';
SELECT workflow.ack_messages('[]', 3, 1, 1, 1, 60, 60);
SELECT is((SELECT status FROM workflow.messages WHERE app_id = 'ret' AND idempotency_key = 'k3'), 'delivered',
          'settling leaves old delivered messages to the retention job');

-- Health-check streams and enqueue counters.
INSERT INTO workflow.streams (app_id, name, run_id, next_index, created_at, updated_at)
VALUES ('ret', '__health_check__old', NULL, 0, clock_timestamp() - interval '2 hours', clock_timestamp()),
       ('ret', '__health_check__new', NULL, 0, clock_timestamp(), clock_timestamp());
SELECT is(workflow.purge_health_check_streams(interval '1 hour', 10), 1, 'an old health-check stream goes');
SELECT is((SELECT array_agg(name) FROM workflow.streams WHERE app_id = 'ret' AND run_id IS NULL),
          ARRAY['__health_check__new'], 'a recent one stays');
INSERT INTO workflow.queue_rate (app_id, minute, slot, enqueued)
VALUES ('ret', date_trunc('minute', clock_timestamp()) - interval '1 hour', 3, 5),
       ('ret', date_trunc('minute', clock_timestamp()) - interval '1 minute', 3, 5);
SELECT is(workflow.purge_queue_rate(), 1, 'enqueue counters older than the previous minute go');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.purge_runs(interval, integer)', 'EXECUTE')
          AND NOT has_function_privilege('pgw_tenant', 'workflow.purge_dead_letters(interval, integer)', 'EXECUTE'),
          'tenants cannot purge');

SELECT * FROM finish();
ROLLBACK;
