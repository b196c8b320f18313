-- pgTAP: quotas — each refused at its limit (429 naming it) and allowed again
-- once set_quotas raises it; the active-runs counter follows every run
-- transition; and two sessions creating runs at once cannot both pass the
-- last free place (dblink: the race sessions commit, their app is deleted at
-- the end).
BEGIN;
SELECT plan(22);
CREATE EXTENSION IF NOT EXISTS dblink;

SELECT workflow.create_app('quota_a');
SELECT set_config('workflow.app_id', 'quota_a', true);
CREATE FUNCTION pg_temp.new_run(n integer) RETURNS text
LANGUAGE sql AS $$
  SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F' || lpad(n::text, 2, '0'), 'run_created', NULL,
                               '{"deploymentId":"d","workflowName":"w","input":null}', 3)::jsonb #>> '{run,runId}'
$$;
CREATE FUNCTION pg_temp.active() RETURNS integer
LANGUAGE sql AS $$ SELECT active_runs FROM workflow.app_usage WHERE app_id = 'quota_a' $$;

-- maxRuns
SELECT workflow.set_quotas('quota_a', '{"maxRuns": 2}');
SELECT pg_temp.new_run(1), pg_temp.new_run(2);
SELECT is(pg_temp.active(), 2, 'two pending runs are counted');
SELECT throws_ok($$ SELECT pg_temp.new_run(3) $$, 'PW429',
                 'quota maxRuns exceeded: app quota_a already has 2 active runs (limit 2)',
                 'maxRuns: the run beyond the limit is refused, naming the quota and its limit');
SELECT is(pg_temp.active(), 2, 'a refused run is not counted');
SELECT is((SELECT count(*) FROM workflow.runs WHERE app_id = 'quota_a'), 2::bigint, 'nor stored');
SELECT workflow.set_quotas('quota_a', '{"maxRuns": 3}');
SELECT is(pg_temp.new_run(3), 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F03', 'allowed again after set_quotas raises maxRuns');
SELECT throws_ok($$ SELECT pg_temp.new_run(4) $$, 'PW429', NULL, 'and refused at the new limit');
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F01', 'run_started', NULL, NULL, 3);
SELECT is(pg_temp.active(), 3, 'a started run is still active');
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F01', 'run_completed', NULL, '{"output":1}', 3);
SELECT is(pg_temp.active(), 2, 'a completed run is not');
SELECT is(pg_temp.new_run(4), 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F04', 'an ended run frees its place');
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F02', 'run_failed', NULL, '{"error":"x"}', 3);
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F03', 'run_cancelled', NULL, NULL, 3);
SELECT is(pg_temp.active(), 1, 'failed and cancelled runs are not active');
DELETE FROM workflow.runs WHERE app_id = 'quota_a' AND run_id IN ('wrun_01ARZ3NDEKTSV4RRFFQ69G5F01', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F04');
SELECT is(pg_temp.active(), 0, 'deleting an active run uncounts it; deleting an ended one changes nothing');
SELECT is((SELECT count(*)::integer FROM workflow.runs WHERE app_id = 'quota_a' AND status IN ('pending', 'running')),
          pg_temp.active(), 'the counter equals the active runs');

-- maxEventsPerRun
SELECT workflow.set_quotas('quota_a', '{"maxEventsPerRun": 3}');
SELECT pg_temp.new_run(5);
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F05', 'run_started', NULL, NULL, 3);
SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F05', 'step_created', 's1', '{"stepName":"s"}', 3);
SELECT throws_ok($$ SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F05', 'step_created', 's2', '{"stepName":"s"}', 3) $$,
                 'PW429', 'quota maxEventsPerRun exceeded: run wrun_01ARZ3NDEKTSV4RRFFQ69G5F05 already has 3 events',
                 'maxEventsPerRun: the event beyond the limit is refused, naming the quota');
SELECT workflow.set_quotas('quota_a', '{"maxEventsPerRun": 4}');
SELECT lives_ok($$ SELECT workflow.create_event('quota_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5F05', 'step_created', 's2', '{"stepName":"s"}', 3) $$,
                'allowed again after set_quotas raises maxEventsPerRun');

-- maxQueuePerMinute
SELECT workflow.set_quotas('quota_a', '{"maxQueuePerMinute": 2}');
SELECT workflow.enqueue('quota_a', '__wkf_step_s', '{}', 'v1') FROM generate_series(1, 2);
SELECT throws_ok($$ SELECT workflow.enqueue('quota_a', '__wkf_step_s', '{}', 'v1') $$, 'PW429',
                 'quota maxQueuePerMinute exceeded: app quota_a may enqueue 2 messages per minute',
                 'maxQueuePerMinute: the message beyond the limit is refused, naming the quota');
SELECT workflow.set_quotas('quota_a', '{"maxQueuePerMinute": 3}');
SELECT lives_ok($$ SELECT workflow.enqueue('quota_a', '__wkf_step_s', '{}', 'v1') $$,
                'allowed again after set_quotas raises maxQueuePerMinute');

-- A refusal carries {quota, limit, retryAfter} for the 429's Retry-After.
CREATE FUNCTION pg_temp.refusal_meta(q text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  EXECUTE q;
  RETURN NULL;
EXCEPTION WHEN SQLSTATE 'PW429' THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN detail::jsonb;
END $$;
SELECT is(pg_temp.refusal_meta($$ SELECT workflow.enqueue('quota_a', '__wkf_step_s', '{}', 'v1') $$) - 'retryAfter',
          '{"quota": "maxQueuePerMinute", "limit": 3}'::jsonb, 'the refusal''s meta names the quota and its limit');
SELECT workflow.set_quotas('quota_a', '{"maxRuns": 1}');
SELECT is(pg_temp.refusal_meta($$ SELECT pg_temp.new_run(6) $$),
          '{"quota": "maxRuns", "limit": 1, "retryAfter": 5}'::jsonb, 'maxRuns meta has quota, limit and retryAfter');

-- The race: with one place left, session 1 creates a run and keeps its
-- transaction open; session 2 creates another meanwhile (it waits for the
-- counter row); session 1 commits; session 2 must then be refused.
CREATE FUNCTION pg_temp.race() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  conninfo text := format('host=%s port=%s dbname=%s user=%s', coalesce(host(inet_server_addr()), '/var/run/postgresql'),
                          current_setting('port'), current_database(), current_user);
  s text;
  second text;
  v_pid integer;
  waits text;
  created constant text := $q$
    SELECT workflow.create_event('quota_race', %L, 'run_created', NULL,
                                 '{"deploymentId":"d","workflowName":"w","input":null}', 3)::jsonb #>> '{run,runId}' $q$;
BEGIN
  FOREACH s IN ARRAY ARRAY['qr_1', 'qr_2'] LOOP
    PERFORM dblink_connect(s, conninfo);
    PERFORM * FROM dblink(s, $q$ SELECT set_config('workflow.app_id', 'quota_race', false) $q$) AS t(r text);
  END LOOP;
  PERFORM * FROM dblink('qr_1', $q$ SELECT (workflow.create_app('quota_race')::text || workflow.set_quotas('quota_race', '{"maxRuns": 2}')::text) $q$) AS t(r text);
  PERFORM * FROM dblink('qr_1', format(created, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FR0')) AS t(r text);
  PERFORM dblink_exec('qr_1', 'BEGIN');
  RETURN NEXT is((SELECT r FROM dblink('qr_1', format(created, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FR1')) AS t(r text)),
                 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FR1', 'session 1 takes the last place (not yet committed)');
  SELECT r::integer INTO v_pid FROM dblink('qr_2', 'SELECT pg_backend_pid()::text') AS t(r text);
  PERFORM dblink_send_query('qr_2', format(created, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FR2'));
  FOR i IN 1..600 LOOP  -- until session 2 blocks (or 30 s)
    PERFORM pg_stat_clear_snapshot();
    SELECT wait_event_type INTO waits FROM pg_stat_activity WHERE pid = v_pid;
    EXIT WHEN waits = 'Lock';
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN NEXT is(waits, 'Lock', 'session 2 waits for session 1''s lock on the counter row');
  PERFORM dblink_exec('qr_1', 'COMMIT');
  BEGIN
    SELECT r INTO second FROM dblink_get_result('qr_2') AS t(r text);
  EXCEPTION WHEN OTHERS THEN
    second := SQLERRM;
  END;
  PERFORM * FROM dblink_get_result('qr_2', false) AS t(r text);
  RETURN NEXT is(second, 'quota maxRuns exceeded: app quota_race already has 2 active runs (limit 2)',
                 'then session 2 is refused: the quota holds under concurrency');
  RETURN NEXT is((SELECT r FROM dblink('qr_1', $q$ SELECT count(*)::text FROM workflow.runs WHERE app_id = 'quota_race' $q$) AS t(r text)),
                 '2', 'exactly maxRuns runs exist');
  PERFORM * FROM dblink('qr_1', $q$ WITH gone AS (DELETE FROM workflow.apps WHERE app_id = 'quota_race' RETURNING 1) SELECT count(*)::text FROM gone $q$) AS t(r text);
  FOREACH s IN ARRAY ARRAY['qr_1', 'qr_2'] LOOP
    PERFORM dblink_disconnect(s);
  END LOOP;
END $$;
SELECT * FROM pg_temp.race();

SELECT * FROM finish();
ROLLBACK;
