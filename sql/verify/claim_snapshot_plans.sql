-- Verify pg-workflow:claim_snapshot_plans
BEGIN;
SELECT 1/(SELECT count(*)::integer FROM pg_proc
           WHERE oid = 'workflow.run_snapshot_bytes(text, text)'::regprocedure
             AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql'));
SELECT 1/(position('pg_backend_pid()' IN pg_get_functiondef('workflow.count_queued_bytes()'::regprocedure)) > 0)::integer;
ROLLBACK;
