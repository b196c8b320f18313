-- pgTAP: runs.getMany, runs.cancelMany, the terminal NOTIFY and run_wait_state (change devkit5_run_ops).
BEGIN;
SELECT set_config('workflow.app_id', 'tap_dk5r', false);
SELECT plan(24);
SELECT workflow.ensure_app('tap_dk5r');
SELECT workflow.ensure_app('tap_dk5r_other');

CREATE FUNCTION pg_temp.new_run(app text, r text, spec integer, started boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.create_event(app, r, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}', spec);
  IF started THEN PERFORM workflow.create_event(app, r, 'run_started', NULL, NULL, spec); END IF;
END $$;

\set a '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R01'''
\set b '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R02'''
\set c '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R03'''
\set d '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R04'''
\set e '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R05'''
\set x '''wrun_01ARZ3NDEKTSV4RRFFQ69G5R09'''
SELECT pg_temp.new_run('tap_dk5r', :a, 7);
SELECT pg_temp.new_run('tap_dk5r', :b, 3);
SELECT pg_temp.new_run('tap_dk5r', :c, 7);
SELECT workflow.create_event('tap_dk5r', :c, 'run_completed', NULL, '{"output":null}', 7);
SELECT pg_temp.new_run('tap_dk5r', :d, 7, false);
SELECT set_config('workflow.app_id', 'tap_dk5r_other', false);
SELECT pg_temp.new_run('tap_dk5r_other', :e, 7);
SELECT set_config('workflow.app_id', 'tap_dk5r', false);

-- getMany
SELECT workflow.get_runs('tap_dk5r', jsonb_build_array(:c, :x, :a, :e, :a), 'none') AS many \gset
SELECT is(jsonb_path_query_array(:'many'::jsonb, '$[*].runId'), jsonb_build_array(:c, :a, :a),
          'getMany: runs in request order, repeats answered each time');
SELECT is(jsonb_path_query_array(:'many'::jsonb, '$[*] ? (@ == null)'), '[null, null]'::jsonb,
          'getMany: null for an unknown id and for another app''s run');
SELECT is(:'many'::jsonb -> 1, 'null'::jsonb, 'getMany: the null sits at the unknown id''s position');
SELECT is(:'many'::jsonb -> 0 ? 'output', false, 'getMany: resolveData none strips payloads');
SELECT is(workflow.get_runs('tap_dk5r', '[]'), '[]'::jsonb, 'getMany: no ids, no runs');
SELECT throws_ok(format('SELECT workflow.get_runs(%L, %L)', 'tap_dk5r',
                        (SELECT jsonb_agg(i::text) FROM generate_series(1, 1001) i)),
                 'PW400', NULL, 'getMany: more than 1000 ids is 400');
SELECT throws_ok($$SELECT workflow.get_runs('tap_dk5r', '[1]')$$, 'PW400', NULL, 'getMany: ids are strings');
SELECT throws_ok($$SELECT workflow.get_runs('tap_dk5r', '{"a":1}')$$, 'PW400', NULL, 'getMany: ids come as an array');

-- cancelMany
SELECT workflow.cancel_runs('tap_dk5r', jsonb_build_array(:a, :b, :c, :x, :e, :d), 'operator stop') AS bulk \gset
SELECT is(jsonb_path_query_array(:'bulk'::jsonb, '$.results[*].outcome'),
          '["cancelled", "cancelled", "not_cancellable", "not_found", "not_found", "cancelled"]'::jsonb,
          'cancelMany: one outcome per id, in request order');
SELECT is(:'bulk'::jsonb #>> '{results,2,status}', 'completed', 'not_cancellable names the status it found');
SELECT is(:'bulk'::jsonb -> 'summary',
          '{"requested": 6, "cancelled": 3, "alreadyCancelled": 0, "notCancellable": 1, "notFound": 2, "failed": 0}'::jsonb,
          'cancelMany: the summary counts each outcome');
SELECT is((SELECT status FROM workflow.runs WHERE run_id = :e), 'running', 'another app''s run is untouched');
SELECT is((SELECT event_data ->> 'cancelReason' FROM workflow.events
            WHERE app_id = 'tap_dk5r' AND run_id = :a AND event_type = 'run_cancelled'),
          'operator stop', 'a DevKit 5 run''s run_cancelled carries the reason');
SELECT is((SELECT event_data FROM workflow.events
            WHERE app_id = 'tap_dk5r' AND run_id = :b AND event_type = 'run_cancelled'),
          NULL, 'a DevKit 4 run''s run_cancelled is as it always was');
SELECT is(jsonb_path_query_array(workflow.cancel_runs('tap_dk5r', jsonb_build_array(:a)), '$.results[*].outcome'),
          '["already_cancelled"]'::jsonb, 'cancelMany again: already_cancelled');
SELECT throws_ok(format('SELECT workflow.cancel_runs(%L, %L)', 'tap_dk5r', jsonb_build_array(:a, :a)),
                 'PW400', NULL, 'cancelMany: duplicates are 400');
SELECT throws_ok($$SELECT workflow.cancel_runs('tap_dk5r', '[]')$$, 'PW400', NULL, 'cancelMany: no ids is 400');
SELECT throws_ok(format('SELECT workflow.cancel_runs(%L, %L)', 'tap_dk5r',
                        (SELECT jsonb_agg('r' || i) FROM generate_series(1, 501) i)),
                 'PW400', NULL, 'cancelMany: more than 500 ids is 400');
SELECT throws_ok(format('SELECT workflow.cancel_runs(%L, %L, %L)', 'tap_dk5r', jsonb_build_array(:a), repeat('x', 513)),
                 'PW400', NULL, 'cancelMany: a reason over 512 characters is 400');
SELECT throws_ok(format('SELECT workflow.cancel_run(%L, %L, %L)', 'tap_dk5r', :a, 'all'),
                 'PW409', NULL, 'cancel_run without a reason still refuses a terminal run');

-- The terminal NOTIFY and run_wait_state
SELECT trigger_is('workflow', 'runs', 'runs_terminal_notify', 'workflow', 'notify_run_terminal',
                  'terminal transitions notify');
SELECT is(workflow.run_wait_state('tap_dk5r', :a, 'none') - 'run',
          jsonb_build_object('key', (SELECT run_seq::text FROM workflow.runs WHERE run_id = :a), 'terminal', true),
          'run_wait_state: the opaque key (run_seq) and whether the run ended');
SELECT pg_temp.new_run('tap_dk5r', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5R06', 7);
SELECT is(workflow.run_wait_state('tap_dk5r', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5R06') #>> '{run,status}', 'running',
          'run_wait_state: a running run, not terminal');
SELECT throws_ok(format('SELECT workflow.run_wait_state(%L, %L)', 'tap_dk5r', :e), 'PW404', NULL,
                 'run_wait_state: another app''s run is 404');

SELECT * FROM finish();
ROLLBACK;
