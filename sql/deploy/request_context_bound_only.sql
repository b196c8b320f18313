-- Deploy pg-workflow:request_context_bound_only
-- request_context(text) scopes a transaction to an app without checking that
-- the caller's service account is bound to it. The service has used the
-- two-argument form (binding checked in the same statement) since the admin
-- change, so the tenant role loses the old form: a tenant statement that
-- reaches SQL can only scope itself through the binding check.
-- The function itself stays, internal like every private function (the
-- function-owner roles keep EXECUTE; it refuses any role but pgw_tenant
-- anyway): dropping it is a separate, later step.
BEGIN;

REVOKE EXECUTE ON FUNCTION workflow.request_context(text) FROM pgw_tenant;
COMMENT ON FUNCTION workflow.request_context(text) IS
  'Superseded by request_context(text, text), which checks the caller''s service-account binding; not executable '
  'by pgw_tenant. Scopes the current transaction to one app (setting workflow.app_id).';

COMMIT;
