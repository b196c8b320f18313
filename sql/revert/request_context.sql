-- Revert pg-workflow:request_context
BEGIN;
DROP FUNCTION workflow.request_context(text);
COMMIT;
