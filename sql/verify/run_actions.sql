-- Verify pg-workflow:run_actions
BEGIN;
SELECT 'workflow.cancel_run(text, text, text)'::regprocedure,
       'workflow.replay_run(text, text, text)'::regprocedure,
       'workflow.wake_up_run(text, text)'::regprocedure,
       'workflow.get_workflow_template(text, text, text)'::regprocedure,
       'workflow.lock_run_row(text, text)'::regprocedure,
       'workflow.workflow_queue_of(workflow.runs)'::regprocedure;
-- Classified: the actions are API functions (SECURITY DEFINER as pgw_api), the helpers internal.
SELECT 1 / (prosecdef AND proowner = 'pgw_api'::regrole AND has_function_privilege('pgw_tenant', oid, 'EXECUTE'))::integer
  FROM pg_proc WHERE oid IN ('workflow.cancel_run(text, text, text)'::regprocedure,
                             'workflow.replay_run(text, text, text)'::regprocedure,
                             'workflow.wake_up_run(text, text)'::regprocedure,
                             'workflow.get_workflow_template(text, text, text)'::regprocedure);
SELECT 1 / (NOT has_function_privilege('pgw_tenant', 'workflow.lock_run_row(text, text)', 'EXECUTE'))::integer;
ROLLBACK;
