-- Deploy pg-workflow:entity_json
-- The JSON the API returns for each entity, built in one place. Metadata
-- members that are NULL are left out (jsonb_strip_nulls, which is recursive,
-- so it never touches user data); payload members (input, output, metadata)
-- are left out when absent or when resolveData is 'none'.
BEGIN;

CREATE FUNCTION workflow.run_json(r workflow.runs, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  -- jsonb_strip_nulls only on members without user data (it is recursive).
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', r.run_id, 'status', r.status, 'deploymentId', r.deployment_id,
           'workflowName', r.workflow_name, 'specVersion', r.spec_version, 'error', r.error,
           'createdAt', workflow.iso(r.created_at), 'updatedAt', workflow.iso(r.updated_at),
           'startedAt', workflow.iso(r.started_at), 'completedAt', workflow.iso(r.completed_at),
           'expiredAt', workflow.iso(r.expired_at)))
      || CASE WHEN r.execution_context IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('executionContext', r.execution_context) END
      || CASE WHEN resolve_data = 'none' OR r.input IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('input', r.input) END
      || CASE WHEN resolve_data = 'none' OR r.output IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('output', r.output) END
$$;
COMMENT ON FUNCTION workflow.run_json(workflow.runs, text) IS 'A run as the API returns it (camelCase); resolve_data none strips input/output.';

CREATE FUNCTION workflow.step_json(s workflow.steps, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', s.run_id, 'stepId', s.step_id, 'stepName', s.step_name, 'status', s.status,
           'attempt', s.attempt, 'error', s.error, 'specVersion', s.spec_version,
           'createdAt', workflow.iso(s.created_at), 'updatedAt', workflow.iso(s.updated_at),
           'startedAt', workflow.iso(s.started_at), 'completedAt', workflow.iso(s.completed_at),
           'retryAfter', workflow.iso(s.retry_after)))
      || CASE WHEN resolve_data = 'none' OR s.input IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('input', s.input) END
      || CASE WHEN resolve_data = 'none' OR s.output IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('output', s.output) END
$$;
COMMENT ON FUNCTION workflow.step_json(workflow.steps, text) IS 'A step as the API returns it; resolve_data none strips input/output.';

CREATE FUNCTION workflow.hook_json(h workflow.hooks, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', h.run_id, 'hookId', h.hook_id, 'token', h.token,
           'ownerId', h.app_id, 'projectId', h.app_id, 'environment', 'production',
           'isWebhook', h.is_webhook, 'specVersion', h.spec_version,
           'createdAt', workflow.iso(h.created_at), 'disposedAt', workflow.iso(h.disposed_at)))
      || CASE WHEN resolve_data = 'none' OR h.metadata IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('metadata', h.metadata) END
$$;
COMMENT ON FUNCTION workflow.hook_json(workflow.hooks, text) IS 'A hook as the API returns it (ownerId and projectId are the app id); resolve_data none strips metadata.';

CREATE FUNCTION workflow.wait_json(w workflow.waits) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'waitId', w.wait_id, 'runId', w.run_id, 'status', w.status,
           'resumeAt', workflow.iso(w.resume_at), 'completedAt', workflow.iso(w.completed_at),
           'createdAt', workflow.iso(w.created_at), 'updatedAt', workflow.iso(w.updated_at),
           'specVersion', w.spec_version))
$$;
COMMENT ON FUNCTION workflow.wait_json(workflow.waits) IS 'A wait as the API returns it.';

-- Which eventData members hold payloads, per event type (stripped by resolveData=none).
CREATE FUNCTION workflow.event_payload_fields(event_type text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE event_type
    WHEN 'run_created' THEN ARRAY['input']
    WHEN 'run_completed' THEN ARRAY['output']
    WHEN 'run_failed' THEN ARRAY['error']
    WHEN 'step_created' THEN ARRAY['input']
    WHEN 'step_completed' THEN ARRAY['result']
    WHEN 'step_failed' THEN ARRAY['error']
    WHEN 'step_retrying' THEN ARRAY['error']
    WHEN 'hook_created' THEN ARRAY['metadata']
    WHEN 'hook_received' THEN ARRAY['payload']
    ELSE ARRAY[]::text[] END
$$;
COMMENT ON FUNCTION workflow.event_payload_fields(text) IS 'The eventData members that carry payloads for an event type; resolveData=none removes them.';

CREATE FUNCTION workflow.event_json(e workflow.events, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'eventId', e.event_id, 'runId', e.run_id, 'eventType', e.event_type,
           'correlationId', e.correlation_id, 'specVersion', e.spec_version,
           'createdAt', workflow.iso(e.created_at)))
      || CASE
           WHEN e.event_data IS NULL THEN '{}'::jsonb
           WHEN resolve_data <> 'none' THEN jsonb_build_object('eventData', e.event_data)
           WHEN jsonb_typeof(e.event_data) <> 'object' THEN '{}'::jsonb
           WHEN (e.event_data - workflow.event_payload_fields(e.event_type)) = '{}'::jsonb THEN '{}'::jsonb
           ELSE jsonb_build_object('eventData', e.event_data - workflow.event_payload_fields(e.event_type)) END
$$;
COMMENT ON FUNCTION workflow.event_json(workflow.events, text) IS 'An event as the API returns it; resolve_data none strips payload members of eventData.';

-- resolveData is 'all' (default) or 'none'.
CREATE FUNCTION workflow.check_resolve_data(resolve_data text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF resolve_data IS NULL THEN RETURN 'all'; END IF;
  IF resolve_data NOT IN ('all', 'none') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('resolveData must be "all" or "none", not %L', resolve_data));
  END IF;
  RETURN resolve_data;
END $$;
COMMENT ON FUNCTION workflow.check_resolve_data(text) IS 'Validates a resolveData parameter (all | none, default all).';

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
