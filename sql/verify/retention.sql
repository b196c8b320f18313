-- Verify pg-workflow:retention
BEGIN;
SELECT 'workflow.runs_finished'::regclass, 'workflow.messages_dead_since'::regclass,
       'workflow.check_purge(interval, integer)'::regprocedure,
       'workflow.purge_runs(interval, integer)'::regprocedure,
       'workflow.purge_delivered_messages(interval, integer)'::regprocedure,
       'workflow.purge_dead_letters(interval, integer)'::regprocedure,
       'workflow.purge_health_check_streams(interval, integer)'::regprocedure,
       'workflow.purge_queue_rate()'::regprocedure;
-- ack_messages no longer deletes delivered messages itself.
SELECT 1 / (position('delivered_at <' IN prosrc) = 0)::integer
  FROM pg_proc WHERE oid = 'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)'::regprocedure;
SELECT 1 / (NOT has_function_privilege('pgw_tenant', 'workflow.purge_runs(interval, integer)', 'EXECUTE'))::integer;
ROLLBACK;
