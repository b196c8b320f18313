-- Verify pg-workflow:devkit5_events
BEGIN;
SELECT 'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)'::regprocedure,
       'workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint)'::regprocedure,
       'workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb)'::regprocedure,
       'workflow.event_cursor(text, text, text)'::regprocedure,
       'workflow.attributes_merge(jsonb, jsonb, boolean)'::regprocedure;
SELECT attributes, error_code, encryption_public_key FROM workflow.runs WHERE false;
SELECT is_system, token_retention_until, resume_context FROM workflow.hooks WHERE false;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant',
           'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute the ten-argument create_event';
  ASSERT NOT has_function_privilege('pgw_tenant',
           'workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb)', 'EXECUTE'),
         'create_event_v6 is executable by pgw_tenant';
  ASSERT workflow.slot_event_id(7) = 'evnt_00000000000000000000000007', 'slot ids are not evnt_ + 26 digits';
END $$;
ROLLBACK;
