-- Verify pg-workflow:metrics
BEGIN;
SELECT 'workflow.metrics_snapshot()'::regprocedure, 'workflow.count_dead_letter()'::regprocedure,
       'workflow.dead_lettered_count'::regclass;
SELECT 1/count(*) FROM pg_trigger
 WHERE tgrelid = 'workflow.messages'::regclass AND tgname = 'messages_count_dead_update';
SELECT 1/count(*) FROM pg_trigger
 WHERE tgrelid = 'workflow.messages'::regclass AND tgname = 'messages_count_dead_insert';
SELECT 1 / (workflow.metrics_snapshot() ? 'queueWaiting')::int;
ROLLBACK;
