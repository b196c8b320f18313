-- Revert pg-workflow:claim_sessions
BEGIN;
DROP FUNCTION workflow.claim_messages(integer, integer, numeric, numeric);
DROP FUNCTION workflow.route_messages(bigint[], numeric, numeric, integer);
DROP FUNCTION workflow.reap_dispatcher_sessions(numeric);
DROP FUNCTION workflow.close_dispatcher_session(integer);
DROP FUNCTION workflow.resume_dispatcher_session(integer);
DROP FUNCTION workflow.open_dispatcher_session(text);
DROP FUNCTION workflow.reap_session(integer, timestamptz);
DROP FUNCTION workflow.session_gone(integer);
DROP FUNCTION workflow.session_lock_class();
DROP INDEX workflow.messages_claimed_by;
ALTER TABLE workflow.messages DROP COLUMN claimed_by;
DROP TABLE workflow.dispatcher_sessions;
COMMIT;
