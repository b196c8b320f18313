-- pgTAP: the stateUpdatedAt precondition of workflow.create_event (412 WF_PRECONDITION_FAILED).
-- The runtime sends the ULID time (epoch ms) of the latest event it loaded; the run keeps the
-- time of its latest external hook_received / step_completed (created without stateUpdatedAt).
BEGIN;
SELECT set_config('workflow.app_id', 'tap_guard', false);
SELECT plan(32);
SELECT workflow.ensure_app('tap_guard');

-- ev(run, type, correlation, data, stateUpdatedAt)
CREATE FUNCTION pg_temp.ev(r text, t text, c text, d jsonb, since bigint) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_guard', r, t, c, d, 3, 'all', since)::jsonb $$;
CREATE FUNCTION pg_temp.ev_sql(r text, t text, c text, d jsonb, since bigint) RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.ev(%L, %L, %L, %L, %s)', r, t, c, d, coalesce(since::text, 'NULL')) $$;
-- The time the runtime reads from an event id: the ULID's first 10 characters, base32 ms.
CREATE FUNCTION pg_temp.ulid_ms(event_id text) RETURNS bigint
LANGUAGE sql AS $$
  SELECT sum((strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(u, i, 1)) - 1)::bigint << (5 * (10 - i)))::bigint
    FROM (SELECT split_part(event_id, '_', 2) AS u) x, generate_series(1, 10) i
$$;
CREATE FUNCTION pg_temp.marker(r text) RETURNS bigint
LANGUAGE sql AS $$ SELECT workflow.epoch_ms(state_updated_at) FROM workflow.runs WHERE app_id = 'tap_guard' AND run_id = r $$;
CREATE FUNCTION pg_temp.latest_ms(r text) RETURNS bigint
LANGUAGE sql AS $$ SELECT pg_temp.ulid_ms(event_id) FROM workflow.events
                    WHERE app_id = 'tap_guard' AND run_id = r ORDER BY run_ordinal DESC LIMIT 1 $$;
CREATE FUNCTION pg_temp.events_of(r text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM workflow.events WHERE app_id = 'tap_guard' AND run_id = r $$;
-- The DETAIL (meta) of a refusal.
CREATE FUNCTION pg_temp.refusal_meta(stmt text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE detail text;
BEGIN
  EXECUTE stmt;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN jsonb_build_object('sqlstate', SQLSTATE) || detail::jsonb;
END $$;

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5G00'''
SELECT pg_temp.ev(:run, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}', NULL);
SELECT pg_temp.ev(:run, 'run_started', NULL, NULL, 0);

-- A run without external events has nothing to be stale against.
SELECT is(pg_temp.marker(:run), NULL, 'a new run has no external event time');
SELECT is(pg_temp.ev(:run, 'step_created', 's1', '{"stepName":"a"}', 0) #>> '{step,status}', 'pending',
          'any stateUpdatedAt passes before the first external event');
SELECT ok(pg_temp.ev(:run, 'step_started', 's1', NULL, NULL) IS NOT NULL, 'step started');

-- An external step_completed (no stateUpdatedAt) sets the time, to the ms of its event id.
SELECT ok(pg_temp.ev(:run, 'step_completed', 's1', '{"result":1}', NULL) IS NOT NULL, 'external step_completed');
SELECT is(pg_temp.marker(:run), pg_temp.latest_ms(:run), 'the run''s state time is the ULID time of the step_completed event');
SELECT is((SELECT state_updated_at FROM workflow.runs WHERE run_id = :run),
          (SELECT date_trunc('milliseconds', created_at) FROM workflow.events WHERE run_id = :run AND event_type = 'step_completed'),
          'kept to the millisecond: a snapshot cannot be finer than that');

-- The runtime's own snapshot (the latest loaded event id's time) always passes: equal is not stale.
SELECT is(pg_temp.ev(:run, 'step_created', 's2', '{"stepName":"a"}', pg_temp.latest_ms(:run)) #>> '{step,status}', 'pending',
          'stateUpdatedAt equal to the state time passes');
SELECT is(pg_temp.ev(:run, 'step_created', 's3', '{"stepName":"a"}', pg_temp.marker(:run) + 1) #>> '{step,status}', 'pending',
          'a newer stateUpdatedAt passes');

-- One millisecond older: stale.
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's4', '{"stepName":"a"}', pg_temp.marker(:run) - 1),
                 'PW412', NULL, 'an older stateUpdatedAt: 412');
SELECT is(pg_temp.refusal_meta(pg_temp.ev_sql(:run, 'wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}', pg_temp.marker(:run) - 1)),
          jsonb_build_object('sqlstate', 'PW412', 'runId', :run, 'stateUpdatedAt', pg_temp.marker(:run),
                             'requestStateUpdatedAt', pg_temp.marker(:run) - 1),
          'the 412 meta names the run''s current state time and the stale one');
SELECT is((SELECT count(*) FROM workflow.steps WHERE run_id = :run AND step_id = 's4'), 0::bigint, 'the refused step was not created');
SELECT is(pg_temp.events_of(:run), 7::bigint, 'the refusals appended nothing');
SELECT is(pg_temp.ev(:run, 'step_created', 's4', '{"stepName":"a"}', NULL) #>> '{step,status}', 'pending',
          'the same event without stateUpdatedAt is not guarded');
SELECT is(workflow.create_event('tap_guard', :run, 'step_created', 's5', '{"stepName":"a"}', 3)::jsonb #>> '{step,status}', 'pending',
          'nor is the seven-argument form');

-- Events that carry stateUpdatedAt come from a replay: they never move the state time.
SELECT ok(pg_temp.ev(:run, 'step_started', 's2', NULL, NULL) IS NOT NULL, 'step s2 started');
UPDATE workflow.runs SET state_updated_at = state_updated_at - interval '1 hour' WHERE run_id = :run;
SELECT lives_ok(pg_temp.ev_sql(:run, 'step_completed', 's2', '{"result":2}', pg_temp.marker(:run)),
                'step_completed with stateUpdatedAt');
SELECT is(pg_temp.marker(:run) < pg_temp.latest_ms(:run) - 1000, true, 'a step_completed with stateUpdatedAt leaves the state time alone');

-- hook_received: external without stateUpdatedAt, replay-origin with it.
SELECT ok(pg_temp.ev(:run, 'hook_created', 'h1', '{"token":"tap-guard-token"}', pg_temp.marker(:run)) IS NOT NULL, 'hook created');
SELECT lives_ok(pg_temp.ev_sql(:run, 'hook_received', 'h1', '{"payload":1}', pg_temp.marker(:run)), 'hook_received with stateUpdatedAt');
SELECT is(pg_temp.marker(:run) < pg_temp.latest_ms(:run) - 1000, true, 'a hook_received with stateUpdatedAt leaves the state time alone');
SELECT ok(pg_temp.ev(:run, 'hook_received', 'h1', '{"payload":2}', NULL) IS NOT NULL, 'external hook_received');
SELECT is(pg_temp.marker(:run), pg_temp.latest_ms(:run), 'an external hook_received sets the state time');

-- run_completed decided on a stale log is refused, and the run stays running.
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_completed', NULL, '{"output":1}', pg_temp.marker(:run) - 1), 'PW412', NULL,
                 'run_completed with a stale stateUpdatedAt: 412');
SELECT is((SELECT status FROM workflow.runs WHERE run_id = :run), 'running', 'the run is still running');

SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 's6', '{"stepName":"a"}', -1), 'PW400', NULL, 'a negative stateUpdatedAt: 400');
SELECT throws_ok(pg_temp.ev_sql('wrun_01ARZ3NDEKTSV4RRFFQ69G5G99', 'step_created', 's1', '{"stepName":"a"}', 0), 'PW404', NULL,
                 'stateUpdatedAt on an unknown run: 404');
SELECT is(pg_temp.ev(:run, 'run_completed', NULL, '{"output":1}', pg_temp.latest_ms(:run)) #>> '{run,status}', 'completed',
          'run_completed with the current snapshot completes the run');

-- Under the privilege model: as the API request role, both forms are API
-- functions (SECURITY DEFINER as pgw_api) acting only for the request's app.
\set run2 '''wrun_01ARZ3NDEKTSV4RRFFQ69G5G01'''
SELECT workflow.ensure_app('tap_guard_other');
SET LOCAL ROLE pgw_tenant;
SELECT is(workflow.create_event('tap_guard', :run2, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}',
                                3, 'all', NULL)::jsonb #>> '{run,status}', 'pending', 'pgw_tenant creates a run with the eight-argument form');
SELECT is(workflow.create_event('tap_guard', :run2, 'run_started', NULL, NULL, 3)::jsonb #>> '{run,status}', 'running',
          'and writes through the seven-argument wrapper');
SELECT throws_ok(format('SELECT workflow.create_event(%L, %L, %L, NULL, NULL, 3, %L, 0)', 'tap_guard_other', :run2, 'run_cancelled', 'all'),
                 'PW403', NULL, 'the eight-argument form refuses another app''s id (403)');
SELECT throws_ok(format('SELECT workflow.create_event(%L, %L, %L, NULL, NULL, 3)', 'tap_guard_other', :run2, 'run_cancelled'),
                 'PW403', NULL, 'so does the seven-argument wrapper');
SELECT throws_ok(format('UPDATE workflow.runs SET state_updated_at = now() WHERE run_id = %L', :run2),
                 '42501', NULL, 'pgw_tenant cannot move the state time itself');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
