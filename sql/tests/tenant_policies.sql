-- pgTAP: the privilege model (change tenant_policies). The catalog checks
-- cover every table and function of the schema, so a later change that
-- forgets to classify a function or protect a table fails here.
BEGIN;
SELECT plan(34);

-- Catalog ------------------------------------------------------------------
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity)),
          NULL, 'every table of the schema has row-level security enabled and forced');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'app_id')),
          ARRAY['dispatcher_sessions', 'stream_notify_secret'],
          'every table carries app_id, except the dispatchers'' sessions (no tenant or API role may touch them) '
          'and the stream NOTIFY key (no tenant may read it)');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p,
                  aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'workflow'::regnamespace AND a.grantee = 0),
          NULL, 'no function of the schema is executable by PUBLIC');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
            WHERE p.pronamespace = 'workflow'::regnamespace
              AND has_function_privilege('pgw_tenant', p.oid, 'EXECUTE')
              AND NOT (p.prosecdef AND p.proowner = 'pgw_api'::regrole)
              AND p.oid NOT IN ('workflow.current_app_id()'::regprocedure, 'workflow.request_context(text)'::regprocedure,
                                'workflow.request_context(text, text)'::regprocedure)),
          NULL, 'pgw_tenant executes only request_context, current_app_id and API functions (SECURITY DEFINER, owned by pgw_api)');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
            WHERE p.pronamespace = 'workflow'::regnamespace AND p.prosecdef
              AND NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=pg_catalog, workflow, pg_temp'], false)),
          NULL, 'every SECURITY DEFINER function pins its search_path');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
            WHERE p.pronamespace = 'workflow'::regnamespace AND p.prosecdef
              AND p.proowner NOT IN ('pgw_api'::regrole, 'pgw_service'::regrole, 'pgw_keys'::regrole)),
          NULL, 'SECURITY DEFINER functions belong to pgw_api or pgw_service (or, for the encryption secrets, pgw_keys)');
SELECT is((SELECT array_agg(rolname::text ORDER BY 1) FROM pg_roles
            WHERE rolname IN ('pgw_tenant', 'pgw_api', 'pgw_service') AND (rolsuper OR rolbypassrls OR rolcanlogin)),
          NULL, 'pgw_tenant, pgw_api and pgw_service are NOLOGIN roles without superuser or BYPASSRLS');
SELECT is((SELECT count(*) FROM pg_auth_members m
            WHERE m.member IN ('pgw_tenant'::regrole, 'pgw_api'::regrole, 'pgw_service'::regrole)), 0::bigint,
          'the three roles are members of no role');
SELECT is((SELECT count(*) FROM (
             SELECT 1 FROM pg_class WHERE relowner = 'pgw_tenant'::regrole
             UNION ALL SELECT 1 FROM pg_proc WHERE proowner = 'pgw_tenant'::regrole
             UNION ALL SELECT 1 FROM pg_namespace WHERE nspowner = 'pgw_tenant'::regrole) o), 0::bigint,
          'pgw_tenant owns nothing');
SELECT is((SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace
              AND has_table_privilege('pgw_tenant', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),
          NULL, 'pgw_tenant may not write any table');
SELECT is((SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace
              AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('pgw_tenant', c.oid, 'USAGE, UPDATE') END),
          NULL, 'pgw_tenant may not use any sequence');
SELECT is((SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('v', 'm')
              AND has_table_privilege('pgw_tenant', c.oid, 'SELECT')
              AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)),
          NULL, 'views tenants may read run with the reader''s rights (security_invoker), so row-level security applies');

-- Two populated apps ---------------------------------------------------------
CREATE FUNCTION pg_temp.populate(app text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  run constant text := 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV';
BEGIN
  PERFORM workflow.create_app(app);
  PERFORM workflow.bind_service_account(app, replace(app, '_', '-'), 'runner');
  PERFORM set_config('workflow.app_id', app, true);
  PERFORM workflow.create_event(app, run, 'run_created', NULL, '{"deploymentId":"v1","workflowName":"w","input":null}', 3);
  PERFORM workflow.create_event(app, run, 'run_started', NULL, NULL, 3);
  PERFORM workflow.create_event(app, run, 'step_created', 's1', '{"stepName":"s"}', 3);
  PERFORM workflow.create_event(app, run, 'hook_created', 'h1', jsonb_build_object('token', 'tok-' || app), 3);
  PERFORM workflow.create_event(app, run, 'wait_created', 'w1', '{"resumeAt":"2100-01-01T00:00:00Z"}', 3);
  PERFORM workflow.write_stream(app, run, 'out', ARRAY['\x01'::bytea], false);
  PERFORM workflow.register_handler(app, 'pod-1', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
  PERFORM workflow.enqueue(app, '__wkf_step_s', '{"workflowRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"}', 'v1');
  PERFORM set_config('workflow.app_id', '', true);
END $$;
SELECT pg_temp.populate('pol_a'), pg_temp.populate('pol_b');
SELECT is((SELECT array_agg(t ORDER BY t) FROM unnest(ARRAY[
             'apps', 'app_usage', 'runs', 'steps', 'events', 'hooks', 'waits', 'deployment_versions', 'handlers',
             'messages', 'queue_rate', 'streams', 'stream_chunks', 'k8s_bindings']) t
            WHERE to_regclass('workflow.' || t) IS NULL),
          NULL, 'the tables this test populates exist');

-- Probes a table as the current role: rows of an app, or (NULL) all rows.
CREATE FUNCTION pg_temp.rows_of(tbl regclass, app text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = 'app_id') THEN
    RETURN NULL;  -- not a tenant table (the planner may probe before the view's filter)
  END IF;
  EXECUTE format('SELECT count(*) FROM %s WHERE $1 IS NULL OR app_id = $1', tbl) INTO n USING app;
  RETURN n;
END $$;
-- The writes of one table that were NOT refused with insufficient_privilege.
CREATE FUNCTION pg_temp.writes_allowed(tbl regclass, app text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  allowed text[] := '{}';
  stmt text;
BEGIN
  FOREACH stmt IN ARRAY ARRAY[
    format('INSERT INTO %s (app_id) VALUES (%L)', tbl, app),
    format('UPDATE %s SET app_id = app_id WHERE app_id = %L', tbl, app),
    format('DELETE FROM %s WHERE app_id = %L', tbl, app),
    format('TRUNCATE %s', tbl)] LOOP
    BEGIN
      EXECUTE stmt;
      allowed := allowed || stmt;
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;
    WHEN OTHERS THEN  -- past the privilege check: only a constraint stopped it
      allowed := allowed || stmt;
    END;
  END LOOP;
  RETURN allowed;
END $$;
CREATE TEMP VIEW tenant_tables AS
  SELECT c.oid::regclass AS tbl FROM pg_class c
   WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
     AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'app_id')
     -- not even SELECT for tenants (sql/tests/run_encryption.sql checks it): no rows to probe
     AND c.oid <> 'workflow.app_encryption_secrets'::regclass;
GRANT SELECT ON tenant_tables TO pgw_tenant;
GRANT EXECUTE ON FUNCTION pg_temp.rows_of(regclass, text), pg_temp.writes_allowed(regclass, text) TO pgw_tenant;

SELECT is((SELECT array_agg(t ORDER BY t) FROM unnest(ARRAY[
             'apps', 'app_usage', 'runs', 'steps', 'events', 'hooks', 'waits', 'deployment_versions', 'handlers',
             'messages', 'queue_rate', 'streams', 'stream_chunks', 'k8s_bindings']) t
            WHERE pg_temp.rows_of(('workflow.' || t)::regclass, 'pol_b') = 0),
          NULL, 'app B has rows in every table (seen by the superuser)');

-- As a tenant request of app A --------------------------------------------
SET LOCAL ROLE pgw_tenant;
SELECT set_config('workflow.app_id', 'pol_a', true);
SELECT is((SELECT array_agg(tbl::text ORDER BY 1) FROM tenant_tables WHERE pg_temp.rows_of(tbl, 'pol_b') > 0),
          NULL, 'app A sees zero rows of app B in every table and view');
SELECT is((SELECT array_agg(t ORDER BY t) FROM unnest(ARRAY[
             'apps', 'app_usage', 'runs', 'steps', 'events', 'hooks', 'waits', 'deployment_versions', 'handlers',
             'messages', 'queue_rate', 'streams', 'stream_chunks', 'k8s_bindings']) t
            WHERE pg_temp.rows_of(('workflow.' || t)::regclass, 'pol_a') = 0),
          NULL, 'app A sees its own rows (the probe works)');
SELECT is((SELECT array_agg(tbl::text || ': ' || array_to_string(w, '; ') ORDER BY 1)
             FROM (SELECT tbl, pg_temp.writes_allowed(tbl, 'pol_b') AS w FROM tenant_tables) x WHERE w <> '{}'),
          NULL, 'app B''s rows cannot be inserted, updated, deleted or truncated');
SELECT is((SELECT array_agg(tbl::text || ': ' || array_to_string(w, '; ') ORDER BY 1)
             FROM (SELECT tbl, pg_temp.writes_allowed(tbl, 'pol_a') AS w FROM tenant_tables) x WHERE w <> '{}'),
          NULL, 'nor app A''s own rows, except through the API');
SELECT throws_ok($$ SELECT workflow.page_of('SELECT NULL::jsonb AS item, 1::bigint AS seq', 10, NULL) $$, '42501', NULL,
                 'page_of (runs any SQL text) cannot be executed');
SELECT throws_ok($$ SELECT workflow.route_messages('{}', 30, 60) $$, '42501', NULL, 'route_messages cannot be executed');
SELECT throws_ok($$ SELECT workflow.notify_queue(now()) $$, '42501', NULL, 'notify_queue cannot be executed');
SELECT throws_ok($$ SELECT workflow.claim_messages(1, 1, 1) $$, '42501', NULL, 'claim_messages cannot be executed');
SELECT throws_ok($$ SELECT workflow.append_event(a, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_started', NULL, NULL, 3, now())
                      FROM workflow.apps a $$, '42501', NULL, 'append_event cannot be executed');
SELECT throws_ok($$ SELECT workflow.insert_run(a, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAW', '{}', 3, now()) FROM workflow.apps a $$,
                 '42501', NULL, 'insert_run cannot be executed');
SELECT throws_ok($$ SELECT workflow.create_app('pol_c') $$, '42501', NULL, 'create_app (admin) cannot be executed');
SELECT throws_ok($$ SELECT workflow.set_quotas('pol_a', '{"maxRuns": 9}') $$, '42501', NULL, 'set_quotas (admin) cannot be executed');
SELECT is((SELECT array_agg(f ORDER BY f) FROM unnest(ARRAY[
             'workflow.ensure_app(text)', 'workflow.expire_version(text, text)', 'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)',
             'workflow.release_messages(jsonb)', 'workflow.refuse(text, text, text, jsonb)', 'workflow.require_app(text)',
             'workflow.bind_service_account(text, text, text)', 'workflow.expose_api(regprocedure)',
             'workflow.enable_tenant_rls(regclass)', 'workflow.lock_version(text, text)']) f
            WHERE has_function_privilege(f::regprocedure, 'EXECUTE')),
          NULL, 'nor can other internal, service or deploy functions');
SELECT throws_ok($$ SELECT workflow.get_run('pol_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW403', NULL,
                 'an API read with app B''s id while app A is set is refused (403)');
SELECT throws_ok($$ SELECT workflow.create_event('pol_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_cancelled', NULL, NULL, 3) $$,
                 'PW403', NULL, 'an API write with app B''s id is refused (403)');
SELECT throws_ok($$ SELECT workflow.enqueue('pol_b', '__wkf_step_s', '{}', 'v1') $$, 'PW403', NULL, 'enqueue for app B is refused');
SELECT throws_ok($$ SELECT * FROM workflow.read_stream('pol_b', 'out', 0) $$, 'PW403', NULL, 'reading app B''s stream is refused');
SELECT is(workflow.get_run('pol_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') ->> 'status', 'running', 'the API works for app A itself');

-- With no app set, nothing at all is visible.
SELECT set_config('workflow.app_id', '', true);
SELECT is((SELECT array_agg(tbl::text ORDER BY 1) FROM tenant_tables WHERE pg_temp.rows_of(tbl, NULL) > 0),
          NULL, 'no app set: every table and view is empty');
SELECT throws_ok($$ SELECT workflow.get_run('pol_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW403', NULL,
                 'no app set: API functions refuse every app id');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
