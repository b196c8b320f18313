-- Revert pg-workflow:event_messages
BEGIN;
DROP FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb);
DROP FUNCTION workflow.event_message_check(text, text, text, jsonb);
COMMIT;
