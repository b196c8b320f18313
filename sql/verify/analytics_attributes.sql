-- Verify pg-workflow:analytics_attributes
BEGIN;
SELECT attributes, root_run_id, parent_run_id, error_code FROM workflow_analytics.runs WHERE false;
DO $$
BEGIN
  ASSERT has_column_privilege('pgw_analyst', 'workflow.runs', 'attributes', 'SELECT'),
         'pgw_analyst cannot read runs.attributes';
END $$;
ROLLBACK;
