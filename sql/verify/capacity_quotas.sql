-- Verify pg-workflow:capacity_quotas
BEGIN;
SELECT max_message_bytes, max_queued_bytes, max_stream_bytes, max_concurrent_requests FROM workflow.apps WHERE false;
SELECT app_id, backend_pid, queued_bytes, stream_bytes FROM workflow.app_byte_usage WHERE false;
SELECT 1 / count(*)::int FROM workflow.stream_notify_secret;
SELECT 'workflow.add_app_bytes(text, bigint, bigint)'::regprocedure, 'workflow.app_bytes(text)'::regprocedure,
       'workflow.count_queued_bytes()'::regprocedure, 'workflow.count_stream_bytes()'::regprocedure,
       'workflow.count_queued_bytes_changed()'::regprocedure, 'workflow.count_queued_bytes_deleted()'::regprocedure,
       'workflow.stream_wake_key(text, text)'::regprocedure, 'workflow.stream_notify_secret()'::regprocedure,
       'workflow.request_caps()'::regprocedure;
SELECT 1 / (count(*) = 5)::int FROM pg_trigger
 WHERE tgname IN ('messages_queued_bytes_insert', 'messages_queued_bytes_update', 'messages_queued_bytes_delete',
                  'stream_chunks_count_inserted', 'stream_chunks_count_deleted');
-- write_stream notifies the opaque key
SELECT 1 / (strpos(prosrc, 'stream_wake_key') > 0)::int FROM pg_proc
 WHERE oid = 'workflow.write_stream(text, text, text, bytea[], boolean)'::regprocedure;
ROLLBACK;
