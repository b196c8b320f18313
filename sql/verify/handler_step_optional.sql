-- Verify pg-workflow:handler_step_optional
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.register_handler(text, text, text, text, text, text, text)',
                                'EXECUTE'), 'pgw_tenant cannot execute register_handler';
  ASSERT (SELECT prosrc LIKE '%coalesce(p_step_url, p_workflow_url)%' FROM pg_proc
           WHERE oid = 'workflow.register_handler(text, text, text, text, text, text, text)'::regprocedure),
         'register_handler still requires a step URL';
END $$;
ROLLBACK;
