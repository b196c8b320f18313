-- Verify pg-workflow:handoff
BEGIN;
SELECT 'workflow.handoff_message(text, text, integer, numeric, numeric)'::regprocedure,
       'workflow.create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric)'::regprocedure,
       'workflow.enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric)'::regprocedure;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant',
           'workflow.create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric)',
           'EXECUTE'), 'pgw_tenant cannot execute create_event_handoff';
  ASSERT NOT has_function_privilege('pgw_tenant', 'workflow.handoff_message(text, text, integer, numeric, numeric)',
           'EXECUTE'), 'pgw_tenant may execute handoff_message';
END $$;
ROLLBACK;
