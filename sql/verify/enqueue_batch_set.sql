-- Verify pg-workflow:enqueue_batch_set
BEGIN;
DO $$
BEGIN
  ASSERT (SELECT pg_get_triggerdef(oid) LIKE '%workflow.batch_insert%' FROM pg_trigger
           WHERE tgrelid = 'workflow.messages'::regclass AND tgname = 'messages_queued_bytes_insert'),
         'messages_queued_bytes_insert does not stand aside for enqueue_batch';
  ASSERT to_regprocedure('workflow.count_inserted_bytes(bigint[])') IS NOT NULL, 'count_inserted_bytes is missing';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.enqueue_batch(text, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute enqueue_batch';
  ASSERT NOT has_function_privilege('pgw_tenant', 'workflow.count_enqueue(workflow.apps, timestamptz, integer)',
                                    'EXECUTE'), 'pgw_tenant can execute count_enqueue';
END $$;
ROLLBACK;
