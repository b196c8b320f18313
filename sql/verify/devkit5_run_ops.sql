-- Verify pg-workflow:devkit5_run_ops
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.cancel_runs(text, jsonb, text)', 'EXECUTE'),
         'pgw_tenant cannot execute cancel_runs';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.get_runs(text, jsonb, text)', 'EXECUTE'),
         'pgw_tenant cannot execute get_runs';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.run_wait_state(text, text, text)', 'EXECUTE'),
         'pgw_tenant cannot execute run_wait_state';
  ASSERT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'runs_terminal_notify'), 'trigger runs_terminal_notify missing';
END $$;
ROLLBACK;
