-- Revert pg-workflow:analytics
BEGIN;
DROP SCHEMA workflow_analytics CASCADE;
DO $$
DECLARE
  t regclass;
BEGIN
  FOREACH t IN ARRAY ARRAY['workflow.apps', 'workflow.runs', 'workflow.steps', 'workflow.events', 'workflow.hooks',
                           'workflow.waits', 'workflow.messages', 'workflow.deployment_versions',
                           'workflow.handlers', 'workflow.app_usage', 'workflow.k8s_bindings']::regclass[] LOOP
    EXECUTE format('DROP POLICY analyst_mapped_apps ON %s', t);
    EXECUTE format('DROP POLICY analyst_all_apps ON %s', t);
    -- revoking the table privilege revokes the column privileges too
    EXECUTE format('REVOKE SELECT ON %s FROM pgw_analyst', t);
  END LOOP;
END $$;
DROP TABLE workflow.analyst_apps;
-- pgw_analyst and pgw_analyst_all are cluster-wide and may serve other databases: they stay.
COMMIT;
