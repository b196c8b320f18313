-- Verify pg-workflow:handler_leases
BEGIN;
SELECT expires_at FROM workflow.handlers WHERE false;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant',
           'workflow.register_handler(text, text, text, text, text, text, text, text[], numeric)', 'EXECUTE'),
         'pgw_tenant cannot execute register_handler with a TTL';
END $$;
ROLLBACK;
