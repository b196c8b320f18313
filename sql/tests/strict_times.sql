-- pgTAP: strict_times — eventData times are ISO-8601 strings or epoch ms, nothing else.
BEGIN;
SELECT plan(28);

CREATE FUNCTION pg_temp.t(v jsonb) RETURNS timestamptz
LANGUAGE sql AS $$ SELECT workflow.event_time(jsonb_build_object('resumeAt', v), 'resumeAt', true) $$;
CREATE FUNCTION pg_temp.t_sql(v text) RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.t(%L::jsonb)', v) $$;

-- accepted forms
SELECT is(pg_temp.t('"2026-01-31T12:00:00.000Z"'), '2026-01-31 12:00:00+00'::timestamptz, 'ISO with milliseconds and Z');
SELECT is(pg_temp.t('"2026-01-31T12:00:00+02:00"'), '2026-01-31 10:00:00+00'::timestamptz, 'ISO with an offset');
SELECT is(pg_temp.t('"2026-01-31 12:00"'), '2026-01-31 12:00:00+00'::timestamptz, 'ISO with a space and no seconds');
SELECT is(pg_temp.t('"2026-01-31"'), '2026-01-31 00:00:00+00'::timestamptz, 'a date alone');
SELECT is(pg_temp.t('1769860800000'), '2026-01-31 12:00:00+00'::timestamptz, 'epoch milliseconds');
SELECT is(pg_temp.t('1769860800000.5'), to_timestamp(1769860800.0005), 'fractional epoch milliseconds');
SELECT is(pg_temp.t('-1000'), '1969-12-31 23:59:59+00'::timestamptz, 'negative epoch milliseconds');
SELECT is(workflow.event_time('{}', 'retryAfter', false), NULL, 'an optional time may be absent');
SELECT is(workflow.event_time('{"retryAfter": null}', 'retryAfter', false), NULL, 'an optional time may be null');
SELECT is(workflow.event_time(NULL, 'retryAfter', false), NULL, 'no eventData at all: no time');

-- refused: the keywords timestamptz would otherwise parse
SELECT throws_ok(pg_temp.t_sql('"infinity"'), 'PW400', NULL, 'infinity: 400');
SELECT throws_ok(pg_temp.t_sql('"-infinity"'), 'PW400', NULL, '-infinity: 400');
SELECT throws_ok(pg_temp.t_sql('"epoch"'), 'PW400', NULL, 'epoch: 400');
SELECT throws_ok(pg_temp.t_sql('"now"'), 'PW400', NULL, 'now: 400');
SELECT throws_ok(pg_temp.t_sql('"today"'), 'PW400', NULL, 'today: 400');
SELECT throws_ok(pg_temp.t_sql('"tomorrow"'), 'PW400', NULL, 'tomorrow: 400');
SELECT throws_ok(pg_temp.t_sql('"yesterday"'), 'PW400', NULL, 'yesterday: 400');
SELECT throws_ok(pg_temp.t_sql('"allballs"'), 'PW400', NULL, 'allballs: 400');
SELECT throws_ok(pg_temp.t_sql('"January 31 2026"'), 'PW400', NULL, 'a non-ISO date: 400');
SELECT throws_ok(pg_temp.t_sql('"2026-02-30T00:00:00Z"'), 'PW400', NULL, 'a day that does not exist: 400');
SELECT throws_ok(pg_temp.t_sql('""'), 'PW400', NULL, 'an empty string: 400');
SELECT throws_ok(pg_temp.t_sql('"2026-01-31\n"'), 'PW400', NULL, 'a trailing newline: 400');
SELECT throws_ok(pg_temp.t_sql('1e300'), 'PW400', NULL, 'epoch ms beyond the Date range: 400');
SELECT throws_ok(pg_temp.t_sql('true'), 'PW400', NULL, 'a boolean: 400');
SELECT throws_ok(pg_temp.t_sql('{"at": 1}'), 'PW400', NULL, 'an object: 400');
SELECT throws_ok($$ SELECT workflow.event_time('{}', 'resumeAt', true) $$, 'PW400',
                 'eventData.resumeAt is required', 'a required time that is missing: 400 naming it');

-- through create_event: refused and nothing written
SELECT workflow.ensure_app('tap_times');
SELECT set_config('workflow.app_id', 'tap_times', false);
SELECT workflow.create_event('tap_times', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT throws_ok($$ SELECT workflow.create_event('tap_times', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'wait_created', 'w1',
                                                 '{"resumeAt":"infinity"}', 3) $$,
                 'PW400', NULL, 'wait_created with resumeAt infinity: 400');
SELECT is((SELECT count(*) FROM workflow.waits WHERE app_id = 'tap_times'), 0::bigint, 'the refused wait was not stored');

SELECT * FROM finish();
ROLLBACK;
