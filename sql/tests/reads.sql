-- pgTAP: the read API (gets, lists, cursors, resolveData).
BEGIN;
SELECT plan(28);

SELECT workflow.ensure_app('reads');
-- API functions act for the request's app only.
SELECT set_config('workflow.app_id', 'reads', true);
CREATE FUNCTION pg_temp.mk(n int) RETURNS text LANGUAGE sql AS $$
  SELECT (workflow.create_event('reads', NULL, 'run_created', NULL,
    jsonb_build_object('deploymentId', 'd' || (n % 2), 'workflowName', 'wf' || (n % 3), 'input', jsonb_build_object('n', n)), 3)::jsonb
    #>> '{run,runId}') $$;
CREATE TEMP TABLE made AS SELECT n, pg_temp.mk(n) AS run_id FROM generate_series(1, 7) n;
\set r1 '(SELECT run_id FROM made WHERE n = 1)'

SELECT is(workflow.get_run('reads', :r1) ->> 'status', 'pending', 'get_run');
SELECT is(workflow.get_run('reads', :r1) -> 'input', '{"n":1}'::jsonb, 'get_run resolves input');
SELECT ok(NOT workflow.get_run('reads', :r1, 'none') ? 'input', 'resolveData none strips input');
SELECT throws_ok($$ SELECT workflow.get_run('reads', 'wrun_nope') $$, 'PW404', NULL, 'get_run unknown: 404');
SELECT throws_ok($$ SELECT workflow.get_run('reads', 'x', 'some') $$, 'PW400', NULL, 'bad resolveData: 400');

SELECT is(jsonb_array_length(workflow.list_runs('reads') -> 'data'), 7, 'list_runs returns all 7');
SELECT is(workflow.list_runs('reads') #>> '{data,0,runId}', (SELECT run_id FROM made WHERE n = 7), 'newest first by default');
SELECT is(workflow.list_runs('reads', p_sort_order => 'asc') #>> '{data,0,runId}', :r1, 'sortOrder asc: oldest first');
SELECT is(jsonb_array_length(workflow.list_runs('reads', p_workflow_name => 'wf0') -> 'data'), 2, 'filter by workflowName');
SELECT is(jsonb_array_length(workflow.list_runs('reads', p_deployment_id => 'd1') -> 'data'), 4, 'filter by deploymentId');
SELECT is(jsonb_array_length(workflow.list_runs('reads', p_status => 'running') -> 'data'), 0, 'filter by status');
SELECT throws_ok($$ SELECT workflow.list_runs('reads', p_status => 'weird') $$, 'PW400', NULL, 'bad status: 400');
SELECT throws_ok($$ SELECT workflow.list_runs('reads', p_limit => 0) $$, 'PW400', NULL, 'limit 0: 400');
SELECT throws_ok($$ SELECT workflow.list_runs('reads', p_limit => 1001) $$, 'PW400', NULL, 'limit over 1000: 400');
SELECT throws_ok($$ SELECT workflow.list_runs('reads', p_cursor => 'abc') $$, 'PW400', NULL, 'bad cursor: 400');

-- Paging: 3 pages of 3, 3, 1 with no repeats.
CREATE TEMP TABLE pages AS
WITH RECURSIVE p(page, body) AS (
  SELECT 1, workflow.list_runs('reads', p_limit => 3)
  UNION ALL
  SELECT page + 1, workflow.list_runs('reads', p_limit => 3, p_cursor => body ->> 'cursor')
    FROM p WHERE (body ->> 'hasMore')::boolean)
SELECT page, body FROM p;
SELECT is((SELECT count(*) FROM pages), 3::bigint, 'three pages of 3');
SELECT is((SELECT count(DISTINCT x ->> 'runId') FROM pages, jsonb_array_elements(body -> 'data') x), 7::bigint, 'pages cover every run once');
SELECT is((SELECT body -> 'hasMore' FROM pages WHERE page = 3), 'false'::jsonb, 'last page has hasMore false');

-- events, steps, hooks
SELECT workflow.create_event('reads', :r1, 'run_started', NULL, NULL, 3);
SELECT workflow.create_event('reads', :r1, 'step_created', 'st1', '{"stepName":"s","input":{"x":1}}', 3);
SELECT workflow.create_event('reads', :r1, 'hook_created', 'hk1', '{"token":"tk1","metadata":{"m":1}}', 3);
SELECT is(jsonb_array_length((workflow.list_events('reads', :r1))::jsonb -> 'data'), 4, 'list_events of a run');
SELECT is((workflow.list_events('reads', NULL, 'st1'))::jsonb #>> '{data,0,eventType}', 'step_created', 'events by correlationId');
SELECT ok(NOT ((workflow.list_events('reads', :r1, p_resolve_data => 'none'))::jsonb #> '{data,2,eventData}') ? 'input',
          'resolveData none strips step_created.input but keeps the rest');
SELECT is(workflow.get_event('reads', :r1, (workflow.list_events('reads', :r1))::jsonb #>> '{data,0,eventId}') ->> 'eventType', 'run_created', 'get_event');
SELECT is(workflow.get_step('reads', :r1, 'st1') ->> 'stepName', 's', 'get_step');
SELECT is(workflow.get_hook_by_token('reads', 'tk1') ->> 'hookId', 'hk1', 'get_hook_by_token');
SELECT is(workflow.get_hook('reads', 'hk1') -> 'metadata', '{"m":1}'::jsonb, 'get_hook with metadata');
SELECT is(jsonb_array_length(workflow.list_hooks('reads', :r1) -> 'data'), 1, 'list_hooks of a run');
SELECT is(jsonb_array_length(workflow.list_steps('reads', :r1) -> 'data'), 1, 'list_steps of a run');
SELECT throws_ok($$ SELECT workflow.get_hook('reads', 'nohook') $$, 'PW404', NULL, 'get_hook unknown: 404');

SELECT * FROM finish();
ROLLBACK;
