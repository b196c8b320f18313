-- Revert pg-workflow:run_actions
BEGIN;
DROP FUNCTION workflow.get_workflow_template(text, text, text);
DROP FUNCTION workflow.wake_up_run(text, text);
DROP FUNCTION workflow.replay_run(text, text, text);
DROP FUNCTION workflow.cancel_run(text, text, text);
DROP FUNCTION workflow.workflow_queue_of(workflow.runs);
DROP FUNCTION workflow.lock_run_row(text, text);
COMMIT;
