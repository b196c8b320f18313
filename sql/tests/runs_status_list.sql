-- pgTAP: list_runs with a list of statuses (change runs_status_list).
BEGIN;
SELECT plan(11);
SELECT workflow.ensure_app('tap_rsl');
SELECT set_config('workflow.app_id', 'tap_rsl', true);

CREATE FUNCTION pg_temp.mk(n int) RETURNS text LANGUAGE sql AS $$
  SELECT (workflow.create_event('tap_rsl', NULL, 'run_created', NULL,
    jsonb_build_object('deploymentId', 'd', 'workflowName', 'wf', 'input', n), 3)::jsonb #>> '{run,runId}') $$;
CREATE TEMP TABLE made AS SELECT n, pg_temp.mk(n) AS run_id FROM generate_series(1, 4) n;
-- run 2 running, run 3 running then cancelled, runs 1 and 4 pending
SELECT workflow.create_event('tap_rsl', run_id, 'run_started', NULL, NULL, 3) FROM made WHERE n IN (2, 3);
SELECT workflow.create_event('tap_rsl', run_id, 'run_cancelled', NULL, NULL, 3) FROM made WHERE n = 3;

CREATE FUNCTION pg_temp.ids(p jsonb) RETURNS int[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(m.n ORDER BY m.n), '{}') FROM jsonb_array_elements(p -> 'data') d
    JOIN made m ON m.run_id = d.value ->> 'runId' $$;
CREATE FUNCTION pg_temp.by(s text[]) RETURNS int[] LANGUAGE sql AS $$
  SELECT pg_temp.ids(workflow.list_runs('tap_rsl', s, NULL, NULL, NULL, NULL, NULL, 'none')) $$;

SELECT is(pg_temp.by(NULL), ARRAY[1, 2, 3, 4], 'no list: every status');
SELECT is(pg_temp.by(ARRAY['running']), ARRAY[2], 'a list of one');
SELECT is(pg_temp.by(ARRAY['running', 'cancelled']), ARRAY[2, 3], 'several: any of them');
SELECT is(pg_temp.by(ARRAY['pending', 'running', 'pending']), ARRAY[1, 2, 4], 'a repeated status counts once');
SELECT is(pg_temp.by(ARRAY[]::text[]), '{}'::int[], 'an empty list: no run');
SELECT throws_ok($$ SELECT pg_temp.by(ARRAY['running', 'weird']) $$, 'PW400',
  'status must be one of pending, running, completed, failed, cancelled, not ''weird''', 'an unknown status: 400 naming it');
SELECT throws_ok($$ SELECT pg_temp.by(ARRAY['running', NULL]) $$, 'PW400', NULL, 'a NULL status: 400');
-- The single-status function is the list of one, with the same refusals.
SELECT is(pg_temp.ids(workflow.list_runs('tap_rsl', p_status => 'cancelled')), ARRAY[3], 'single status still filters');
SELECT is(pg_temp.ids(workflow.list_runs('tap_rsl')), ARRAY[1, 2, 3, 4], 'single-status function without a status');
SELECT throws_ok($$ SELECT workflow.list_runs('tap_rsl', p_status => 'weird') $$, 'PW400', NULL, 'single bad status: 400');
-- Paging over a filtered list.
SELECT is(pg_temp.ids(workflow.list_runs('tap_rsl', ARRAY['pending', 'running'], NULL, NULL, 2, NULL, 'asc', 'none')),
          ARRAY[1, 2], 'first page of a filtered list');

SELECT * FROM finish();
ROLLBACK;
