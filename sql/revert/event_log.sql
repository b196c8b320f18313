-- Revert pg-workflow:event_log
BEGIN;
DROP TABLE workflow.waits, workflow.hooks, workflow.events, workflow.steps, workflow.runs;
COMMIT;
