-- Verify pg-workflow:event_messages
BEGIN;
SELECT 'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb)'::regprocedure,
       'workflow.event_message_check(text, text, text, jsonb)'::regprocedure;
DO $$
BEGIN
  ASSERT (SELECT prosecdef FROM pg_proc
           WHERE oid = 'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb)'::regprocedure),
         'the nine-argument create_event is not SECURITY DEFINER';
  ASSERT has_function_privilege('pgw_tenant',
           'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute the nine-argument create_event';
END $$;
ROLLBACK;
