-- Verify pg-workflow:queue_hot_path
BEGIN;
SELECT payload_bytes FROM workflow.messages WHERE false;
SELECT 'workflow.release_queued_bytes(text, bigint)'::regprocedure, 'workflow.count_queued_bytes_row()'::regprocedure,
       'workflow.flush_queued_bytes()'::regprocedure;
ROLLBACK;
