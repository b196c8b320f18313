-- Revert pg-workflow:tenant_policies
-- Back to the earlier model: functions owned by the deploying user, run with
-- the caller's rights; pgw_tenant writes tables under (unforced) row-level
-- security. The roles pgw_api and pgw_service stay: other databases of the
-- cluster may use them.
BEGIN;

DO $$ BEGIN
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT EXECUTE ON FUNCTIONS TO PUBLIC', current_user);
END $$;

DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'workflow'::regnamespace ORDER BY p.oid LOOP
    IF (SELECT proowner FROM pg_proc WHERE oid = f) <> (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN
      EXECUTE format('ALTER FUNCTION %s OWNER TO %I', f, current_user);
    END IF;
    IF (SELECT prosecdef FROM pg_proc WHERE oid = f) THEN
      EXECUTE format('ALTER FUNCTION %s SECURITY INVOKER RESET search_path', f);
    END IF;
  END LOOP;
END $$;

DROP FUNCTION workflow.expose_internal(regprocedure);
DROP FUNCTION workflow.expose_service(regprocedure);
DROP FUNCTION workflow.expose_api(regprocedure);
DROP FUNCTION workflow.set_function_owner(regprocedure, name);

CREATE OR REPLACE FUNCTION workflow.require_app(p_app_id text) RETURNS workflow.apps
LANGUAGE plpgsql STABLE AS $$
DECLARE
  a workflow.apps;
BEGIN
  SELECT * INTO a FROM workflow.apps WHERE app_id = p_app_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_APP_NOT_FOUND', format('app %L does not exist', p_app_id));
  END IF;
  RETURN a;
END $$;
COMMENT ON FUNCTION workflow.require_app(text) IS 'Returns the app row, refusing (404) an app that does not exist or is not visible to the request.';

CREATE OR REPLACE FUNCTION workflow.enable_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s TO pgw_tenant '
    'USING (app_id = (SELECT workflow.current_app_id())) '
    'WITH CHECK (app_id = (SELECT workflow.current_app_id()))', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgw_tenant', tbl);
END $$;
COMMENT ON FUNCTION workflow.enable_tenant_rls(regclass) IS
  'Enables row-level security on a tenant table with the policy app_id = workflow.current_app_id().';

-- Function privileges as the earlier changes left them.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workflow FROM pgw_api, pgw_service;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;
REVOKE EXECUTE ON FUNCTION
  workflow.claim_messages(integer, numeric, numeric),
  workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric),
  workflow.release_messages(jsonb),
  workflow.quotas_json(workflow.apps), workflow.app_json(workflow.apps), workflow.binding_json(workflow.k8s_bindings),
  workflow.check_k8s_names(text, text), workflow.admin_app(text, boolean),
  workflow.create_app(text), workflow.list_apps(integer, text),
  workflow.bind_service_account(text, text, text), workflow.unbind_service_account(text, text, text),
  workflow.get_quotas(text), workflow.set_quotas(text, jsonb), workflow.version_status(text, text),
  workflow.expire_version(text, text)
  FROM PUBLIC, pgw_tenant;
-- queue_claims came after the last GRANT ... ON ALL FUNCTIONS TO pgw_tenant
-- (queue): its other functions were never granted to pgw_tenant.
REVOKE EXECUTE ON FUNCTION
  workflow.next_due_in(), workflow.retry_delay(integer, numeric, numeric),
  workflow.route_messages(bigint[], numeric, numeric)
  FROM pgw_tenant;

-- Tables: unforced row-level security, pgw_tenant reads and writes its app's rows.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname LOOP
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS service_all_apps ON %s', t);
    EXECUTE format('ALTER POLICY tenant_isolation ON %s TO pgw_tenant', t);
    EXECUTE format('REVOKE ALL ON %s FROM pgw_api, pgw_service', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgw_tenant', t);
  END LOOP;
END $$;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA workflow FROM pgw_api, pgw_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA workflow TO pgw_tenant;
REVOKE ALL ON SCHEMA workflow FROM pgw_api, pgw_service;

COMMIT;
