-- Verify pg-workflow:analytics
BEGIN;
SELECT app_id, workflow_name, runs, failure_rate, p50_duration_seconds, p95_duration_seconds, p99_duration_seconds
  FROM workflow_analytics.workflow_stats WHERE false;
SELECT app_id, step_name, attempts, p95_duration_seconds FROM workflow_analytics.step_stats WHERE false;
SELECT app_id, queue_name, max_lag_seconds, dead_letters FROM workflow_analytics.queue_stats WHERE false;
SELECT app_id, deployment_id, active_runs, live_hooks, waiting_waits FROM workflow_analytics.deployment_stats WHERE false;
SELECT role_name, app_id FROM workflow.analyst_apps WHERE false;
SELECT 1 / (relrowsecurity AND relforcerowsecurity)::int FROM pg_class WHERE oid = 'workflow.analyst_apps'::regclass;
SELECT app_id, active_runs FROM workflow_analytics.apps WHERE false;
SELECT app_id, namespace, service_account FROM workflow_analytics.k8s_bindings WHERE false;
SELECT 1 / (count(*) = 2)::int FROM pg_roles WHERE rolname IN ('pgw_analyst', 'pgw_analyst_all');
SELECT 1 / count(*)::int FROM pg_class c
 WHERE c.relnamespace = 'workflow_analytics'::regnamespace AND c.relkind = 'v'
   AND 'security_invoker=true' = ANY (c.reloptions);
ROLLBACK;
