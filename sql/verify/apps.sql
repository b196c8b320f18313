-- Verify pg-workflow:apps
BEGIN;
SELECT app_id, max_runs, max_events_per_run, max_queue_per_minute, created_at FROM workflow.apps WHERE false;
SELECT 1 / (SELECT relrowsecurity::int FROM pg_class WHERE oid = 'workflow.apps'::regclass);
SELECT 'workflow.ensure_app(text)'::regprocedure, 'workflow.require_app(text)'::regprocedure;
ROLLBACK;
