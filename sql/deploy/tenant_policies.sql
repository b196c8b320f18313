-- Deploy pg-workflow:tenant_policies
-- The privilege model (docs: README "Querying the database directly").
--
--   pgw_tenant   the role API requests run as (SET ROLE on the service's tenant
--                pool). Owns nothing, writes no table, reads tables only under
--                row-level security, and executes only request_context and the
--                API functions, granted by name.
--   pgw_api      NOLOGIN owner of the API functions (SECURITY DEFINER, pinned
--                search_path). Its policies scope it to the request's app
--                (workflow.current_app_id()), like pgw_tenant's, and every API
--                function refuses (403) an app id other than the request's.
--   pgw_service  NOLOGIN owner of the cross-app functions (dispatcher, admin,
--                start-up): its policies allow every app. Only members may
--                execute them: the deploying user (the service's own login) is
--                made a member here.
-- Row-level security is FORCEd on every table, so even the tables' owner goes
-- through the policies (it sees every app only as a member of pgw_service).
-- Functions are private by default (no EXECUTE for PUBLIC, including the
-- deploying user's future functions); a change classifies each new function
-- with one statement:
--   SELECT workflow.expose_api('workflow.f(text, ...)');       -- a tenant statement calls it
--   SELECT workflow.expose_service('workflow.f(...)');         -- only the service's own connection
--   SELECT workflow.expose_internal('workflow.f(...)');        -- called by other workflow functions
-- (again after every CREATE OR REPLACE, which resets SECURITY DEFINER and SET).
--
-- API:      create_event, get_run, list_runs, list_events, get_event, list_steps, get_step, list_hooks,
--           get_hook, get_hook_by_token, enqueue, register_handler, unregister_handler, list_dead_letters,
--           retry_dead_letter, write_stream, read_stream, list_streams, get_stream_chunks, get_stream_info
--           (+ request_context(text), request_context(text, text), current_app_id() executable by pgw_tenant)
-- SERVICE:  ensure_app, claim_messages, ack_messages, release_messages, route_messages, create_app, list_apps,
--           bind_service_account, unbind_service_account, get_quotas, set_quotas, version_status, expire_version
-- INTERNAL: every other function (deploy helpers enable_tenant_rls and expose_*: nobody but the deployer)
BEGIN;

-- Roles are cluster-wide: several databases of one cluster share them, and
-- their deploys may run at the same time.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pgw_api', 'pgw_service'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created concurrently by another database's deploy
    END;
    BEGIN
      IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
        EXECUTE format('GRANT %I TO %I', r, current_user);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END LOOP;
END $$;
COMMENT ON ROLE pgw_api IS
  'pg-workflow: owner of the API functions (SECURITY DEFINER); its row-level security policies scope it to the request''s app.';
COMMENT ON ROLE pgw_service IS
  'pg-workflow: owner of the cross-app functions (dispatcher, admin, start-up); sees every app. Grant it to the '
  'service''s login role if that is not the deploying role.';
GRANT USAGE ON SCHEMA workflow TO pgw_api, pgw_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA workflow TO pgw_api, pgw_service;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA workflow FROM pgw_tenant;

-- Tables -------------------------------------------------------------------

CREATE OR REPLACE FUNCTION workflow.enable_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'tenant_isolation') THEN
    EXECUTE format('DROP POLICY tenant_isolation ON %s', tbl);
  END IF;
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s TO pgw_tenant, pgw_api '
    'USING (app_id = (SELECT workflow.current_app_id())) '
    'WITH CHECK (app_id = (SELECT workflow.current_app_id()))', tbl);
  IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'service_all_apps') THEN
    EXECUTE format('DROP POLICY service_all_apps ON %s', tbl);
  END IF;
  EXECUTE format('CREATE POLICY service_all_apps ON %s TO pgw_service USING (true) WITH CHECK (true)', tbl);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, pgw_tenant', tbl);
  EXECUTE format('GRANT SELECT ON %s TO pgw_tenant', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgw_api, pgw_service', tbl);
END $$;
COMMENT ON FUNCTION workflow.enable_tenant_rls(regclass) IS
  'Deploy helper (idempotent): puts a tenant table (with app_id) under the privilege model: row-level security '
  'enabled and forced; pgw_tenant may only SELECT its app''s rows; pgw_api reads and writes the request app''s rows; '
  'pgw_service every app''s.';

DO $$ BEGIN
  PERFORM workflow.enable_tenant_rls(c.oid)
     FROM pg_class c
    WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('r', 'p')
    ORDER BY c.relname;
END $$;

-- Functions ----------------------------------------------------------------

-- Ownership moves need the new owner to be allowed to create in the schema;
-- it is granted only for the move.
CREATE FUNCTION workflow.set_function_owner(f regprocedure, owner name) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT proowner FROM pg_proc WHERE oid = f) <> (SELECT oid FROM pg_roles WHERE rolname = owner) THEN
    EXECUTE format('GRANT CREATE ON SCHEMA workflow TO %I', owner);
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', f, owner);
    EXECUTE format('REVOKE CREATE ON SCHEMA workflow FROM %I', owner);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.set_function_owner(regprocedure, name) IS
  'Deploy helper: gives a function to another owner role (granting that role CREATE on the schema only meanwhile).';

CREATE FUNCTION workflow.expose_api(f regprocedure) RETURNS regprocedure
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.set_function_owner(f, 'pgw_api');
  EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, workflow, pg_temp', f);
  EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgw_tenant, pgw_service', f);
  RETURN f;
END $$;
COMMENT ON FUNCTION workflow.expose_api(regprocedure) IS
  'Deploy helper (idempotent; call again after CREATE OR REPLACE): makes f an API function: SECURITY DEFINER owned '
  'by pgw_api (scoped to the request''s app by row-level security), pinned search_path, executable by pgw_tenant '
  '(and pgw_service). f must refuse an app id other than the request''s: start it with workflow.require_app(p_app_id).';

CREATE FUNCTION workflow.expose_service(f regprocedure) RETURNS regprocedure
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.set_function_owner(f, 'pgw_service');
  EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, workflow, pg_temp', f);
  EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, pgw_tenant, pgw_api', f);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgw_service', f);
  RETURN f;
END $$;
COMMENT ON FUNCTION workflow.expose_service(regprocedure) IS
  'Deploy helper (idempotent; call again after CREATE OR REPLACE): makes f a cross-app service function: SECURITY '
  'DEFINER owned by pgw_service (sees every app), pinned search_path, executable only by members of pgw_service '
  '(the service''s own connection), never by pgw_tenant.';

CREATE FUNCTION workflow.expose_internal(f regprocedure) RETURNS regprocedure
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT prosecdef FROM pg_proc WHERE oid = f) THEN
    EXECUTE format('ALTER FUNCTION %s SECURITY INVOKER RESET search_path', f);
  END IF;
  EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, pgw_tenant', f);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgw_api, pgw_service', f);
  RETURN f;
END $$;
COMMENT ON FUNCTION workflow.expose_internal(regprocedure) IS
  'Deploy helper (idempotent; call again after CREATE OR REPLACE): makes f an internal helper: runs with its '
  'caller''s rights (SECURITY INVOKER), executable only by the owner roles pgw_api and pgw_service, never by pgw_tenant.';

-- No function is executable by PUBLIC, now or later (the deploying user's
-- future functions get no default EXECUTE: a change that forgets to classify
-- a function fails closed, and tests/tenant_policies.sql notices).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA workflow FROM PUBLIC, pgw_tenant;
DO $$ BEGIN
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', current_user);
END $$;

-- Everything is internal unless named below.
DO $$ BEGIN
  PERFORM workflow.expose_internal(p.oid)
     FROM pg_proc p WHERE p.pronamespace = 'workflow'::regnamespace ORDER BY p.oid;
END $$;

-- Deploy helpers: the deploying user only.
REVOKE ALL ON FUNCTION workflow.enable_tenant_rls(regclass), workflow.set_function_owner(regprocedure, name),
                       workflow.expose_api(regprocedure), workflow.expose_service(regprocedure),
                       workflow.expose_internal(regprocedure)
  FROM pgw_api, pgw_service;

-- What row-level security policies and request scoping need.
GRANT EXECUTE ON FUNCTION workflow.current_app_id(), workflow.request_context(text),
                          workflow.request_context(text, text) TO pgw_tenant;

-- API functions refuse an app id other than the request's (fail closed:
-- with no request app, every app id is refused).
CREATE OR REPLACE FUNCTION workflow.require_app(p_app_id text) RETURNS workflow.apps
LANGUAGE plpgsql STABLE AS $$
DECLARE
  a workflow.apps;
BEGIN
  IF p_app_id IS DISTINCT FROM workflow.current_app_id() THEN
    PERFORM workflow.refuse('PW403', 'WF_FORBIDDEN',
      format('this request acts for app %s, not for app %s', coalesce(workflow.current_app_id(), '(none)'), p_app_id),
      jsonb_build_object('appId', p_app_id));
  END IF;
  SELECT * INTO a FROM workflow.apps WHERE app_id = p_app_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_APP_NOT_FOUND', format('app %L does not exist', p_app_id));
  END IF;
  RETURN a;
END $$;
COMMENT ON FUNCTION workflow.require_app(text) IS
  'Returns the app row of an API call: 403 unless p_app_id is the request''s app (workflow.current_app_id()), '
  '404 when the app does not exist.';

SELECT workflow.expose_api(f::regprocedure) FROM unnest(ARRAY[
  'workflow.create_event(text, text, text, text, jsonb, integer, text)',
  'workflow.get_run(text, text, text)',
  'workflow.list_runs(text, text, text, text, integer, text, text, text)',
  'workflow.list_events(text, text, text, integer, text, text, text)',
  'workflow.get_event(text, text, text, text)',
  'workflow.list_steps(text, text, integer, text, text, text)',
  'workflow.get_step(text, text, text, text)',
  'workflow.list_hooks(text, text, integer, text, text, text)',
  'workflow.get_hook(text, text, text)',
  'workflow.get_hook_by_token(text, text, text)',
  'workflow.enqueue(text, text, jsonb, text, text, numeric)',
  'workflow.register_handler(text, text, text, text, text, text)',
  'workflow.unregister_handler(text, text)',
  'workflow.list_dead_letters(text, integer, text, text)',
  'workflow.retry_dead_letter(text, text)',
  'workflow.write_stream(text, text, text, bytea[], boolean)',
  'workflow.read_stream(text, text, integer, integer, integer)',
  'workflow.list_streams(text, text)',
  'workflow.get_stream_chunks(text, text, text, integer, text)',
  'workflow.get_stream_info(text, text, text)']) f;

SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.ensure_app(text)',
  'workflow.claim_messages(integer, numeric, numeric)',
  'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)',
  'workflow.release_messages(jsonb)',
  'workflow.route_messages(bigint[], numeric, numeric)',
  'workflow.create_app(text)',
  'workflow.list_apps(integer, text)',
  'workflow.bind_service_account(text, text, text)',
  'workflow.unbind_service_account(text, text, text)',
  'workflow.get_quotas(text)',
  'workflow.set_quotas(text, jsonb)',
  'workflow.version_status(text, text)',
  'workflow.expire_version(text, text)']) f;

COMMIT;
