-- Revert pg-workflow:request_context_bound_only
BEGIN;

GRANT EXECUTE ON FUNCTION workflow.request_context(text) TO pgw_tenant;
COMMENT ON FUNCTION workflow.request_context(text) IS
  'Scopes the current transaction to one app (setting workflow.app_id); only for role pgw_tenant. Returns the app id.';

COMMIT;
