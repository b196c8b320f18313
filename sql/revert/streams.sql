-- Revert pg-workflow:streams
BEGIN;
DROP FUNCTION workflow.get_stream_info(text, text, text);
DROP FUNCTION workflow.get_stream_chunks(text, text, text, integer, text);
DROP FUNCTION workflow.list_streams(text, text);
DROP FUNCTION workflow.read_stream(text, text, integer, integer, integer);
DROP FUNCTION workflow.write_stream(text, text, text, bytea[], boolean);
DROP FUNCTION workflow.binary_json(bytea);
DROP FUNCTION workflow.check_stream_name(text);
DROP TABLE workflow.stream_chunks, workflow.streams;
DROP FUNCTION workflow.is_health_check_stream(text);
COMMIT;
