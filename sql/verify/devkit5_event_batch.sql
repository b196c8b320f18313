-- Verify pg-workflow:devkit5_event_batch
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.create_event_batch(text, text, jsonb, text)', 'EXECUTE'),
         'pgw_tenant cannot execute create_event_batch';
END $$;
ROLLBACK;
