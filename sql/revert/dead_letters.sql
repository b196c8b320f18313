-- Revert pg-workflow:dead_letters
BEGIN;
DROP FUNCTION workflow.retry_dead_letter(text, text);
DROP FUNCTION workflow.list_dead_letters(text, integer, text, text);
DROP FUNCTION workflow.message_json(workflow.messages);
COMMIT;
