-- Verify pg-workflow:run_actions
BEGIN;
SELECT 'workflow.cancel_run(text, text, text)'::regprocedure,
       'workflow.replay_run(text, text, text)'::regprocedure,
       'workflow.wake_up_run(text, text)'::regprocedure,
       'workflow.get_workflow_template(text, text, text)'::regprocedure,
       'workflow.lock_run_row(text, text)'::regprocedure,
       'workflow.workflow_queue_of(workflow.runs)'::regprocedure;
SELECT 1 / has_function_privilege('pgw_tenant', 'workflow.cancel_run(text, text, text)', 'EXECUTE')::integer;
ROLLBACK;
