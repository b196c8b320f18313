-- Deploy pg-workflow:apps
-- Applications are the tenants: every other table carries app_id.
BEGIN;

CREATE TABLE workflow.apps (
  app_id               text PRIMARY KEY CHECK (app_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  max_runs             integer NOT NULL DEFAULT 100000 CHECK (max_runs > 0),
  max_events_per_run   integer NOT NULL DEFAULT 100000 CHECK (max_events_per_run > 0),
  max_queue_per_minute integer NOT NULL DEFAULT 600000 CHECK (max_queue_per_minute > 0),
  created_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE workflow.apps IS 'Applications (tenants). Every workflow row belongs to exactly one app; quotas are per app.';
COMMENT ON COLUMN workflow.apps.app_id IS 'Application id as used in /api/v1/apps/:appId.';
COMMENT ON COLUMN workflow.apps.max_runs IS 'Quota: runs that may be active (pending or running) at once.';
COMMENT ON COLUMN workflow.apps.max_events_per_run IS 'Quota: events one run may record.';
COMMENT ON COLUMN workflow.apps.max_queue_per_minute IS 'Quota: queue messages the app may enqueue per minute.';

DO $$ BEGIN PERFORM workflow.enable_tenant_rls('workflow.apps'); END $$;

-- Idempotent creation; the service calls it at start for the implicit app.
CREATE FUNCTION workflow.ensure_app(p_app_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_app_id IS NULL OR p_app_id !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_APP_ID',
      format('invalid app id %L: use 1-128 letters, digits, ".", "_" or "-"', p_app_id));
  END IF;
  INSERT INTO workflow.apps (app_id) VALUES (p_app_id) ON CONFLICT (app_id) DO NOTHING;
  RETURN FOUND;
END $$;
COMMENT ON FUNCTION workflow.ensure_app(text) IS 'Creates the app if it does not exist; returns true when it was created.';

-- Every tenant-scoped API function starts with this: the app must exist and
-- be the one the request context names.
CREATE FUNCTION workflow.require_app(p_app_id text) RETURNS workflow.apps
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

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
