-- Deploy pg-workflow:admin
-- The admin API (SPEC section 8): apps, Kubernetes service-account bindings,
-- quotas, version status and expiry; and request_context v2, which checks in
-- the request's own statement that its service account may act for the app.
--
-- SERVICE: create_app, list_apps, bind_service_account, unbind_service_account,
--          get_quotas, set_quotas, version_status, expire_version (replaced)
-- API:     request_context(text, text) (tenant role only)
-- INTERNAL: app_json, quotas_json, binding_json, check_k8s_name
BEGIN;

CREATE TABLE workflow.k8s_bindings (
  app_id          text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  namespace       text NOT NULL CHECK (length(namespace) <= 63 AND namespace ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'),
  service_account text NOT NULL CHECK (length(service_account) <= 253
                    AND service_account ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, namespace, service_account)
);
COMMENT ON TABLE workflow.k8s_bindings IS
  'Which Kubernetes service accounts (system:serviceaccount:<namespace>:<name>) may act for which app. '
  'A request authenticated as a service account is refused (403) for an app it is not bound to.';
COMMENT ON COLUMN workflow.k8s_bindings.app_id IS 'The app the service account may act for.';
COMMENT ON COLUMN workflow.k8s_bindings.namespace IS 'Kubernetes namespace of the service account (a DNS-1123 label).';
COMMENT ON COLUMN workflow.k8s_bindings.service_account IS 'Name of the service account (a DNS-1123 subdomain).';
COMMENT ON COLUMN workflow.k8s_bindings.created_at IS 'When the binding was created.';
DO $$ BEGIN PERFORM workflow.enable_tenant_rls('workflow.k8s_bindings'); END $$;

-- Version status and expiry find a version's undelivered messages by index.
CREATE INDEX messages_undelivered_by_version ON workflow.messages (app_id, deployment_id)
  WHERE status IN ('queued', 'held', 'claimed');

CREATE FUNCTION workflow.quotas_json(a workflow.apps) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('maxRuns', a.max_runs, 'maxEventsPerRun', a.max_events_per_run,
                            'maxQueuePerMinute', a.max_queue_per_minute)
$$;
COMMENT ON FUNCTION workflow.quotas_json(workflow.apps) IS 'An app''s quotas as the API returns them: {maxRuns, maxEventsPerRun, maxQueuePerMinute}.';

CREATE FUNCTION workflow.app_json(a workflow.apps) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('appId', a.app_id, 'createdAt', workflow.iso(a.created_at), 'quotas', workflow.quotas_json(a))
$$;
COMMENT ON FUNCTION workflow.app_json(workflow.apps) IS 'An app as the admin API returns it: {appId, createdAt, quotas}.';

CREATE FUNCTION workflow.binding_json(b workflow.k8s_bindings) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('appId', b.app_id, 'namespace', b.namespace, 'serviceAccount', b.service_account,
                            'createdAt', workflow.iso(b.created_at))
$$;
COMMENT ON FUNCTION workflow.binding_json(workflow.k8s_bindings) IS
  'A service-account binding as the admin API returns it: {appId, namespace, serviceAccount, createdAt}.';

-- Refuses (400, naming the field) what Kubernetes would not accept as a name.
CREATE FUNCTION workflow.check_k8s_names(p_namespace text, p_service_account text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_namespace IS NULL OR length(p_namespace) > 63 OR p_namespace !~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('namespace %L is not a Kubernetes namespace name (DNS-1123 label: 1-63 lowercase letters, digits, "-")',
             p_namespace), '{"field": "namespace"}');
  END IF;
  IF p_service_account IS NULL OR length(p_service_account) > 253
     OR p_service_account !~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('serviceAccount %L is not a Kubernetes service account name (DNS-1123 subdomain: 1-253 lowercase '
             'letters, digits, "-", ".")', p_service_account), '{"field": "serviceAccount"}');
  END IF;
END $$;
COMMENT ON FUNCTION workflow.check_k8s_names(text, text) IS
  'Refuses (400 WF_BAD_REQUEST naming the field) a namespace that is not a DNS-1123 label or a service account '
  'name that is not a DNS-1123 subdomain.';

-- The admin functions are cross-app: they read and write apps by id, not
-- through the request scope (they run on the service's own connection).
CREATE FUNCTION workflow.admin_app(p_app_id text, p_lock boolean DEFAULT false) RETURNS workflow.apps
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
BEGIN
  IF p_lock THEN
    SELECT * INTO a FROM workflow.apps WHERE app_id = p_app_id FOR UPDATE;
  ELSE
    SELECT * INTO a FROM workflow.apps WHERE app_id = p_app_id;
  END IF;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_APP_NOT_FOUND', format('app %L does not exist', p_app_id),
                            jsonb_build_object('appId', p_app_id));
  END IF;
  RETURN a;
END $$;
COMMENT ON FUNCTION workflow.admin_app(text, boolean) IS
  'The app row for an admin function (optionally locked), 404 when it does not exist; ignores the request scope.';

CREATE FUNCTION workflow.create_app(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_created boolean;
BEGIN
  IF p_app_id IS NULL OR p_app_id !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('invalid appId %L: use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit', p_app_id),
      '{"field": "appId"}');
  END IF;
  INSERT INTO workflow.apps AS x (app_id) VALUES (p_app_id) ON CONFLICT (app_id) DO NOTHING RETURNING x.* INTO a;
  v_created := FOUND;
  IF NOT v_created THEN
    a := workflow.admin_app(p_app_id);
  END IF;
  RETURN jsonb_build_object('created', v_created, 'app', workflow.app_json(a));
END $$;
COMMENT ON FUNCTION workflow.create_app(text) IS
  'Admin: creates an app (idempotent): {created, app: {appId, createdAt, quotas}}; 400 for an invalid id.';

CREATE FUNCTION workflow.list_apps(p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_cursor text := nullif(p_cursor, '');
  v_page jsonb;
  v_count integer;
BEGIN
  IF v_cursor !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', format('invalid cursor %L', p_cursor), '{"field": "cursor"}');
  END IF;
  SELECT coalesce(jsonb_agg(workflow.app_json(p) ORDER BY p.app_id), '[]'::jsonb), count(*)
    INTO v_page, v_count
    FROM (SELECT a.* FROM workflow.apps a
           WHERE v_cursor IS NULL OR a.app_id > v_cursor
           ORDER BY a.app_id LIMIT v_limit + 1) p;
  IF v_count > v_limit THEN
    v_page := v_page - v_limit;
  END IF;
  RETURN jsonb_build_object(
    'data', v_page,
    'cursor', CASE WHEN jsonb_array_length(v_page) > 0 THEN v_page -> -1 ->> 'appId' ELSE v_cursor END,
    'hasMore', v_count > v_limit);
END $$;
COMMENT ON FUNCTION workflow.list_apps(integer, text) IS
  'Admin: apps in id order after p_cursor (an appId; NULL or empty: from the start), keyset-paginated: '
  '{data: [app], cursor (the last appId returned), hasMore}; 400 for a limit outside 1..1000 or a malformed cursor.';

CREATE FUNCTION workflow.bind_service_account(p_app_id text, p_namespace text, p_service_account text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  b workflow.k8s_bindings;
  v_created boolean;
BEGIN
  PERFORM workflow.check_k8s_names(p_namespace, p_service_account);
  PERFORM workflow.admin_app(p_app_id);
  INSERT INTO workflow.k8s_bindings AS x (app_id, namespace, service_account)
  VALUES (p_app_id, p_namespace, p_service_account)
  ON CONFLICT (app_id, namespace, service_account) DO NOTHING
  RETURNING x.* INTO b;
  v_created := FOUND;
  IF NOT v_created THEN
    SELECT * INTO b FROM workflow.k8s_bindings
     WHERE app_id = p_app_id AND namespace = p_namespace AND service_account = p_service_account;
  END IF;
  RETURN jsonb_build_object('created', v_created, 'binding', workflow.binding_json(b));
END $$;
COMMENT ON FUNCTION workflow.bind_service_account(text, text, text) IS
  'Admin: lets a Kubernetes service account act for an app (idempotent): {created, binding: {appId, namespace, '
  'serviceAccount, createdAt}}; 404 unknown app, 400 invalid names.';

CREATE FUNCTION workflow.unbind_service_account(p_app_id text, p_namespace text, p_service_account text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.admin_app(p_app_id);
  DELETE FROM workflow.k8s_bindings
   WHERE app_id = p_app_id AND namespace = p_namespace AND service_account = p_service_account;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_BINDING_NOT_FOUND',
      format('service account %s:%s is not bound to app %s', p_namespace, p_service_account, p_app_id),
      jsonb_build_object('appId', p_app_id, 'namespace', p_namespace, 'serviceAccount', p_service_account));
  END IF;
  RETURN jsonb_build_object('deleted', true);
END $$;
COMMENT ON FUNCTION workflow.unbind_service_account(text, text, text) IS
  'Admin: removes a service-account binding: {deleted: true}; 404 when the app or the binding does not exist.';

CREATE FUNCTION workflow.get_quotas(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN workflow.quotas_json(workflow.admin_app(p_app_id));
END $$;
COMMENT ON FUNCTION workflow.get_quotas(text) IS 'Admin: an app''s quotas {maxRuns, maxEventsPerRun, maxQueuePerMinute}; 404 unknown app.';

CREATE FUNCTION workflow.set_quotas(p_app_id text, p_quotas jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_key text;
  v_value jsonb;
BEGIN
  IF p_quotas IS NULL OR jsonb_typeof(p_quotas) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'quotas must be a JSON object', '{"field": "quotas"}');
  END IF;
  FOR v_key, v_value IN SELECT key, value FROM jsonb_each(p_quotas) ORDER BY key LOOP
    IF v_key NOT IN ('maxRuns', 'maxEventsPerRun', 'maxQueuePerMinute') THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('unknown quota %L: expected maxRuns, maxEventsPerRun or maxQueuePerMinute', v_key),
        jsonb_build_object('field', v_key));
    END IF;
    IF jsonb_typeof(v_value) <> 'number' OR v_value::text ~ '[.eE]'
       OR (v_value::text)::numeric NOT BETWEEN 1 AND 2147483647 THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('%s must be an integer between 1 and 2147483647, not %s', v_key, v_value),
        jsonb_build_object('field', v_key));
    END IF;
  END LOOP;
  a := workflow.admin_app(p_app_id, true);
  UPDATE workflow.apps SET
    max_runs = coalesce((p_quotas ->> 'maxRuns')::integer, max_runs),
    max_events_per_run = coalesce((p_quotas ->> 'maxEventsPerRun')::integer, max_events_per_run),
    max_queue_per_minute = coalesce((p_quotas ->> 'maxQueuePerMinute')::integer, max_queue_per_minute)
   WHERE app_id = p_app_id
  RETURNING * INTO a;
  RETURN workflow.quotas_json(a);
END $$;
COMMENT ON FUNCTION workflow.set_quotas(text, jsonb) IS
  'Admin: updates the quotas named in p_quotas (the others keep their values) and returns all of them; 400 naming '
  'the field for an unknown key or a value that is not an integer in 1..2147483647 (nothing changes), 404 unknown app.';

CREATE FUNCTION workflow.version_status(p_app_id text, p_deployment_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM workflow.admin_app(p_app_id);
  -- Hooks and waits of ended runs are disposed / completed, so the active
  -- runs (partial index runs_active) lead to every pending one.
  RETURN (
    WITH active AS (
      SELECT r.run_id FROM workflow.runs r
       WHERE r.app_id = p_app_id AND r.deployment_id = p_deployment_id AND r.status IN ('pending', 'running'))
    SELECT jsonb_build_object(
      'activeRuns', (SELECT count(*) FROM active),
      'pendingHooks', (SELECT count(*) FROM active a JOIN workflow.hooks h
                          ON h.app_id = p_app_id AND h.run_id = a.run_id AND h.disposed_at IS NULL),
      'pendingWaits', (SELECT count(*) FROM active a JOIN workflow.waits w
                          ON w.app_id = p_app_id AND w.run_id = a.run_id AND w.status = 'waiting'),
      'queuedMessages', (SELECT count(*) FROM workflow.messages m
                          WHERE m.app_id = p_app_id AND m.deployment_id = p_deployment_id
                            AND m.status IN ('queued', 'held', 'claimed'))));
END $$;
COMMENT ON FUNCTION workflow.version_status(text, text) IS
  'Admin: what a deployment version still has in flight: {activeRuns (pending or running), pendingHooks (live), '
  'pendingWaits (waiting), queuedMessages (queued, held or claimed)}; 404 unknown app.';

CREATE OR REPLACE FUNCTION workflow.expire_version(p_app_id text, p_deployment_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_scope text := current_setting('workflow.app_id', true);
  v_runs text[];
  v_run_id text;
  v_cancelled integer := 0;
  v_dead integer;
  v_removed integer;
BEGIN
  PERFORM workflow.admin_app(p_app_id);
  IF p_deployment_id IS NULL OR p_deployment_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'deploymentId must not be empty', '{"field": "deploymentId"}');
  END IF;
  PERFORM workflow.lock_version(p_app_id, p_deployment_id);
  -- Expired first: from here on the version's new messages are dead on arrival.
  INSERT INTO workflow.deployment_versions AS v (app_id, deployment_id, created_at, expired_at)
  VALUES (p_app_id, p_deployment_id, v_now, v_now)
  ON CONFLICT (app_id, deployment_id) DO UPDATE SET expired_at = coalesce(v.expired_at, v_now);
  DELETE FROM workflow.handlers WHERE app_id = p_app_id AND deployment_version = p_deployment_id;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  -- In-flight deliveries finish, but their results no longer count.
  UPDATE workflow.messages
     SET status = 'dead', dead_at = v_now, lease_until = NULL, pod_id = NULL,
         last_error = 'deployment expired', updated_at = v_now
   WHERE app_id = p_app_id AND deployment_id = p_deployment_id AND status IN ('queued', 'held', 'claimed');
  GET DIAGNOSTICS v_dead = ROW_COUNT;
  -- Active runs are cancelled through the event log (run_cancelled: hooks
  -- disposed, waits completed), as a client's cancel would. create_event acts
  -- for the request's app, so the scope is set to this app meanwhile.
  -- All of them are locked before the first is cancelled: a cancellation
  -- takes the app's usage counter, which a run ending meanwhile (holding its
  -- own row) may be waiting for. A run that ends meanwhile is skipped (its
  -- row is re-checked after the wait).
  PERFORM set_config('workflow.app_id', p_app_id, true);
  SELECT coalesce(array_agg(a.run_id ORDER BY a.run_id), '{}') INTO v_runs FROM (
    SELECT r.run_id FROM workflow.runs r
     WHERE r.app_id = p_app_id AND r.deployment_id = p_deployment_id AND r.status IN ('pending', 'running')
     ORDER BY r.run_id
       FOR UPDATE) a;
  FOREACH v_run_id IN ARRAY v_runs LOOP
    PERFORM workflow.create_event(p_app_id, v_run_id, 'run_cancelled', NULL, NULL, NULL, 'none');
    v_cancelled := v_cancelled + 1;
  END LOOP;
  PERFORM set_config('workflow.app_id', coalesce(v_scope, ''), true);
  RETURN jsonb_build_object('cancelledRuns', v_cancelled, 'deadLetteredMessages', v_dead, 'removedHandlers', v_removed);
END $$;
COMMENT ON FUNCTION workflow.expire_version(text, text) IS
  'Admin: expires a deployment version: marks it expired (later messages are dead on arrival), removes its '
  'handlers, dead-letters its undelivered messages and cancels its active runs with run_cancelled events (hooks '
  'disposed, waits completed). Returns {cancelledRuns, deadLetteredMessages, removedHandlers}; 404 unknown app. '
  'A run at its maxEventsPerRun quota cannot record the cancellation: the expiry is then refused (429) as a whole.';

CREATE FUNCTION workflow.request_context(p_app_id text, p_principal text) RETURNS TABLE (app_id text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- Row-level security binds pgw_tenant only: refuse to scope a request on
  -- a connection that would bypass it, rather than silently see every app.
  IF current_user <> 'pgw_tenant' THEN
    RAISE EXCEPTION 'workflow.request_context must run as role pgw_tenant, not %', current_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM set_config('workflow.app_id', p_app_id, true);
  -- The binding is read as pgw_tenant, under row-level security, with the
  -- scope just set: only the requested app's bindings are visible.
  IF p_principal IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM workflow.k8s_bindings b
        WHERE b.app_id = p_app_id AND b.namespace || ':' || b.service_account = p_principal) THEN
    -- Raised here rather than through workflow.refuse, which tenants may not execute.
    RAISE EXCEPTION 'service account % may not act for app %', p_principal, p_app_id
      USING ERRCODE = 'PW403', HINT = 'WF_FORBIDDEN',
            DETAIL = jsonb_build_object('appId', p_app_id, 'serviceAccount', p_principal)::text;
  END IF;
  app_id := p_app_id;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION workflow.request_context(text, text) IS
  'Scopes the current transaction to one app (setting workflow.app_id) for a request authenticated as p_principal '
  '("namespace:serviceaccount"; NULL = single-tenant mode or the admin service account). Refuses (403 WF_FORBIDDEN) '
  'a service account with no k8s binding to the app. Only for role pgw_tenant. Returns the app id.';
GRANT EXECUTE ON FUNCTION workflow.request_context(text, text) TO pgw_tenant;

-- Admin functions run on the service's own connection only.
REVOKE EXECUTE ON FUNCTION
  workflow.quotas_json(workflow.apps), workflow.app_json(workflow.apps), workflow.binding_json(workflow.k8s_bindings),
  workflow.check_k8s_names(text, text), workflow.admin_app(text, boolean),
  workflow.create_app(text), workflow.list_apps(integer, text),
  workflow.bind_service_account(text, text, text), workflow.unbind_service_account(text, text, text),
  workflow.get_quotas(text), workflow.set_quotas(text, jsonb), workflow.version_status(text, text),
  workflow.expire_version(text, text)
  FROM PUBLIC, pgw_tenant;

COMMIT;
