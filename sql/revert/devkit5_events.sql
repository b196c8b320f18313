-- Revert pg-workflow:devkit5_events
-- Back to the DevKit 4-only event log. Refuses (unique violation on
-- events_by_id) while slot-numbered runs are stored: their event ids repeat
-- across runs, which the restored app-wide index cannot hold.
BEGIN;

DROP FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb);
DROP FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint);
ALTER FUNCTION workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint) RENAME TO create_event;
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)');

DROP FUNCTION workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb);
DROP FUNCTION workflow.event_run_spec(text, text, text, integer);
DROP FUNCTION workflow.run_events_page(text, text, bigint, bigint, integer, text);
DROP FUNCTION workflow.hook_resume_context(workflow.runs);
DROP FUNCTION workflow.attributes_seed(jsonb, text);
DROP FUNCTION workflow.attributes_merge(jsonb, jsonb, boolean);
DROP FUNCTION workflow.event_cursor(text, text, text);
DROP FUNCTION workflow.append_slot_event(workflow.apps, text, text, text, jsonb, integer, timestamptz, text, text);
DROP FUNCTION workflow.slot_event_id(bigint);

-- As reads defined it.
CREATE OR REPLACE FUNCTION workflow.list_events(
  p_app_id text, p_run_id text, p_correlation_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'asc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_run_id IS NULL AND p_correlation_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'listing events needs a runId or a correlationId');
  END IF;
  -- A run's log pages on run_ordinal (the cursor run_started returns); a
  -- correlation id's events across runs page on the global event_seq.
  RETURN workflow.page_of_text(format(
    'SELECT %s AS item, %s AS seq FROM workflow.events e WHERE e.app_id = %L%s%s%s',
    CASE WHEN v_resolve = 'all' THEN 'e.event_json' ELSE 'workflow.event_json(e, ''none'')::text' END,
    CASE WHEN p_run_id IS NULL THEN 'e.event_seq' ELSE 'e.run_ordinal' END, p_app_id,
    CASE WHEN p_run_id IS NULL THEN '' ELSE format(' AND e.run_id = %L', p_run_id) END,
    CASE WHEN p_correlation_id IS NULL THEN '' ELSE format(' AND e.correlation_id = %L', p_correlation_id) END,
    workflow.page_clause(CASE WHEN p_run_id IS NULL THEN 'e.event_seq' ELSE 'e.run_ordinal' END,
                         v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_events(text, text, text, integer, text, text, text) IS
  'Events of a run and/or of a correlation id (step, hook, wait), in log order by default: {data, cursor, hasMore}.';
SELECT workflow.expose_api('workflow.list_events(text, text, text, integer, text, text, text)');

-- As entity_json defined them.
CREATE OR REPLACE FUNCTION workflow.run_json(r workflow.runs, resolve_data text DEFAULT 'all') RETURNS jsonb
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

CREATE OR REPLACE FUNCTION workflow.step_json(s workflow.steps, resolve_data text DEFAULT 'all') RETURNS jsonb
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

CREATE OR REPLACE FUNCTION workflow.hook_json(h workflow.hooks, resolve_data text DEFAULT 'all') RETURNS jsonb
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

CREATE OR REPLACE FUNCTION workflow.event_payload_fields(event_type text) RETURNS text[]
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
CREATE OR REPLACE FUNCTION workflow.event_json(e workflow.events, resolve_data text DEFAULT 'all') RETURNS jsonb
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
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.run_json(workflow.runs, text)', 'workflow.step_json(workflow.steps, text)',
  'workflow.hook_json(workflow.hooks, text)', 'workflow.event_payload_fields(text)',
  'workflow.event_json(workflow.events, text)']) f;

-- As reads defined it.
CREATE OR REPLACE FUNCTION workflow.get_hook_by_token(p_app_id text, p_token text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  h workflow.hooks;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO h FROM workflow.hooks WHERE app_id = p_app_id AND token = p_token AND disposed_at IS NULL;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', 'no live hook holds this token', jsonb_build_object('token', p_token));
  END IF;
  RETURN workflow.hook_json(h, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_hook_by_token(text, text, text) IS 'The live hook holding a token; 404 when none.';
SELECT workflow.expose_api('workflow.get_hook_by_token(text, text, text)');

DROP INDEX workflow.events_by_run_event_id;
DROP INDEX workflow.events_by_resume_id;
ALTER TABLE workflow.events DROP COLUMN resume_id, DROP COLUMN resume_payload_digest;
CREATE UNIQUE INDEX events_by_id ON workflow.events (app_id, event_id);
COMMENT ON COLUMN workflow.events.event_id IS 'Public id: wevt_ + ULID of (created_at, event_seq), so ids sort like the log.';
ALTER TABLE workflow.events
  DROP CONSTRAINT events_event_type_check,
  ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
    'run_created', 'run_started', 'run_completed', 'run_failed', 'run_cancelled',
    'step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying',
    'hook_created', 'hook_received', 'hook_disposed', 'hook_conflict',
    'wait_created', 'wait_completed'));

ALTER TABLE workflow.hooks DROP COLUMN is_system, DROP COLUMN token_retention_until, DROP COLUMN resume_context;
ALTER TABLE workflow.runs DROP COLUMN attributes, DROP COLUMN error_code, DROP COLUMN encryption_public_key;

COMMIT;
