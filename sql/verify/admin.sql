-- Verify pg-workflow:admin
BEGIN;
SELECT app_id, namespace, service_account, created_at FROM workflow.k8s_bindings WHERE false;
SELECT 'workflow.create_app(text)'::regprocedure,
       'workflow.list_apps(integer, text)'::regprocedure,
       'workflow.bind_service_account(text, text, text)'::regprocedure,
       'workflow.unbind_service_account(text, text, text)'::regprocedure,
       'workflow.get_quotas(text)'::regprocedure,
       'workflow.set_quotas(text, jsonb)'::regprocedure,
       'workflow.version_status(text, text)'::regprocedure,
       'workflow.request_context(text, text)'::regprocedure;
-- expire_version reports cancelled runs
SELECT 1 / (strpos(prosrc, 'cancelledRuns') > 0)::int FROM pg_proc
 WHERE oid = 'workflow.expire_version(text, text)'::regprocedure;
ROLLBACK;
