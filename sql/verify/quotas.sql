-- Verify pg-workflow:quotas
BEGIN;
SELECT app_id, active_runs FROM workflow.app_usage WHERE false;
SELECT 'workflow.count_active_runs()'::regprocedure;
SELECT 1 / count(*)::int FROM pg_trigger WHERE tgrelid = 'workflow.runs'::regclass AND tgname = 'runs_count_active';
-- insert_run checks the counter
SELECT 1 / (strpos(prosrc, 'app_usage') > 0)::int FROM pg_proc
 WHERE oid = 'workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz)'::regprocedure;
ROLLBACK;
