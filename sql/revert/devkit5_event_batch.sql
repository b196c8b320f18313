-- Revert pg-workflow:devkit5_event_batch
BEGIN;
DROP FUNCTION workflow.create_event_batch(text, text, jsonb, text);
COMMIT;
