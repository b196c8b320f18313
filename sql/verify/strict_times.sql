-- Verify pg-workflow:strict_times: event_time refuses a timestamptz keyword.
BEGIN;
DO $$
BEGIN
  PERFORM workflow.event_time('{"t": "infinity"}', 't', true);
  RAISE EXCEPTION 'workflow.event_time still accepts "infinity"';
EXCEPTION WHEN SQLSTATE 'PW400' THEN
  NULL;
END $$;
ROLLBACK;
