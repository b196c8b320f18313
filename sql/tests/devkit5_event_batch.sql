-- pgTAP: events.createBatch for spec >= 6 runs (change devkit5_event_batch).
BEGIN;
SELECT set_config('workflow.app_id', 'tap_dk5b', false);
SELECT plan(13);
SELECT workflow.ensure_app('tap_dk5b');

CREATE FUNCTION pg_temp.batch(r text, events jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event_batch('tap_dk5b', r, events)::jsonb $$;
CREATE FUNCTION pg_temp.batch_sql(r text, events jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.batch(%L, %L)', r, events) $$;
CREATE FUNCTION pg_temp.item(t text, c text, d jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('event', jsonb_build_object('eventType', t, 'correlationId', c, 'specVersion', 7)
                                     || CASE WHEN d IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('eventData', d) END)
$$;

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5B01'''
\set old '''wrun_01ARZ3NDEKTSV4RRFFQ69G5B02'''
SELECT workflow.create_event('tap_dk5b', :run, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}', 7);
SELECT workflow.create_event('tap_dk5b', :run, 'run_started', NULL, NULL, 7);
SELECT workflow.create_event('tap_dk5b', :old, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}', 3);

SELECT pg_temp.batch(:run, jsonb_build_array(
  pg_temp.item('step_created', 's1', '{"stepName":"a","input":null}'),
  pg_temp.item('step_started', 's1'),
  pg_temp.item('step_created', 's2', '{"stepName":"a","input":null}'),
  pg_temp.item('wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}'))) AS first \gset
SELECT is(jsonb_path_query_array(:'first'::jsonb, '$.results[*].status'), '[200, 200, 200, 200]'::jsonb,
          'four events, four successes');
SELECT is(jsonb_path_query_array(:'first'::jsonb, '$.results[*].event.eventId'),
          '["evnt_00000000000000000000000003", "evnt_00000000000000000000000004", "evnt_00000000000000000000000005", "evnt_00000000000000000000000006"]'::jsonb,
          'appended in request order in consecutive slots');
SELECT is(:'first'::jsonb #>> '{results,1,step,status}', 'running', 'the born-running pair started its step');
SELECT is(:'first'::jsonb #>> '{results,3,wait,status}', 'waiting', 'each success carries its entity');
SELECT is(:'first'::jsonb #> '{results,0}' ? 'events', false, 'no events page on batched writes');

-- A retried batch: the pair's create is refused, and so is its start.
SELECT pg_temp.batch(:run, jsonb_build_array(
  pg_temp.item('step_created', 's1', '{"stepName":"a","input":null}'),
  pg_temp.item('step_started', 's1'),
  pg_temp.item('step_created', 's3', '{"stepName":"a","input":null}'))) AS second \gset
SELECT is(jsonb_path_query_array(:'second'::jsonb, '$.results[*].status'), '[409, 409, 200]'::jsonb,
          'a refused create and its paired start are 409, the rest commits');
SELECT is(:'second'::jsonb #>> '{results,0,error}', 'WF_STEP_EXISTS', 'with the single create''s WF_ code');
SELECT is((SELECT attempt FROM workflow.steps WHERE app_id = 'tap_dk5b' AND run_id = :run AND step_id = 's1'), 1,
          'the other writer''s step was not started again');
SELECT is(:'second'::jsonb #>> '{results,2,event,eventId}', 'evnt_00000000000000000000000007',
          'refused events take no slot');

SELECT throws_ok(pg_temp.batch_sql(:old, jsonb_build_array(pg_temp.item('wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}'))),
                 'PW400', NULL, 'a spec-3 run takes no batch');
SELECT throws_ok(pg_temp.batch_sql('wrun_01ARZ3NDEKTSV4RRFFQ69G5B03', jsonb_build_array(pg_temp.item('step_created', 's1', '{"stepName":"a"}'))),
                 'PW404', NULL, 'an unknown run: 404');
SELECT throws_ok(pg_temp.batch_sql(:run, '[]'), 'PW400', NULL, 'an empty batch: 400');
SELECT throws_ok(pg_temp.batch_sql(:run, (SELECT jsonb_agg(pg_temp.item('step_created', 'x' || i, '{"stepName":"a"}')) FROM generate_series(1, 101) i)),
                 'PW400', NULL, 'more than 100 events: 400');

SELECT * FROM finish();
ROLLBACK;
