-- pgTAP: workflow.metrics_snapshot — the gauges and the dead-letter counter /metrics reads.
BEGIN;
SELECT plan(16);

SELECT workflow.ensure_app('mx');
-- API functions act for the request's app only: the tests act for 'mx'.
SELECT set_config('workflow.app_id', 'mx', false);
CREATE FUNCTION pg_temp.snap(k text) RETURNS numeric
LANGUAGE sql AS $$ SELECT (workflow.metrics_snapshot() ->> k)::numeric $$;
CREATE TEMP TABLE before AS SELECT workflow.metrics_snapshot() AS s;
CREATE FUNCTION pg_temp.delta(k text) RETURNS numeric
LANGUAGE sql AS $$ SELECT pg_temp.snap(k) - (SELECT (s ->> k)::numeric FROM before) $$;

SELECT is(ARRAY(SELECT jsonb_object_keys(workflow.metrics_snapshot()) ORDER BY 1),
          ARRAY['activeRuns', 'deadLetteredTotal', 'deadLetters', 'queueHeld', 'queueLagSeconds', 'queueWaiting'],
          'the snapshot has its six figures');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.metrics_snapshot()', 'EXECUTE'),
          'tenants cannot read cross-app figures');
SELECT is((SELECT proowner::regrole::text || ' ' || prosecdef FROM pg_proc
            WHERE oid = 'workflow.metrics_snapshot()'::regprocedure), 'pgw_service true',
          'the snapshot is a service function (sees every app)');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.count_dead_letter()', 'EXECUTE')
          AND NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'workflow.count_dead_letter()'::regprocedure),
          'the dead-letter trigger function is internal: runs with the rights of whoever dead-letters');

-- Active runs (the quotas' counters): pending and running count, finished ones do not.
SELECT workflow.create_event('mx', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'run_created', NULL,
                             '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT workflow.create_event('mx', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA2', 'run_created', NULL,
                             '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT is(pg_temp.delta('activeRuns'), 2::numeric, 'two new runs are active');
SELECT workflow.create_event('mx', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FA2', 'run_cancelled', NULL, NULL, 3);
SELECT is(pg_temp.delta('activeRuns'), 1::numeric, 'a cancelled run is no longer active');

-- Queue depth: due (queued or claimed) and held (no live handler of its version).
SELECT workflow.enqueue('mx', '__wkf_step_m', '{"n":1}', 'mv1', 'm1', NULL);
SELECT is(pg_temp.delta('queueWaiting'), 1::numeric, 'an enqueued message waits to be delivered');
SELECT workflow.claim_messages(10, 30, 60);
SELECT is(ARRAY[pg_temp.delta('queueHeld'), pg_temp.delta('queueWaiting')], ARRAY[1, 0]::numeric[],
          'a claim without a live handler holds it');
SELECT workflow.register_handler('mx', 'pod-m', 'mv1', 'http://m/flow', 'http://m/step');
SELECT is(pg_temp.delta('queueHeld'), 0::numeric, 'registration releases it');
SELECT ok(pg_temp.snap('queueLagSeconds') >= 0, 'queue lag is never negative');

-- Dead letters: every way into ''dead'' counts once.
SELECT workflow.claim_messages(10, 30, 60);
SELECT workflow.ack_messages(jsonb_agg(jsonb_build_object('seq', message_seq, 'attempt', attempt, 'podId', pod_id,
                                                          'outcome', 'failed', 'error', 'HTTP 500')), 1)
  FROM workflow.messages WHERE app_id = 'mx' AND status = 'claimed';
SELECT is(pg_temp.delta('deadLetters'), 1::numeric, 'the failed message is a dead letter');
SELECT is(pg_temp.delta('deadLetteredTotal'), 1::numeric, 'dead-lettering is counted');
SELECT is(pg_temp.delta('queueWaiting'), 0::numeric, 'a dead letter no longer waits');
SELECT workflow.retry_dead_letter('mx', (SELECT message_id FROM workflow.messages WHERE idempotency_key = 'm1'));
SELECT is(pg_temp.delta('deadLetteredTotal'), 1::numeric, 'a retried dead letter keeps the counter (it only grows)');
-- The trigger runs with the rights of whoever dead-letters: here enqueue (an API function, so pgw_api)
-- called by the tenant role, for an expired version (dead on arrival).
SELECT workflow.expire_version('mx', 'mv-old');
SET LOCAL ROLE pgw_tenant;
SELECT workflow.enqueue('mx', '__wkf_step_m', '{"n":2}', 'mv-old', 'm2', NULL);
RESET ROLE;
SELECT is(pg_temp.delta('deadLetteredTotal'), 2::numeric, 'a message dead on arrival, enqueued by a tenant, counts');

-- The snapshot's counts have partial indexes with exactly their predicates: no full scan of a hot table.
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || q LOOP plan := plan || line || E'\n'; END LOOP;
  RETURN plan;
END $$;
SET LOCAL enable_seqscan = off;
SELECT is(ARRAY(SELECT pg_temp.plan_of(q) ~ 'Seq Scan' FROM unnest(ARRAY[
            $$SELECT count(*) FROM workflow.messages WHERE next_at IS NOT NULL$$,
            $$SELECT count(*) FROM workflow.messages WHERE status = 'held'$$,
            $$SELECT count(*) FROM workflow.messages WHERE status = 'dead'$$,
            $$SELECT min(next_at) FROM workflow.messages WHERE next_at IS NOT NULL$$]) AS q),
          ARRAY[false, false, false, false], 'every count of the snapshot can use an index');

SELECT * FROM finish();
ROLLBACK;
