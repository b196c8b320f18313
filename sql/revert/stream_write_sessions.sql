-- Revert pg-workflow:stream_write_sessions
BEGIN;

DROP FUNCTION workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean);
DROP TABLE workflow.stream_writers;

COMMIT;
