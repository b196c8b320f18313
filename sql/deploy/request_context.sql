-- Deploy pg-workflow:request_context
-- The tenant scope of one API request, set by the statement itself so that a
-- request is a single statement (one round trip, its own transaction):
--   SELECT workflow.get_run(ctx.app_id, ...) FROM workflow.request_context(%(app_id)s) AS ctx
-- The FROM item runs before the select list (and LATERAL items that use
-- ctx.app_id), so everything the request does sees the app id.
BEGIN;

CREATE FUNCTION workflow.request_context(p_app_id text) RETURNS TABLE (app_id text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- Row-level security binds pgw_tenant only: refuse to scope a request on
  -- a connection that would bypass it, rather than silently see every app.
  IF current_user <> 'pgw_tenant' THEN
    RAISE EXCEPTION 'workflow.request_context must run as role pgw_tenant, not %', current_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM set_config('workflow.app_id', p_app_id, true);
  app_id := p_app_id;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION workflow.request_context(text) IS
  'Scopes the current transaction to one app (setting workflow.app_id); only for role pgw_tenant. Returns the app id.';
GRANT EXECUTE ON FUNCTION workflow.request_context(text) TO pgw_tenant;

COMMIT;
