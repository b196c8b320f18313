-- Verify pg-workflow:streams
BEGIN;
SELECT app_id, name, run_id, stream_seq, next_index, created_at, updated_at, closed_at FROM workflow.streams WHERE false;
SELECT app_id, name, chunk_index, data FROM workflow.stream_chunks WHERE false;
SELECT 1 / count(*)::int / (count(*) = 2)::int FROM pg_class
 WHERE relrowsecurity AND oid IN ('workflow.streams'::regclass, 'workflow.stream_chunks'::regclass);
SELECT 'workflow.write_stream(text, text, text, bytea[], boolean)'::regprocedure,
       'workflow.read_stream(text, text, integer, integer, integer)'::regprocedure,
       'workflow.list_streams(text, text)'::regprocedure,
       'workflow.get_stream_chunks(text, text, text, integer, text)'::regprocedure,
       'workflow.get_stream_info(text, text, text)'::regprocedure,
       'workflow.binary_json(bytea)'::regprocedure,
       'workflow.is_health_check_stream(text)'::regprocedure;
ROLLBACK;
