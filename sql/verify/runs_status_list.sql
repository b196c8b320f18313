-- Verify pg-workflow:runs_status_list
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.list_runs(text, text[], text, text, integer, text, text, text)',
                                'EXECUTE'), 'pgw_tenant cannot execute list_runs with a status list';
END $$;
ROLLBACK;
