-- Verify pg-workflow:request_context_bound_only
BEGIN;
DO $$
BEGIN
  ASSERT NOT has_function_privilege('pgw_tenant', 'workflow.request_context(text)', 'EXECUTE'),
         'pgw_tenant may still execute request_context(text)';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.request_context(text, text)', 'EXECUTE'),
         'pgw_tenant cannot execute request_context(text, text)';
END $$;
ROLLBACK;
