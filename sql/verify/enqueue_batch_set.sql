-- Verify pg-workflow:enqueue_batch_set
BEGIN;
DO $$
BEGIN
  ASSERT (SELECT NOT tgtype::integer & 1 = 1 AND tgnewtable = 'added' FROM pg_trigger
           WHERE tgrelid = 'workflow.messages'::regclass AND tgname = 'messages_queued_bytes_insert'),
         'messages_queued_bytes_insert is not a statement trigger over NEW TABLE added';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.enqueue_batch(text, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute enqueue_batch';
  ASSERT NOT has_function_privilege('pgw_tenant', 'workflow.count_enqueue(workflow.apps, timestamptz, integer)',
                                    'EXECUTE'), 'pgw_tenant can execute count_enqueue';
END $$;
ROLLBACK;
