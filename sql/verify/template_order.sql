-- Verify pg-workflow:template_order
BEGIN;
SELECT 'workflow.get_workflow_template(text, text, text)'::regprocedure;
DO $$
BEGIN
  ASSERT (SELECT prosrc LIKE '%''order'', n.grp%' FROM pg_proc
           WHERE oid = 'workflow.get_workflow_template(text, text, text)'::regprocedure),
         'get_workflow_template does not number orders by group';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.get_workflow_template(text, text, text)', 'EXECUTE'),
         'pgw_tenant cannot execute get_workflow_template';
END $$;
ROLLBACK;
