-- Deploy pg-workflow:devkit5_events
-- The event log under the DevKit 5 protocol (@workflow/world 5.x, spec 6 and
-- 7) beside the DevKit 4 one (spec <= 3, left exactly as it was). Which
-- protocol a run follows is fixed when it is created: the specVersion stamped
-- on its run_created (runs.spec_version). docs/devkit5.md describes the
-- protocol; in short, for a run with spec_version >= 6:
--   * event ids are slots: evnt_ + the event's 26-digit zero-padded position
--     in its run (run_ordinal, allocated under the run's row lock, i.e. at
--     commit order), so ids are unique per run, not per app;
--   * no stateUpdatedAt 412: a write names the events it has seen
--     (eventCount) and always lands in the next free slot; the answer reports
--     the slots it skipped (events, cursor, hasMore); sinceCursor asks for
--     everything after a cursor instead;
--   * step_started with {stepName, input} creates a missing step (with a
--     synthetic step_created event) and answers stepCreated: true; a writer
--     that finds the step already there gets 409;
--   * run and step errors are the runtime's serialised bytes, stored and
--     returned as given; run_failed.errorCode goes to runs.error_code;
--   * attributes: runs.attributes, seeded by run_created / run_started
--     (resilient start) and changed by attr_set events, validated like the
--     world package's attribute rules (400 WF_INVALID_ATTRIBUTES);
--   * hooks carry isSystem, tokenRetentionUntil and a resumeContext taken
--     from their run; runs carry encryptionPublicKey.
--
-- API:      workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)  (replaced: routes by the
--             run's spec version; the previous body is now workflow.create_event_v4, unchanged)
--           workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)  (new: with
--             DevKit 5 write options {eventCount, sinceCursor, skipPreload}; the service's entry point)
--           workflow.list_events(text, text, text, integer, text, text, text)  (replaced: cursors may be event ids)
-- INTERNAL: workflow.create_event_v4(...)  (renamed, body unchanged), workflow.create_event_v6(...),
--           workflow.slot_event_id(bigint), workflow.append_slot_event(...), workflow.event_cursor(text, text, text),
--           workflow.attributes_merge(jsonb, jsonb, boolean), workflow.attributes_seed(jsonb, boolean),
--           workflow.run_events_page(text, text, bigint, bigint, integer, text), workflow.hook_resume_context(workflow.runs),
--           workflow.run_json, step_json, hook_json, event_payload_fields (replaced: the new members; identical
--           output for rows that have none of them)
BEGIN;

-- Storage --------------------------------------------------------------------
ALTER TABLE workflow.runs
  ADD COLUMN attributes jsonb,
  ADD COLUMN error_code text,
  ADD COLUMN encryption_public_key text;
COMMENT ON COLUMN workflow.runs.attributes IS
  'Plaintext string → string attributes of a spec >= 6 run (run_created / run_started attributes, then attr_set '
  'events merged in order); NULL for older runs. Keys starting with $ are reserved ($rootRunId, $parentRunId, …).';
COMMENT ON COLUMN workflow.runs.error_code IS
  'run_failed eventData.errorCode of a spec >= 6 run (USER_ERROR, RUNTIME_ERROR, …), kept beside the error bytes '
  'so it can be read without decrypting them. Spec <= 3 runs keep it in error.code.';
COMMENT ON COLUMN workflow.runs.encryption_public_key IS
  'The run''s X25519 public key (base64) from run_created / run_started eventData.encryptionPublicKey; not secret.';

ALTER TABLE workflow.hooks
  ADD COLUMN is_system boolean,
  ADD COLUMN token_retention_until timestamptz,
  ADD COLUMN resume_context jsonb;
COMMENT ON COLUMN workflow.hooks.is_system IS 'hook_created eventData.isSystem (spec >= 6): a hook the runtime made for itself.';
COMMENT ON COLUMN workflow.hooks.token_retention_until IS
  'hook_created eventData.tokenRetentionUntil (spec >= 6): the earliest time the token may be reused after the run ends.';
COMMENT ON COLUMN workflow.hooks.resume_context IS
  'What resuming the hook needs to know about its run (deploymentId, workflowName, runSpecVersion, …), fixed when '
  'the hook is created (spec >= 6 runs).';

ALTER TABLE workflow.events
  DROP CONSTRAINT events_event_type_check,
  ADD CONSTRAINT events_event_type_check CHECK (event_type IN (
    'run_created', 'run_started', 'run_completed', 'run_failed', 'run_cancelled',
    'step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying',
    'hook_created', 'hook_received', 'hook_disposed', 'hook_conflict',
    'wait_created', 'wait_completed', 'attr_set'));
ALTER TABLE workflow.events
  ADD COLUMN resume_id text,
  ADD COLUMN resume_payload_digest text;
COMMENT ON COLUMN workflow.events.resume_id IS
  'hook_received of a spec >= 6 run: the lazy resume''s idempotency key (CreateEventParams.resumeId); one event per '
  '(run, resumeId), so the producer''s write and the queue consumer''s re-ensure converge.';
COMMENT ON COLUMN workflow.events.resume_payload_digest IS
  'The digest of the resume payload sent with resumeId; a repeat with another digest is refused (409).';
-- Built in this transaction, not CONCURRENTLY: replicas waiting for the deploy
-- lock hold snapshots a concurrent build would wait for (forever). The build
-- blocks event writes while it reads the event log once (see docs/devkit5.md).
CREATE UNIQUE INDEX events_by_resume_id ON workflow.events (app_id, run_id, resume_id) WHERE resume_id IS NOT NULL;
COMMENT ON INDEX workflow.events_by_resume_id IS 'At most one hook_received per (run, resumeId).';

-- Slot ids repeat across runs: an event id names an event only within its run.
DROP INDEX workflow.events_by_id;
CREATE UNIQUE INDEX events_by_run_event_id ON workflow.events (app_id, run_id, event_id);
COMMENT ON INDEX workflow.events_by_run_event_id IS
  'Event ids are unique per run: spec >= 6 runs number their events evnt_<position>, the same ids in every run.';
COMMENT ON COLUMN workflow.events.event_id IS
  'Public id, unique within the run: spec <= 3 runs wevt_ + ULID of (created_at, event_seq), so ids sort like the '
  'log; spec >= 6 runs evnt_ + run_ordinal zero-padded to 26 digits (a slot).';

-- Helpers ----------------------------------------------------------------------
CREATE FUNCTION workflow.slot_event_id(p_ordinal bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'evnt_' || lpad(p_ordinal::text, 26, '0')
$$;
COMMENT ON FUNCTION workflow.slot_event_id(bigint) IS
  'The slot event id of a position in a run''s log: evnt_ + the position zero-padded to 26 digits.';

-- append_event with a slot id: same position, same quota, same stored JSON.
CREATE FUNCTION workflow.append_slot_event(
  p_app workflow.apps, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_now timestamptz,
  p_resume_id text DEFAULT NULL, p_resume_payload_digest text DEFAULT NULL)
RETURNS workflow.events LANGUAGE plpgsql AS $$
DECLARE
  e workflow.events;
BEGIN
  e.run_ordinal := coalesce((SELECT x.run_ordinal FROM workflow.events x
                              WHERE x.app_id = p_app.app_id AND x.run_id = p_run_id
                              ORDER BY x.run_ordinal DESC LIMIT 1), 0) + 1;
  IF e.run_ordinal > p_app.max_events_per_run THEN
    PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
      format('quota maxEventsPerRun exceeded: run %s already has %s events', p_run_id, p_app.max_events_per_run),
      jsonb_build_object('quota', 'maxEventsPerRun', 'limit', p_app.max_events_per_run, 'retryAfter', 60));
  END IF;
  e.event_seq := nextval('workflow.event_seq');
  e.app_id := p_app.app_id;
  e.run_id := p_run_id;
  e.event_id := workflow.slot_event_id(e.run_ordinal);
  e.event_type := p_event_type;
  e.correlation_id := p_correlation_id;
  e.event_data := p_event_data;
  e.spec_version := p_spec_version;
  e.created_at := p_now;
  e.resume_id := p_resume_id;
  e.resume_payload_digest := p_resume_payload_digest;
  e.event_json := workflow.event_json(e, 'all')::text;
  INSERT INTO workflow.events VALUES (e.*);
  RETURN e;
END $$;
COMMENT ON FUNCTION workflow.append_slot_event(workflow.apps, text, text, text, jsonb, integer, timestamptz, text, text) IS
  'Appends an event to a spec >= 6 run''s log (caller holds the run lock) under its slot id evnt_<position>, with '
  'a hook_received''s resumeId and payload digest; enforces maxEventsPerRun.';

-- A run-log cursor: a position (what lists answer), or an event id of the
-- run, old (wevt_ ULID) or new (evnt_ slot), optionally as eid:<id>.
CREATE FUNCTION workflow.event_cursor(p_app_id text, p_run_id text, p_cursor text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_id text := regexp_replace(p_cursor, '^eid:', '');
  v_ordinal bigint;
BEGIN
  IF p_run_id IS NULL OR p_cursor IS NULL OR v_id !~ '^(evnt|wevt)_[0-9A-HJKMNP-TV-Z]{26}$' THEN
    RETURN workflow.check_cursor(p_cursor);
  END IF;
  IF v_id ~ '^evnt_0{10}[0-9]{16}$' THEN
    RETURN substr(v_id, 6)::bigint; -- a slot is its position
  END IF;
  SELECT e.run_ordinal INTO v_ordinal FROM workflow.events e
   WHERE e.app_id = p_app_id AND e.run_id = p_run_id AND e.event_id = v_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('invalid cursor %L: run %s has no event %s', p_cursor, p_run_id, v_id));
  END IF;
  RETURN v_ordinal;
END $$;
COMMENT ON FUNCTION workflow.event_cursor(text, text, text) IS
  'Position in a run''s log named by a cursor: a number (as lists answer), an evnt_ slot id, or a wevt_ id of an '
  'event of the run (each optionally as eid:<id>); 400 otherwise.';

-- Attribute rules of @workflow/world 5.x (attributes-validation): keys
-- 1..256 characters, $-keys only when allowed, values strings of at most
-- 256 UTF-8 bytes or null (remove), no key twice in one change set, at most
-- 64 attributes on a run after the merge. Returns the merged attributes.
CREATE FUNCTION workflow.attributes_merge(p_existing jsonb, p_changes jsonb, p_allow_reserved boolean)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_next jsonb := coalesce(p_existing, '{}'::jsonb);
  v_seen text[] := ARRAY[]::text[];
  v_change jsonb;
  v_key text;
  v_value jsonb;
BEGIN
  IF jsonb_typeof(p_changes) IS DISTINCT FROM 'array' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES', 'attribute changes must be an array of {key, value}');
  END IF;
  FOR v_change IN SELECT c FROM jsonb_array_elements(p_changes) c LOOP
    IF jsonb_typeof(v_change) IS DISTINCT FROM 'object' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES', 'each attribute change must be an object {key, value}');
    END IF;
    IF jsonb_typeof(v_change -> 'key') IS DISTINCT FROM 'string' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute key must be a string, got %s', coalesce(jsonb_typeof(v_change -> 'key'), 'undefined')));
    END IF;
    v_key := v_change ->> 'key';
    v_value := coalesce(v_change -> 'value', 'null'::jsonb);
    IF v_key = '' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES', 'Attribute key must not be empty');
    END IF;
    IF char_length(v_key) > 256 THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute key length %s exceeds limit 256: %s…', char_length(v_key), to_json(left(v_key, 32))));
    END IF;
    IF NOT coalesce(p_allow_reserved, false) AND v_key LIKE '$%' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute key %s starts with the reserved prefix "$", which belongs to framework code; such keys '
               'need allowReservedAttributes: true', to_json(v_key)));
    END IF;
    IF jsonb_typeof(v_value) NOT IN ('string', 'null') THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute value must be a string or null, got %s', jsonb_typeof(v_value)));
    END IF;
    IF octet_length(v_value #>> '{}') > 256 THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute value byte length %s exceeds limit 256', octet_length(v_value #>> '{}')));
    END IF;
    IF v_key = ANY (v_seen) THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute key %s appears more than once in the same batch', to_json(v_key)));
    END IF;
    v_seen := v_seen || v_key;
    v_next := CASE WHEN jsonb_typeof(v_value) = 'null' THEN v_next - v_key
                   ELSE v_next || jsonb_build_object(v_key, v_value) END;
  END LOOP;
  IF (SELECT count(*) FROM jsonb_object_keys(v_next)) > 64 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
      format('Run attribute count would exceed limit 64 (post-merge %s)', (SELECT count(*) FROM jsonb_object_keys(v_next))));
  END IF;
  RETURN v_next;
END $$;
COMMENT ON FUNCTION workflow.attributes_merge(jsonb, jsonb, boolean) IS
  'Applies attribute changes [{key, value|null}] to a run''s attributes under the @workflow/world 5.x rules '
  '(key 1..256 chars, $-prefix only when allowed, value <= 256 UTF-8 bytes, no duplicate key, <= 64 per run); '
  '400 WF_INVALID_ATTRIBUTES naming the problem.';

-- The attributes a run starts with (run_created / run_started eventData).
CREATE FUNCTION workflow.attributes_seed(p_data jsonb, p_for text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_attributes jsonb := nullif(p_data -> 'attributes', 'null'::jsonb);
  v_allow jsonb := nullif(p_data -> 'allowReservedAttributes', 'null'::jsonb);
BEGIN
  IF v_allow IS NOT NULL AND v_allow <> 'true'::jsonb THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
      format('%s eventData.allowReservedAttributes must be true when given', p_for));
  END IF;
  IF v_attributes IS NULL THEN
    RETURN '{}'::jsonb;
  END IF;
  IF jsonb_typeof(v_attributes) <> 'object'
     OR EXISTS (SELECT 1 FROM jsonb_each(v_attributes) a WHERE jsonb_typeof(a.value) <> 'string') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
      format('%s eventData.attributes must be an object of string values', p_for));
  END IF;
  RETURN workflow.attributes_merge('{}'::jsonb,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('key', a.key, 'value', a.value)), '[]'::jsonb)
              FROM jsonb_each(v_attributes) a),
           v_allow IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.attributes_seed(jsonb, text) IS
  'A new run''s attributes from run_created / run_started eventData {attributes?, allowReservedAttributes?}, '
  'validated like attr_set changes; {} when none.';

-- What a hook resume needs to know about the hook's run, fixed at creation.
CREATE FUNCTION workflow.hook_resume_context(r workflow.runs) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT workflow.jsonb_drop_nulls(jsonb_build_object(
           'deploymentId', r.deployment_id, 'workflowName', r.workflow_name, 'runSpecVersion', r.spec_version,
           'encryptionPublicKey', r.encryption_public_key,
           'workflowCoreVersion', r.execution_context -> 'workflowCoreVersion',
           'traceCarrier', r.execution_context -> 'traceCarrier',
           'hookResumeInputVersion', r.execution_context -> 'hookResumeInputVersion'))
$$;
COMMENT ON FUNCTION workflow.hook_resume_context(workflow.runs) IS
  'A hook''s resumeContext: its run''s deploymentId, workflowName, spec version, encryptionPublicKey and the '
  'executionContext members workflowCoreVersion, traceCarrier, hookResumeInputVersion (those present).';

-- A page of a run's log as the members of a write's answer:
-- {"events": [...], "cursor": "<last position>", "hasMore": bool}, for the
-- positions after p_after (and before p_before when given), joined from the
-- stored event texts like the run_started preload.
CREATE FUNCTION workflow.run_events_page(
  p_app_id text, p_run_id text, p_after bigint, p_before bigint, p_limit integer, p_resolve text)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT '{"events": [' || coalesce(string_agg(item, ', ' ORDER BY ord) FILTER (WHERE n <= p_limit), '')
      || '], "cursor": ' || coalesce(to_json((max(ord) FILTER (WHERE n <= p_limit))::text)::text,
                                     to_json(p_after::text)::text)
      || ', "hasMore": ' || (count(*) > p_limit)::text || '}'
    FROM (SELECT CASE WHEN p_resolve = 'all' THEN e.event_json ELSE workflow.event_json(e, p_resolve)::text END AS item,
                 e.run_ordinal AS ord, row_number() OVER (ORDER BY e.run_ordinal) AS n
            FROM workflow.events e
           WHERE e.app_id = p_app_id AND e.run_id = p_run_id AND e.run_ordinal > p_after
             AND (p_before IS NULL OR e.run_ordinal < p_before)
           ORDER BY e.run_ordinal LIMIT p_limit + 1) q
$$;
COMMENT ON FUNCTION workflow.run_events_page(text, text, bigint, bigint, integer, text) IS
  'Events of a run after position p_after (and before p_before) as {"events", "cursor", "hasMore"} text: the '
  'bump-and-report and sinceCursor members of a spec >= 6 write''s answer.';

-- Entity JSON: the new members, only where set (older rows answer as before).
-- Errors of spec >= 6 runs are bytes given by the runtime: kept out of
-- jsonb_strip_nulls like every other payload.
CREATE OR REPLACE FUNCTION workflow.run_json(r workflow.runs, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', r.run_id, 'status', r.status, 'deploymentId', r.deployment_id,
           'workflowName', r.workflow_name, 'specVersion', r.spec_version,
           'error', CASE WHEN r.spec_version >= 6 THEN NULL ELSE r.error END,
           'errorCode', r.error_code, 'encryptionPublicKey', r.encryption_public_key,
           'createdAt', workflow.iso(r.created_at), 'updatedAt', workflow.iso(r.updated_at),
           'startedAt', workflow.iso(r.started_at), 'completedAt', workflow.iso(r.completed_at),
           'expiredAt', workflow.iso(r.expired_at)))
      || CASE WHEN r.spec_version >= 6 AND r.error IS NOT NULL THEN jsonb_build_object('error', r.error) ELSE '{}'::jsonb END
      || CASE WHEN r.attributes IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('attributes', r.attributes) END
      || CASE WHEN r.execution_context IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('executionContext', r.execution_context) END
      || CASE WHEN resolve_data = 'none' OR r.input IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('input', r.input) END
      || CASE WHEN resolve_data = 'none' OR r.output IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('output', r.output) END
$$;
COMMENT ON FUNCTION workflow.run_json(workflow.runs, text) IS
  'A run as the API returns it (camelCase); resolve_data none strips input/output. Spec >= 6 runs also carry '
  'attributes, errorCode, encryptionPublicKey and their error bytes as given.';

CREATE OR REPLACE FUNCTION workflow.step_json(s workflow.steps, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', s.run_id, 'stepId', s.step_id, 'stepName', s.step_name, 'status', s.status,
           'attempt', s.attempt, 'error', CASE WHEN s.spec_version >= 6 THEN NULL ELSE s.error END,
           'specVersion', s.spec_version,
           'createdAt', workflow.iso(s.created_at), 'updatedAt', workflow.iso(s.updated_at),
           'startedAt', workflow.iso(s.started_at), 'completedAt', workflow.iso(s.completed_at),
           'retryAfter', workflow.iso(s.retry_after)))
      || CASE WHEN s.spec_version >= 6 AND s.error IS NOT NULL THEN jsonb_build_object('error', s.error) ELSE '{}'::jsonb END
      || CASE WHEN resolve_data = 'none' OR s.input IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('input', s.input) END
      || CASE WHEN resolve_data = 'none' OR s.output IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('output', s.output) END
$$;
COMMENT ON FUNCTION workflow.step_json(workflow.steps, text) IS
  'A step as the API returns it; resolve_data none strips input/output. Spec >= 6 steps carry their error bytes as given.';

CREATE OR REPLACE FUNCTION workflow.hook_json(h workflow.hooks, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'runId', h.run_id, 'hookId', h.hook_id, 'token', h.token,
           'ownerId', h.app_id, 'projectId', h.app_id, 'environment', 'production',
           'isWebhook', h.is_webhook, 'isSystem', h.is_system, 'specVersion', h.spec_version,
           'tokenRetentionUntil', workflow.iso(h.token_retention_until),
           'createdAt', workflow.iso(h.created_at), 'disposedAt', workflow.iso(h.disposed_at)))
      || CASE WHEN h.resume_context IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('resumeContext', h.resume_context) END
      || CASE WHEN resolve_data = 'none' OR h.metadata IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('metadata', h.metadata) END
$$;
COMMENT ON FUNCTION workflow.hook_json(workflow.hooks, text) IS
  'A hook as the API returns it (ownerId and projectId are the app id); resolve_data none strips metadata. Spec >= 6 '
  'hooks also carry isSystem, tokenRetentionUntil and resumeContext.';

CREATE OR REPLACE FUNCTION workflow.event_json(e workflow.events, resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
           'eventId', e.event_id, 'runId', e.run_id, 'eventType', e.event_type,
           'correlationId', e.correlation_id, 'specVersion', e.spec_version, 'resumeId', e.resume_id,
           'createdAt', workflow.iso(e.created_at)))
      || CASE
           WHEN e.event_data IS NULL THEN '{}'::jsonb
           WHEN resolve_data <> 'none' THEN jsonb_build_object('eventData', e.event_data)
           WHEN jsonb_typeof(e.event_data) <> 'object' THEN '{}'::jsonb
           WHEN (e.event_data - workflow.event_payload_fields(e.event_type)) = '{}'::jsonb THEN '{}'::jsonb
           ELSE jsonb_build_object('eventData', e.event_data - workflow.event_payload_fields(e.event_type)) END
$$;
COMMENT ON FUNCTION workflow.event_json(workflow.events, text) IS
  'An event as the API returns it; resolve_data none strips payload members of eventData. A spec >= 6 '
  'hook_received carries its resumeId.';

-- Hooks of spec >= 6 runs attest the resume dedup (resumeId) on every lookup
-- by token: computed here, never stored, so switching it off is a deploy.
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
  RETURN workflow.hook_json(h, v_resolve)
      || CASE WHEN h.spec_version >= 6 THEN '{"resumeCapabilities": {"hookResumeDedupVersion": 1}}'::jsonb
              ELSE '{}'::jsonb END;
END $$;
COMMENT ON FUNCTION workflow.get_hook_by_token(text, text, text) IS
  'The live hook holding a token; 404 when none. Spec >= 6 hooks add resumeCapabilities {hookResumeDedupVersion: 1}.';

-- Lazy step_started and resilient run_started carry the step's / run's input.
CREATE OR REPLACE FUNCTION workflow.event_payload_fields(event_type text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE event_type
    WHEN 'run_created' THEN ARRAY['input']
    WHEN 'run_started' THEN ARRAY['input']
    WHEN 'run_completed' THEN ARRAY['output']
    WHEN 'run_failed' THEN ARRAY['error']
    WHEN 'step_created' THEN ARRAY['input']
    WHEN 'step_started' THEN ARRAY['input']
    WHEN 'step_completed' THEN ARRAY['result']
    WHEN 'step_failed' THEN ARRAY['error']
    WHEN 'step_retrying' THEN ARRAY['error']
    WHEN 'hook_created' THEN ARRAY['metadata']
    WHEN 'hook_received' THEN ARRAY['payload']
    ELSE ARRAY[]::text[] END
$$;
COMMENT ON FUNCTION workflow.event_payload_fields(text) IS
  'The eventData members that carry payloads for an event type; resolveData=none removes them.';

-- The DevKit 5 event write ------------------------------------------------------
-- create_event for a run whose spec_version >= 6: the DevKit 4 body
-- (create_event_v4) with the differences listed at the top. p_options, the
-- write parameters of @workflow/world 5.x (NULL: none):
--   eventCount           the events the writer had seen (bump and report);
--   sinceCursor          answer the events after this cursor;
--   skipPreload          run_started answers no log;
--   resumeId             hook_received: one event per (run, resumeId), repeats answer it again;
--   resumePayloadDigest  hook_received: recorded with resumeId; a repeat with another digest is 409;
--   preloadEvents        hook_received: answer the run and its whole log (replay starts from it).
CREATE FUNCTION workflow.create_event_v6(
  p_app workflow.apps, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_options jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app_id text := p_app.app_id;
  v_options jsonb := coalesce(nullif(p_options, 'null'::jsonb), '{}'::jsonb);
  p_event_count bigint;
  p_since_cursor text := v_options ->> 'sinceCursor';
  v_resume_id text := v_options ->> 'resumeId';
  v_resume_digest text := v_options ->> 'resumePayloadDigest';
  v_preload boolean;
  v_existing workflow.events;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
  v_data jsonb := nullif(p_event_data, 'null'::jsonb);
  v_now timestamptz;
  v_run workflow.runs;
  v_step workflow.steps;
  v_hook workflow.hooks;
  v_wait workflow.waits;
  v_event workflow.events;
  v_terminal boolean;
  v_retry_after timestamptz;
  v_other_run text;
  v_attributes jsonb;
  v_tail bigint;
  v_since bigint;
  v_step_created boolean := false;
  v_answer jsonb;
  v_text text;
BEGIN
  IF p_event_type IS NULL OR p_event_type NOT IN (
       'run_created', 'run_started', 'run_completed', 'run_failed', 'run_cancelled', 'attr_set',
       'step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying',
       'hook_created', 'hook_received', 'hook_disposed', 'wait_created', 'wait_completed') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT_TYPE', format('unknown or non-creatable eventType %L', p_event_type));
  END IF;
  IF v_data IS NOT NULL AND jsonb_typeof(v_data) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData must be a JSON object');
  END IF;
  IF p_event_type !~ '^(run_|attr_set)' AND coalesce(p_correlation_id, '') = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', format('correlationId is required for %s', p_event_type));
  END IF;
  IF jsonb_typeof(v_options) <> 'object'
     OR jsonb_typeof(coalesce(v_options -> 'eventCount', '0')) NOT IN ('number', 'null')
     OR coalesce(v_options ->> 'eventCount', '0') !~ '^[0-9]{1,15}$'
     OR jsonb_typeof(coalesce(v_options -> 'sinceCursor', '""')) NOT IN ('string', 'null')
     OR jsonb_typeof(coalesce(v_options -> 'skipPreload', 'false')) NOT IN ('boolean', 'null')
     OR jsonb_typeof(coalesce(v_options -> 'preloadEvents', 'false')) NOT IN ('boolean', 'null')
     OR jsonb_typeof(coalesce(v_options -> 'resumeId', '"x"')) NOT IN ('string', 'null')
     OR jsonb_typeof(coalesce(v_options -> 'resumePayloadDigest', '""')) NOT IN ('string', 'null')
     OR char_length(v_resume_id) NOT BETWEEN 1 AND 256 OR char_length(v_resume_digest) > 256 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      'write options must be {eventCount?: integer >= 0, sinceCursor?: string, skipPreload?: boolean, '
      'resumeId?: string (1..256), resumePayloadDigest?: string (<= 256), preloadEvents?: boolean}');
  END IF;
  p_event_count := (v_options ->> 'eventCount')::bigint;
  v_preload := coalesce((v_options ->> 'preloadEvents')::boolean, false) AND p_event_type = 'hook_received';
  IF v_data ? 'encryptionPublicKey' AND jsonb_typeof(v_data -> 'encryptionPublicKey') NOT IN ('string', 'null') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.encryptionPublicKey must be a string');
  END IF;

  -- run_created: the only event without an existing run.
  IF p_event_type = 'run_created' THEN
    IF p_run_id IS NULL THEN
      p_run_id := 'wrun_' || workflow.ulid();
    ELSIF p_run_id !~ '^wrun_[0-9A-HJKMNP-TV-Z]{26}$' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID',
        format('malformed runId %L: expected wrun_ followed by a 26-character ULID', p_run_id));
    END IF;
    IF v_data IS NULL THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'run_created needs eventData {deploymentId, workflowName, input}');
    END IF;
    v_attributes := workflow.attributes_seed(v_data, 'run_created');
    v_now := clock_timestamp();
    v_run := workflow.insert_run(p_app, p_run_id, v_data, p_spec_version, v_now);
    IF v_run.run_id IS NULL THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_EXISTS', format('run %s already exists', p_run_id));
    END IF;
    UPDATE workflow.runs SET attributes = v_attributes, encryption_public_key = v_data ->> 'encryptionPublicKey'
     WHERE app_id = v_app_id AND run_id = p_run_id RETURNING * INTO v_run;
    v_event := workflow.append_slot_event(p_app, p_run_id, 'run_created', NULL, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'run', workflow.run_json(v_run, v_resolve),
                              'maxEvents', p_app.max_events_per_run)::text;
  END IF;

  IF p_run_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID', format('%s needs a runId', p_event_type));
  END IF;

  -- Every other event serialises on the run's row: positions are handed out
  -- in commit order, so a reader's log is always a prefix of the run's.
  SELECT * INTO v_run FROM workflow.runs WHERE app_id = v_app_id AND run_id = p_run_id FOR UPDATE;
  IF NOT FOUND AND p_event_type = 'run_started'
     AND v_data ? 'deploymentId' AND v_data ? 'workflowName' AND v_data ? 'input' THEN
    -- Resilient start: the run's creation was lost, its data came through the queue.
    IF p_run_id !~ '^wrun_[0-9A-HJKMNP-TV-Z]{26}$' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID',
        format('malformed runId %L: expected wrun_ followed by a 26-character ULID', p_run_id));
    END IF;
    v_attributes := workflow.attributes_seed(v_data, 'run_started');
    v_now := clock_timestamp();
    v_run := workflow.insert_run(p_app, p_run_id, v_data, p_spec_version, v_now);
    IF v_run.run_id IS NOT NULL THEN
      UPDATE workflow.runs SET attributes = v_attributes, encryption_public_key = v_data ->> 'encryptionPublicKey'
       WHERE app_id = v_app_id AND run_id = p_run_id;
      PERFORM workflow.append_slot_event(p_app, p_run_id, 'run_created', NULL,
        workflow.jsonb_drop_nulls(jsonb_build_object(
          'deploymentId', v_data -> 'deploymentId', 'workflowName', v_data -> 'workflowName',
          'executionContext', v_data -> 'executionContext', 'attributes', v_data -> 'attributes',
          'allowReservedAttributes', v_data -> 'allowReservedAttributes',
          'encryptionPublicKey', v_data -> 'encryptionPublicKey'))
        || jsonb_build_object('input', v_data -> 'input'),
        p_spec_version, v_now);
    END IF;
    SELECT * INTO v_run FROM workflow.runs WHERE app_id = v_app_id AND run_id = p_run_id FOR UPDATE;
  END IF;
  IF v_run.run_id IS NULL THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id), jsonb_build_object('runId', p_run_id));
  END IF;
  v_now := clock_timestamp(); -- after the lock, so times follow the log order
  v_terminal := v_run.status IN ('completed', 'failed', 'cancelled');

  -- Bump and report: the write lands after the log's last event whatever
  -- eventCount says; what the writer had not seen goes back in the answer.
  v_tail := coalesce((SELECT e.run_ordinal FROM workflow.events e WHERE e.app_id = v_app_id AND e.run_id = p_run_id
                       ORDER BY e.run_ordinal DESC LIMIT 1), 0);
  IF p_event_count > v_tail THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('eventCount %s is more than the %s events of run %s', p_event_count, v_tail, p_run_id),
      jsonb_build_object('runId', p_run_id, 'eventCount', v_tail));
  END IF;
  v_since := workflow.event_cursor(v_app_id, p_run_id, p_since_cursor);

  CASE p_event_type
  WHEN 'run_started' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW410', 'WF_RUN_EXPIRED', format('run %s is already %s', p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF v_run.status = 'pending' THEN
      UPDATE workflow.runs SET status = 'running', started_at = coalesce(started_at, v_now), updated_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id RETURNING * INTO v_run;
      v_event := workflow.append_slot_event(p_app, p_run_id, 'run_started', NULL, NULL, p_spec_version, v_now);
    END IF;
    v_answer := jsonb_build_object('run', workflow.run_json(v_run, v_resolve), 'maxEvents', p_app.max_events_per_run);
    IF NOT coalesce((v_options ->> 'skipPreload')::boolean, false) THEN
      -- The whole log (the runtime's replay then needs no events.list).
      v_text := jsonb_build_object('hasMore', false, 'cursor',
                  (SELECT e.run_ordinal::text FROM workflow.events e
                    WHERE e.app_id = v_app_id AND e.run_id = p_run_id ORDER BY e.run_ordinal DESC LIMIT 1))::text;
      v_text := left(v_text, -1) || ', "events": ['
        || (SELECT coalesce(string_agg(CASE WHEN v_resolve = 'all' THEN e.event_json
                                            ELSE workflow.event_json(e, v_resolve)::text END, ', ' ORDER BY e.run_ordinal), '')
              FROM workflow.events e WHERE e.app_id = v_app_id AND e.run_id = p_run_id)
        || ']}';
      v_answer := v_answer || CASE WHEN v_event.event_id IS NULL THEN '{}'::jsonb
                                   ELSE jsonb_build_object('event', CASE WHEN v_resolve = 'all' THEN v_event.event_json::jsonb
                                                          ELSE workflow.event_json(v_event, v_resolve) END) END;
      RETURN left(v_answer::text, -1) || ', ' || substr(v_text, 2);
    END IF;

  WHEN 'run_completed', 'run_failed', 'run_cancelled' THEN
    IF v_terminal THEN
      IF p_event_type = 'run_cancelled' AND v_run.status = 'cancelled' THEN
        RETURN jsonb_build_object('run', workflow.run_json(v_run, v_resolve), 'maxEvents', p_app.max_events_per_run)::text;
      END IF;
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('run %s is already %s', p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF p_event_type = 'run_failed' AND v_data ? 'errorCode'
       AND jsonb_typeof(v_data -> 'errorCode') NOT IN ('string', 'null') THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.errorCode must be a string');
    END IF;
    IF p_event_type = 'run_cancelled' AND v_data ? 'cancelReason' AND v_data -> 'cancelReason' <> 'null'::jsonb
       AND (jsonb_typeof(v_data -> 'cancelReason') <> 'string' OR char_length(v_data ->> 'cancelReason') > 512) THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.cancelReason must be a string of at most 512 characters');
    END IF;
    -- The error is the runtime's serialised value (bytes), kept as given.
    UPDATE workflow.runs SET
      status = CASE p_event_type WHEN 'run_completed' THEN 'completed' WHEN 'run_failed' THEN 'failed' ELSE 'cancelled' END,
      output = CASE WHEN p_event_type = 'run_completed' THEN nullif(v_data -> 'output', 'null'::jsonb) END,
      error = CASE WHEN p_event_type = 'run_failed' THEN nullif(v_data -> 'error', 'null'::jsonb) END,
      error_code = CASE WHEN p_event_type = 'run_failed' THEN v_data ->> 'errorCode' END,
      completed_at = v_now, updated_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id RETURNING * INTO v_run;
    -- An ended run frees its hook tokens, except those kept until their
    -- tokenRetentionUntil (readable, not resumable; freed by the next
    -- hook_created that wants the token after that time, or hook_disposed).
    UPDATE workflow.hooks SET disposed_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id AND disposed_at IS NULL
       AND (token_retention_until IS NULL OR token_retention_until <= v_now);
    UPDATE workflow.waits SET status = 'completed', completed_at = v_now, updated_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id AND status = 'waiting';
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, NULL, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('run', workflow.run_json(v_run, v_resolve), 'maxEvents', p_app.max_events_per_run);

  WHEN 'attr_set' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot set attributes: run %s is %s', p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF v_data IS NULL THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'attr_set needs eventData {changes, writer}');
    END IF;
    IF v_data ? 'allowReservedAttributes' AND v_data -> 'allowReservedAttributes' NOT IN ('true'::jsonb, 'null'::jsonb) THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES', 'eventData.allowReservedAttributes must be true when given');
    END IF;
    IF NOT (v_data -> 'writer' @> '{"type": "workflow"}'
            OR (v_data -> 'writer' @> '{"type": "step"}' AND jsonb_typeof(v_data #> '{writer,stepId}') = 'string'
                AND jsonb_typeof(v_data #> '{writer,attempt}') = 'number')) THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT',
        'eventData.writer must be {type: "workflow"} or {type: "step", stepId, attempt}');
    END IF;
    IF octet_length(v_data::text) > 8192 THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_ATTRIBUTES',
        format('Attribute eventData exceeds limit 8192 UTF-8 JSON bytes (received %s bytes): split the changes into '
               'smaller setAttributes() calls', octet_length(v_data::text)));
    END IF;
    UPDATE workflow.runs
       SET attributes = workflow.attributes_merge(attributes, v_data -> 'changes', v_data -> 'allowReservedAttributes' = 'true'),
           updated_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id RETURNING * INTO v_run;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('run', workflow.run_json(v_run, v_resolve));

  WHEN 'step_created' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot create step %s: run %s is %s', p_correlation_id, p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF jsonb_typeof(v_data -> 'stepName') IS DISTINCT FROM 'string' OR v_data ->> 'stepName' = '' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.stepName must be a non-empty string');
    END IF;
    INSERT INTO workflow.steps AS s (app_id, run_id, step_id, step_name, status, input, spec_version, created_at, updated_at)
    VALUES (v_app_id, p_run_id, p_correlation_id, v_data ->> 'stepName', 'pending', nullif(v_data -> 'input', 'null'::jsonb),
            p_spec_version, v_now, v_now)
    ON CONFLICT (app_id, run_id, step_id) DO NOTHING
    RETURNING s.* INTO v_step;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_STEP_EXISTS', format('step %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('step', workflow.step_json(v_step, v_resolve));

  WHEN 'step_started', 'step_completed', 'step_failed', 'step_retrying' THEN
    SELECT * INTO v_step FROM workflow.steps
     WHERE app_id = v_app_id AND run_id = p_run_id AND step_id = p_correlation_id FOR UPDATE;
    -- Lazy start: a step_started with the step's name and input creates the
    -- step (and the step_created replay expects) when it is not there yet;
    -- when it is, another writer won the creation: 409, never two owners.
    IF p_event_type = 'step_started' AND jsonb_typeof(v_data -> 'stepName') = 'string' AND v_data ? 'input' THEN
      IF FOUND THEN
        PERFORM workflow.refuse('PW409', 'WF_STEP_EXISTS',
          format('step %s of run %s already exists: another writer created it', p_correlation_id, p_run_id),
          jsonb_build_object('runId', p_run_id, 'stepId', p_correlation_id, 'status', v_step.status));
      END IF;
      IF v_terminal THEN
        PERFORM workflow.refuse('PW410', 'WF_RUN_EXPIRED',
          format('run %s is %s: step %s can no longer start', p_run_id, v_run.status, p_correlation_id),
          jsonb_build_object('runId', p_run_id, 'status', v_run.status));
      END IF;
      IF v_data ->> 'stepName' = '' THEN
        PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.stepName must be a non-empty string');
      END IF;
      INSERT INTO workflow.steps AS s (app_id, run_id, step_id, step_name, status, input, spec_version, created_at, updated_at)
      VALUES (v_app_id, p_run_id, p_correlation_id, v_data ->> 'stepName', 'pending', nullif(v_data -> 'input', 'null'::jsonb),
              p_spec_version, v_now, v_now)
      RETURNING s.* INTO v_step;
      PERFORM workflow.append_slot_event(p_app, p_run_id, 'step_created', p_correlation_id,
        workflow.jsonb_drop_nulls(jsonb_build_object('stepName', v_data -> 'stepName', 'workflowName', v_data -> 'workflowName'))
        || jsonb_build_object('input', v_data -> 'input'),
        p_spec_version, v_now);
      v_step_created := true;
    ELSIF NOT FOUND THEN
      PERFORM workflow.refuse('PW404', 'WF_STEP_NOT_FOUND', format('step %s of run %s not found', p_correlation_id, p_run_id),
                              jsonb_build_object('runId', p_run_id, 'stepId', p_correlation_id));
    END IF;
    IF v_step.status IN ('completed', 'failed') THEN
      PERFORM workflow.refuse('PW409', 'WF_STEP_TERMINAL', format('step %s is already %s', p_correlation_id, v_step.status),
                              jsonb_build_object('stepId', p_correlation_id, 'status', v_step.status));
    END IF;
    IF v_terminal AND (p_event_type = 'step_started' OR v_step.status <> 'running') THEN
      PERFORM workflow.refuse('PW410', 'WF_RUN_EXPIRED',
        format('run %s is %s: step %s (%s) can no longer %s', p_run_id, v_run.status, p_correlation_id, v_step.status,
               CASE WHEN p_event_type = 'step_started' THEN 'start' ELSE 'change' END),
        jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF p_event_type = 'step_started' THEN
      IF v_step.retry_after > v_now THEN
        PERFORM workflow.refuse('PW425', 'WF_TOO_EARLY',
          format('step %s may not start before %s', p_correlation_id, workflow.iso(v_step.retry_after)),
          jsonb_build_object('retryAfter', ceil(extract(epoch FROM v_step.retry_after - v_now))::bigint,
                             'retryAfterAt', workflow.iso(v_step.retry_after)));
      END IF;
      UPDATE workflow.steps SET status = 'running', attempt = attempt + 1, started_at = coalesce(started_at, v_now),
                                retry_after = NULL, updated_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    ELSIF p_event_type = 'step_completed' THEN
      UPDATE workflow.steps SET status = 'completed', output = nullif(v_data -> 'result', 'null'::jsonb),
                                retry_after = NULL, completed_at = v_now, updated_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    ELSIF p_event_type = 'step_failed' THEN
      UPDATE workflow.steps SET status = 'failed', error = nullif(v_data -> 'error', 'null'::jsonb),
                                retry_after = NULL, completed_at = v_now, updated_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    ELSE
      v_retry_after := workflow.event_time(v_data, 'retryAfter', false);
      UPDATE workflow.steps SET status = 'pending', error = nullif(v_data -> 'error', 'null'::jsonb),
                                retry_after = v_retry_after, updated_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    END IF;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('step', workflow.step_json(v_step, v_resolve))
             || CASE WHEN v_step_created THEN '{"stepCreated": true}'::jsonb ELSE '{}'::jsonb END;

  WHEN 'hook_created' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot create hook %s: run %s is %s', p_correlation_id, p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF jsonb_typeof(v_data -> 'token') IS DISTINCT FROM 'string' OR v_data ->> 'token' = '' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.token must be a non-empty string');
    END IF;
    IF v_data ? 'isWebhook' AND jsonb_typeof(v_data -> 'isWebhook') NOT IN ('boolean', 'null') THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.isWebhook must be a boolean');
    END IF;
    IF v_data ? 'isSystem' AND jsonb_typeof(v_data -> 'isSystem') NOT IN ('boolean', 'null') THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.isSystem must be a boolean');
    END IF;
    PERFORM 1 FROM workflow.hooks WHERE app_id = v_app_id AND run_id = p_run_id AND hook_id = p_correlation_id;
    IF FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_HOOK_EXISTS', format('hook %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    -- A token kept past its run's end is free again once its retention is over.
    UPDATE workflow.hooks h SET disposed_at = v_now
     WHERE h.app_id = v_app_id AND h.token = v_data ->> 'token' AND h.disposed_at IS NULL
       AND h.token_retention_until <= v_now
       AND EXISTS (SELECT 1 FROM workflow.runs r WHERE r.app_id = h.app_id AND r.run_id = h.run_id
                      AND r.status IN ('completed', 'failed', 'cancelled'));
    INSERT INTO workflow.hooks AS h (app_id, run_id, hook_id, token, metadata, is_webhook, spec_version, created_at,
                                     is_system, token_retention_until, resume_context)
    VALUES (v_app_id, p_run_id, p_correlation_id, v_data ->> 'token', nullif(v_data -> 'metadata', 'null'::jsonb),
            coalesce((v_data ->> 'isWebhook')::boolean, true), p_spec_version, v_now,
            (v_data ->> 'isSystem')::boolean, workflow.event_time(v_data, 'tokenRetentionUntil', false),
            workflow.hook_resume_context(v_run))
    ON CONFLICT DO NOTHING
    RETURNING h.* INTO v_hook;
    IF NOT FOUND THEN
      SELECT run_id INTO v_other_run FROM workflow.hooks
       WHERE app_id = v_app_id AND token = v_data ->> 'token' AND disposed_at IS NULL;
      IF v_other_run IS NULL THEN
        PERFORM workflow.refuse('PW409', 'WF_HOOK_EXISTS', format('hook %s of run %s already exists', p_correlation_id, p_run_id));
      END IF;
      v_event := workflow.append_slot_event(p_app, p_run_id, 'hook_conflict', p_correlation_id,
                   jsonb_build_object('token', v_data ->> 'token', 'conflictingRunId', v_other_run), p_spec_version, v_now);
      v_answer := '{}'::jsonb;
    ELSE
      v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
      v_answer := jsonb_build_object('hook', workflow.hook_json(v_hook, v_resolve));
    END IF;

  WHEN 'hook_received', 'hook_disposed' THEN
    -- Lazy hook resume: the producer's direct write and the queue consumer's
    -- re-ensure carry the same resumeId and converge on one event.
    IF p_event_type = 'hook_received' AND v_resume_id IS NOT NULL THEN
      SELECT * INTO v_existing FROM workflow.events
       WHERE app_id = v_app_id AND run_id = p_run_id AND resume_id = v_resume_id;
      IF FOUND THEN
        IF v_existing.correlation_id IS DISTINCT FROM p_correlation_id
           OR v_existing.resume_payload_digest <> v_resume_digest THEN
          PERFORM workflow.refuse('PW409', 'WF_RESUME_CONFLICT',
            format('resumeId %s of run %s already resumed hook %s with another payload', v_resume_id, p_run_id,
                   v_existing.correlation_id),
            jsonb_build_object('runId', p_run_id, 'resumeId', v_resume_id, 'hookId', v_existing.correlation_id));
        END IF;
        SELECT * INTO v_hook FROM workflow.hooks
         WHERE app_id = v_app_id AND run_id = p_run_id AND hook_id = p_correlation_id;
        v_event := v_existing;
      END IF;
    END IF;
    IF v_event.event_id IS NULL THEN
    SELECT * INTO v_hook FROM workflow.hooks
     WHERE app_id = v_app_id AND run_id = p_run_id AND hook_id = p_correlation_id FOR UPDATE;
    IF NOT FOUND OR (p_event_type = 'hook_received' AND v_hook.disposed_at IS NOT NULL) THEN
      PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', format('hook %s of run %s not found', p_correlation_id, p_run_id),
                              jsonb_build_object('hookId', p_correlation_id));
    END IF;
    IF p_event_type = 'hook_received' AND v_terminal THEN
      -- a hook kept for its tokenRetentionUntil: readable, never resumed
      PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND',
        format('hook %s of run %s cannot be resumed: the run is %s', p_correlation_id, p_run_id, v_run.status),
        jsonb_build_object('hookId', p_correlation_id, 'status', v_run.status));
    END IF;
    IF p_event_type = 'hook_disposed' THEN
      IF v_hook.disposed_at IS NOT NULL THEN
        PERFORM workflow.refuse('PW409', 'WF_HOOK_DISPOSED', format('hook %s is already disposed', p_correlation_id));
      END IF;
      UPDATE workflow.hooks SET disposed_at = v_now
       WHERE app_id = v_app_id AND run_id = p_run_id AND hook_id = p_correlation_id RETURNING * INTO v_hook;
    END IF;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now,
                                          CASE WHEN p_event_type = 'hook_received' THEN v_resume_id END,
                                          CASE WHEN p_event_type = 'hook_received' THEN v_resume_digest END);
    END IF;
    v_answer := jsonb_build_object('hook', workflow.hook_json(v_hook, v_resolve));
    IF v_preload THEN
      -- The replay log as the run_started answer has it, read in this
      -- transaction (so it holds every event committed before this one).
      v_answer := v_answer || jsonb_build_object('run', workflow.run_json(v_run, v_resolve),
                                                 'maxEvents', p_app.max_events_per_run);
      v_since := 0;
    END IF;

  WHEN 'wait_created' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot create wait %s: run %s is %s', p_correlation_id, p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    INSERT INTO workflow.waits AS w (app_id, run_id, wait_id, status, resume_at, spec_version, created_at, updated_at)
    VALUES (v_app_id, p_run_id, p_correlation_id, 'waiting', workflow.event_time(v_data, 'resumeAt', true),
            p_spec_version, v_now, v_now)
    ON CONFLICT (app_id, run_id, wait_id) DO NOTHING
    RETURNING w.* INTO v_wait;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_WAIT_EXISTS', format('wait %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('wait', workflow.wait_json(v_wait));

  WHEN 'wait_completed' THEN
    SELECT * INTO v_wait FROM workflow.waits
     WHERE app_id = v_app_id AND run_id = p_run_id AND wait_id = p_correlation_id FOR UPDATE;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW404', 'WF_WAIT_NOT_FOUND', format('wait %s of run %s not found', p_correlation_id, p_run_id));
    END IF;
    IF v_wait.status = 'completed' THEN
      PERFORM workflow.refuse('PW409', 'WF_WAIT_COMPLETED', format('wait %s is already completed', p_correlation_id));
    END IF;
    UPDATE workflow.waits SET status = 'completed', completed_at = v_now, updated_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id AND wait_id = p_correlation_id RETURNING * INTO v_wait;
    v_event := workflow.append_slot_event(p_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    v_answer := jsonb_build_object('wait', workflow.wait_json(v_wait));
  END CASE;

  IF v_event.event_id IS NOT NULL THEN
    v_answer := v_answer || jsonb_build_object('event', CASE WHEN v_resolve = 'all' THEN v_event.event_json::jsonb
                                                          ELSE workflow.event_json(v_event, v_resolve) END);
  END IF;
  v_text := v_answer::text;
  -- sinceCursor: everything after the cursor, this write included. Else the
  -- report of bump-and-report: the slots between the writer's eventCount
  -- and the ones this write took, when there are any.
  IF v_since IS NOT NULL THEN
    -- (a preload must be the complete log: it pages up to the run's event quota)
    RETURN left(v_text, -1) || ', ' || substr(workflow.run_events_page(v_app_id, p_run_id, v_since, NULL,
      CASE WHEN v_preload THEN p_app.max_events_per_run ELSE 1000 END, v_resolve), 2);
  ELSIF p_event_count < v_tail THEN
    RETURN left(v_text, -1) || ', ' || substr(workflow.run_events_page(v_app_id, p_run_id, p_event_count, v_tail + 1, 1000, v_resolve), 2);
  END IF;
  RETURN v_text;
END $$;
COMMENT ON FUNCTION workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb) IS
  'create_event for spec >= 6 runs (DevKit 5, docs/devkit5.md): slot event ids, bump-and-report against '
  'p_options.eventCount (the answer''s events/cursor/hasMore hold the skipped slots; no 412), sinceCursor deltas, '
  'skipPreload, hook_received resumeId dedup and preloadEvents, lazy step start (stepCreated), error bytes as given, '
  'attributes and attr_set, hook and run 5.x members. Called by create_event (which checked the app) with the '
  'run''s spec >= 6.';

-- Routing: each run keeps the protocol it was created under ----------------------
CREATE FUNCTION workflow.event_run_spec(p_app_id text, p_run_id text, p_event_type text, p_spec_version integer)
RETURNS integer LANGUAGE sql STABLE AS $$
  -- run_created stamps the run; any other event follows the run's stamp (a
  -- run_started that creates a lost run, like a missing run, its own).
  SELECT CASE WHEN p_event_type = 'run_created' THEN p_spec_version
              ELSE coalesce((SELECT r.spec_version FROM workflow.runs r
                              WHERE r.app_id = p_app_id AND r.run_id = p_run_id AND r.spec_version IS NOT NULL),
                            CASE WHEN p_event_type = 'run_started' THEN p_spec_version END) END
$$;
COMMENT ON FUNCTION workflow.event_run_spec(text, text, text, integer) IS
  'The spec version whose protocol an event write follows: the event''s own for run_created (and for a run_started '
  'that finds no run), otherwise the run''s stamped spec_version. >= 6: DevKit 5 (create_event_v6).';

-- The DevKit 4 body, unchanged, under a new name.
ALTER FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint) RENAME TO create_event_v4;

CREATE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
BEGIN
  IF workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version) >= 6 THEN
    -- DevKit 5 has no stateUpdatedAt: the slot allocation replaces the guard.
    RETURN workflow.create_event_v6(v_app, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                    p_resolve_data, NULL);
  END IF;
  RETURN workflow.create_event_v4(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                  p_resolve_data, p_state_updated_at);
END $$;
COMMENT ON FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint) IS
  'Validates, appends and projects one event under its run''s protocol: spec <= 5 create_event_v4 (the DevKit 4 '
  'rules, with the stateUpdatedAt 412), spec >= 6 create_event_v6 (DevKit 5: slot ids, no 412). Refusals raise '
  'PWnnn SQLSTATEs.';

-- The service's entry point: the nine-argument form plus the DevKit 5 write
-- options (see create_event_v6; used by spec >= 6 runs only).
CREATE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint,
  p_enqueue jsonb, p_options jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_options jsonb := nullif(p_options, 'null'::jsonb);
  v_result text;
  v_queued jsonb;
BEGIN
  IF v_options IS NULL
     OR coalesce(workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version), 0) < 6 THEN
    RETURN workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                 p_spec_version, p_resolve_data, p_state_updated_at, p_enqueue);
  END IF;
  IF p_enqueue IS NOT NULL AND p_enqueue <> 'null'::jsonb THEN
    PERFORM workflow.event_message_check(p_run_id, p_event_type, p_correlation_id, p_enqueue);
  END IF;
  v_result := workflow.create_event_v6(v_app, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                       p_resolve_data, v_options);
  IF p_enqueue IS NULL OR p_enqueue = 'null'::jsonb THEN
    RETURN v_result;
  END IF;
  BEGIN
    v_queued := workflow.enqueue(v_app.app_id, p_enqueue ->> 'queueName', p_enqueue -> 'message',
                                 p_enqueue ->> 'deploymentId', p_enqueue ->> 'idempotencyKey', NULL);
  EXCEPTION WHEN SQLSTATE 'PW429' THEN
    RETURN v_result; -- as in the nine-argument form: the event stands, the runtime's queue() gets the 429
  END;
  RETURN (v_result::jsonb || jsonb_build_object('queued', v_queued))::text;
END $$;
COMMENT ON FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb) IS
  'create_event with the message it makes necessary (p_enqueue, see the nine-argument form) and, for spec >= 6 '
  'runs, the DevKit 5 write options p_options {eventCount, sinceCursor, skipPreload, resumeId, resumePayloadDigest, '
  'preloadEvents} (see create_event_v6): the answer then carries events/cursor/hasMore (the skipped slots, everything '
  'after sinceCursor, or the whole log). p_options NULL, or a spec <= 5 run: exactly the nine-argument form.';

-- Event lists: a run's log pages from a position or from an event id.
CREATE OR REPLACE FUNCTION workflow.list_events(
  p_app_id text, p_run_id text, p_correlation_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'asc');
  v_after bigint := workflow.event_cursor(p_app_id, p_run_id, p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_run_id IS NULL AND p_correlation_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'listing events needs a runId or a correlationId');
  END IF;
  -- A run's log pages on run_ordinal (the cursor run_started returns; an
  -- event id of the run names its position); a correlation id's events
  -- across runs page on the global event_seq.
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
  'Events of a run and/or of a correlation id (step, hook, wait), in log order by default: {data, cursor, hasMore}. '
  'A run''s cursor is a position or an event id of the run (wevt_ or evnt_, optionally eid:<id>).';

-- Classification ----------------------------------------------------------------
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)');
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)');
SELECT workflow.expose_api('workflow.list_events(text, text, text, integer, text, text, text)');
SELECT workflow.expose_api('workflow.get_hook_by_token(text, text, text)');
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint)',
  'workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb)',
  'workflow.event_run_spec(text, text, text, integer)',
  'workflow.slot_event_id(bigint)',
  'workflow.append_slot_event(workflow.apps, text, text, text, jsonb, integer, timestamptz, text, text)',
  'workflow.event_cursor(text, text, text)',
  'workflow.attributes_merge(jsonb, jsonb, boolean)',
  'workflow.attributes_seed(jsonb, text)',
  'workflow.hook_resume_context(workflow.runs)',
  'workflow.run_events_page(text, text, bigint, bigint, integer, text)',
  'workflow.run_json(workflow.runs, text)',
  'workflow.step_json(workflow.steps, text)',
  'workflow.hook_json(workflow.hooks, text)',
  'workflow.event_payload_fields(text)',
  'workflow.event_json(workflow.events, text)']) f;

COMMIT;
