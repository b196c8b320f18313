-- Verify pg-workflow:devkit5_analytics_api
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.analytics_runs(text, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute analytics_runs';
  ASSERT has_table_privilege('pgw_api', 'workflow_analytics.runs', 'SELECT'), 'pgw_api cannot read workflow_analytics.runs';
END $$;
ROLLBACK;
