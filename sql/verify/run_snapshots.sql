-- Verify pg-workflow:run_snapshots
BEGIN;
SELECT features FROM workflow.handlers WHERE false;
SELECT 'workflow.run_started_snapshot(text, text)'::regprocedure, 'workflow.with_run_snapshots(jsonb)'::regprocedure,
       'workflow.register_handler(text, text, text, text, text, text, text, text[])'::regprocedure;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.register_handler(text, text, text, text, text, text, text, text[])',
           'EXECUTE'), 'pgw_tenant cannot execute register_handler with features';
  ASSERT NOT has_function_privilege('pgw_tenant', 'workflow.run_started_snapshot(text, text)', 'EXECUTE'),
         'pgw_tenant may execute run_started_snapshot';
END $$;
ROLLBACK;
