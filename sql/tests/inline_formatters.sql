-- pgTAP: workflow.iso and workflow.epoch_ms are STABLE, so statements inline them (change inline_formatters).
BEGIN;
SELECT plan(6);

SELECT volatility_is('workflow', 'iso', ARRAY['timestamp with time zone'], 'stable', 'iso is STABLE, as to_char is');
SELECT volatility_is('workflow', 'epoch_ms', ARRAY['timestamp with time zone'], 'stable', 'epoch_ms is STABLE, as extract is');
SELECT is(workflow.iso('2026-01-02 03:04:05.678+00'), '2026-01-02T03:04:05.678Z', 'iso: UTC with milliseconds');
SELECT is(workflow.epoch_ms('2026-01-02 03:04:05.678+00'), 1767323045678::bigint, 'epoch_ms: milliseconds since 1970');

-- Inlined: the plan of a statement using them shows their bodies, not a call.
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO plan;
  RETURN plan::text;
END $$;
SELECT ok(pg_temp.plan_of('SELECT workflow.iso(t) FROM (VALUES (now())) v(t)') LIKE '%to_char%',
          'iso is inlined into the statement');
SELECT ok(pg_temp.plan_of('SELECT workflow.epoch_ms(t) FROM (VALUES (now())) v(t)') LIKE '%EXTRACT%',
          'epoch_ms is inlined into the statement');

SELECT * FROM finish();
ROLLBACK;
