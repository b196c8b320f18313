-- Deploy pg-workflow:state_guard
-- The runtime's optimistic-concurrency guard (stateUpdatedAt) and the state
-- machines of docs/state-machines.md made exact in constraints and code.
--
-- API:      workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)  (new: with stateUpdatedAt)
--           workflow.create_event(text, text, text, text, jsonb, integer, text)          (replaced: delegates, no guard)
-- (both SECURITY DEFINER as pgw_api via workflow.expose_api; the eight-argument
-- form starts with workflow.require_app, the wrapper only delegates to it)
-- SERVICE:  none
-- INTERNAL: none
--
-- The guard (the @workflow/world 4.5 CreateEventParams.stateUpdatedAt contract):
-- every run keeps the time (ms, the event's ULID time) of its latest external
-- event, a hook_received or step_completed created without stateUpdatedAt. An
-- event created with stateUpdatedAt older than that time was decided on a log
-- that misses it: 412, the runtime reloads the log and retries. Equal passes.
BEGIN;

ALTER TABLE workflow.runs ADD COLUMN state_updated_at timestamptz;
COMMENT ON COLUMN workflow.runs.state_updated_at IS
  'Time (to the millisecond, the ULID time of its event id) of the run''s latest external hook_received or step_completed, '
  'i.e. one created without stateUpdatedAt. An event whose stateUpdatedAt is older is refused with 412.';

-- Steps: nothing sets `cancelled` (pending steps of an ended run stay as they
-- are); output belongs to completed steps; started_at is set by the first start.
ALTER TABLE workflow.steps
  DROP CONSTRAINT steps_status_check,
  DROP CONSTRAINT steps_finished_iff_terminal,
  ADD CONSTRAINT steps_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  ADD CONSTRAINT steps_finished_iff_terminal CHECK ((status IN ('completed', 'failed')) = (completed_at IS NOT NULL)),
  ADD CONSTRAINT steps_output_only_completed CHECK (output IS NULL OR status = 'completed'),
  ADD CONSTRAINT steps_started_iff_attempted CHECK ((attempt > 0) = (started_at IS NOT NULL));
COMMENT ON TABLE workflow.steps IS
  'Steps of runs (stepId = the events'' correlationId). status: pending | running → running (step_started), '
  'pending | running → pending (step_retrying), pending | running → completed | failed.';

CREATE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
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
  v_head text;
BEGIN
  IF p_event_type IS NULL OR p_event_type NOT IN (
       'run_created', 'run_started', 'run_completed', 'run_failed', 'run_cancelled',
       'step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying',
       'hook_created', 'hook_received', 'hook_disposed', 'wait_created', 'wait_completed') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT_TYPE', format('unknown or non-creatable eventType %L', p_event_type));
  END IF;
  IF v_data IS NOT NULL AND jsonb_typeof(v_data) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData must be a JSON object');
  END IF;
  IF p_event_type !~ '^run_' AND coalesce(p_correlation_id, '') = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', format('correlationId is required for %s', p_event_type));
  END IF;
  IF p_state_updated_at < 0 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('stateUpdatedAt must be epoch milliseconds, not %s', p_state_updated_at));
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
    v_now := clock_timestamp();
    v_run := workflow.insert_run(v_app, p_run_id, v_data, p_spec_version, v_now);
    IF v_run.run_id IS NULL THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_EXISTS', format('run %s already exists', p_run_id));
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, 'run_created', NULL, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'run', workflow.run_json(v_run, v_resolve),
                              'maxEvents', v_app.max_events_per_run)::text;
  END IF;

  IF p_run_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID', format('%s needs a runId', p_event_type));
  END IF;

  -- Every other event serialises on the run's row.
  SELECT * INTO v_run FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id FOR UPDATE;
  IF NOT FOUND AND p_event_type = 'run_started'
     AND v_data ? 'deploymentId' AND v_data ? 'workflowName' AND v_data ? 'input' THEN
    -- Resilient start: the run's creation was lost, its data came through the queue.
    IF p_run_id !~ '^wrun_[0-9A-HJKMNP-TV-Z]{26}$' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID',
        format('malformed runId %L: expected wrun_ followed by a 26-character ULID', p_run_id));
    END IF;
    v_now := clock_timestamp();
    v_run := workflow.insert_run(v_app, p_run_id, v_data, p_spec_version, v_now);
    IF v_run.run_id IS NOT NULL THEN
      PERFORM workflow.append_event(v_app, p_run_id, 'run_created', NULL,
        jsonb_build_object('deploymentId', v_data -> 'deploymentId', 'workflowName', v_data -> 'workflowName',
                           'input', v_data -> 'input')
        || CASE WHEN v_data ? 'executionContext' THEN jsonb_build_object('executionContext', v_data -> 'executionContext')
                ELSE '{}'::jsonb END,
        p_spec_version, v_now);
    END IF;
    SELECT * INTO v_run FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id FOR UPDATE;
  END IF;
  IF v_run.run_id IS NULL THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id), jsonb_build_object('runId', p_run_id));
  END IF;
  v_now := clock_timestamp(); -- after the lock, so times follow the log order
  v_terminal := v_run.status IN ('completed', 'failed', 'cancelled');

  -- Optimistic concurrency: the caller decided on a log that ends at
  -- stateUpdatedAt (ms); an external event recorded after it makes that
  -- decision stale. Compared in whole milliseconds, the precision of the
  -- caller's snapshot: an up-to-date caller sends a time >= the marker.
  IF p_state_updated_at < workflow.epoch_ms(v_run.state_updated_at) THEN
    PERFORM workflow.refuse('PW412', 'WF_PRECONDITION_FAILED',
      format('run %s changed at %s, after the state this %s was based on (%s): reload its events and retry',
             p_run_id, workflow.iso(v_run.state_updated_at), p_event_type,
             workflow.iso(to_timestamp(p_state_updated_at / 1000.0))),
      jsonb_build_object('runId', p_run_id, 'stateUpdatedAt', workflow.epoch_ms(v_run.state_updated_at),
                         'requestStateUpdatedAt', p_state_updated_at));
  END IF;

  CASE p_event_type
  WHEN 'run_started' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW410', 'WF_RUN_EXPIRED', format('run %s is already %s', p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF v_run.status = 'pending' THEN
      UPDATE workflow.runs SET status = 'running', started_at = coalesce(started_at, v_now), updated_at = v_now
       WHERE app_id = p_app_id AND run_id = p_run_id RETURNING * INTO v_run;
      v_event := workflow.append_event(v_app, p_run_id, 'run_started', NULL, NULL, p_spec_version, v_now);
    END IF;
    -- The whole log comes back, so the runtime's replay needs no events.list.
    -- It is joined from the stored event_json texts (no per-event JSON work).
    v_head := jsonb_build_object(
                'run', workflow.run_json(v_run, v_resolve), 'maxEvents', v_app.max_events_per_run, 'hasMore', false,
                'cursor', (SELECT e.run_ordinal::text FROM workflow.events e
                            WHERE e.app_id = p_app_id AND e.run_id = p_run_id ORDER BY e.run_ordinal DESC LIMIT 1))::text;
    IF v_event.event_id IS NOT NULL THEN
      v_head := left(v_head, -1) || ', "event": ' || v_event.event_json || '}';
    END IF;
    RETURN left(v_head, -1) || ', "events": ['
      || (SELECT coalesce(string_agg(CASE WHEN v_resolve = 'all' THEN e.event_json
                                          ELSE workflow.event_json(e, v_resolve)::text END, ', ' ORDER BY e.run_ordinal), '')
            FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = p_run_id)
      || ']}';

  WHEN 'run_completed', 'run_failed', 'run_cancelled' THEN
    IF v_terminal THEN
      IF p_event_type = 'run_cancelled' AND v_run.status = 'cancelled' THEN
        RETURN jsonb_build_object('run', workflow.run_json(v_run, v_resolve), 'maxEvents', v_app.max_events_per_run)::text;
      END IF;
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('run %s is already %s', p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    UPDATE workflow.runs SET
      status = CASE p_event_type WHEN 'run_completed' THEN 'completed' WHEN 'run_failed' THEN 'failed' ELSE 'cancelled' END,
      output = CASE WHEN p_event_type = 'run_completed' THEN nullif(v_data -> 'output', 'null'::jsonb) END,
      error = CASE WHEN p_event_type = 'run_failed'
                   THEN workflow.error_json(v_data -> 'error', v_data -> 'stack', v_data -> 'errorCode') END,
      completed_at = v_now, updated_at = v_now
     WHERE app_id = p_app_id AND run_id = p_run_id RETURNING * INTO v_run;
    -- An ended run frees its hook tokens and stops waiting.
    UPDATE workflow.hooks SET disposed_at = v_now
     WHERE app_id = p_app_id AND run_id = p_run_id AND disposed_at IS NULL;
    UPDATE workflow.waits SET status = 'completed', completed_at = v_now, updated_at = v_now
     WHERE app_id = p_app_id AND run_id = p_run_id AND status = 'waiting';
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, NULL, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'run', workflow.run_json(v_run, v_resolve),
                              'maxEvents', v_app.max_events_per_run)::text;

  WHEN 'step_created' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot create step %s: run %s is %s', p_correlation_id, p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    IF jsonb_typeof(v_data -> 'stepName') IS DISTINCT FROM 'string' OR v_data ->> 'stepName' = '' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.stepName must be a non-empty string');
    END IF;
    INSERT INTO workflow.steps AS s (app_id, run_id, step_id, step_name, status, input, spec_version, created_at, updated_at)
    VALUES (p_app_id, p_run_id, p_correlation_id, v_data ->> 'stepName', 'pending', nullif(v_data -> 'input', 'null'::jsonb),
            p_spec_version, v_now, v_now)
    ON CONFLICT (app_id, run_id, step_id) DO NOTHING
    RETURNING s.* INTO v_step;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_STEP_EXISTS', format('step %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'step', workflow.step_json(v_step, v_resolve))::text;

  WHEN 'step_started', 'step_completed', 'step_failed', 'step_retrying' THEN
    -- From pending or running (a redelivered step starts again; a step may fail
    -- before it starts; concurrent deliveries may finish or retry a step that
    -- another delivery already sent back to pending). Terminal steps never change.
    SELECT * INTO v_step FROM workflow.steps
     WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_correlation_id FOR UPDATE;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW404', 'WF_STEP_NOT_FOUND', format('step %s of run %s not found', p_correlation_id, p_run_id),
                              jsonb_build_object('runId', p_run_id, 'stepId', p_correlation_id));
    END IF;
    IF v_step.status IN ('completed', 'failed') THEN
      PERFORM workflow.refuse('PW409', 'WF_STEP_TERMINAL', format('step %s is already %s', p_correlation_id, v_step.status),
                              jsonb_build_object('stepId', p_correlation_id, 'status', v_step.status));
    END IF;
    -- On an ended run nothing starts any more; a step already in flight may
    -- still report its outcome.
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
       WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    ELSIF p_event_type = 'step_completed' THEN
      UPDATE workflow.steps SET status = 'completed', output = nullif(v_data -> 'result', 'null'::jsonb),
                                retry_after = NULL, completed_at = v_now, updated_at = v_now
       WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
      IF p_state_updated_at IS NULL THEN -- an external event: later stateUpdatedAt must include it
        UPDATE workflow.runs SET state_updated_at = greatest(state_updated_at, date_trunc('milliseconds', v_now))
         WHERE app_id = p_app_id AND run_id = p_run_id;
      END IF;
    ELSIF p_event_type = 'step_failed' THEN
      UPDATE workflow.steps SET status = 'failed', error = workflow.error_json(v_data -> 'error', v_data -> 'stack', NULL),
                                retry_after = NULL, completed_at = v_now, updated_at = v_now
       WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    ELSE
      v_retry_after := workflow.event_time(v_data, 'retryAfter', false);
      UPDATE workflow.steps SET status = 'pending', error = workflow.error_json(v_data -> 'error', v_data -> 'stack', NULL),
                                retry_after = v_retry_after, updated_at = v_now
       WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_correlation_id RETURNING * INTO v_step;
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'step', workflow.step_json(v_step, v_resolve))::text;

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
    PERFORM 1 FROM workflow.hooks WHERE app_id = p_app_id AND run_id = p_run_id AND hook_id = p_correlation_id;
    IF FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_HOOK_EXISTS', format('hook %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    INSERT INTO workflow.hooks AS h (app_id, run_id, hook_id, token, metadata, is_webhook, spec_version, created_at)
    VALUES (p_app_id, p_run_id, p_correlation_id, v_data ->> 'token', nullif(v_data -> 'metadata', 'null'::jsonb),
            coalesce((v_data ->> 'isWebhook')::boolean, true), p_spec_version, v_now)
    ON CONFLICT DO NOTHING
    RETURNING h.* INTO v_hook;
    IF NOT FOUND THEN
      -- The token is held by a live hook: record the conflict instead.
      SELECT run_id INTO v_other_run FROM workflow.hooks
       WHERE app_id = p_app_id AND token = v_data ->> 'token' AND disposed_at IS NULL;
      IF v_other_run IS NULL THEN
        -- lost a race with the (run, hookId) key itself
        PERFORM workflow.refuse('PW409', 'WF_HOOK_EXISTS', format('hook %s of run %s already exists', p_correlation_id, p_run_id));
      END IF;
      v_event := workflow.append_event(v_app, p_run_id, 'hook_conflict', p_correlation_id,
                   jsonb_build_object('token', v_data ->> 'token', 'conflictingRunId', v_other_run), p_spec_version, v_now);
      RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve))::text;
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'hook', workflow.hook_json(v_hook, v_resolve))::text;

  WHEN 'hook_received', 'hook_disposed' THEN
    SELECT * INTO v_hook FROM workflow.hooks
     WHERE app_id = p_app_id AND run_id = p_run_id AND hook_id = p_correlation_id FOR UPDATE;
    IF NOT FOUND OR (p_event_type = 'hook_received' AND v_hook.disposed_at IS NOT NULL) THEN
      PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', format('hook %s of run %s not found', p_correlation_id, p_run_id),
                              jsonb_build_object('hookId', p_correlation_id));
    END IF;
    IF p_event_type = 'hook_disposed' THEN
      IF v_hook.disposed_at IS NOT NULL THEN
        PERFORM workflow.refuse('PW409', 'WF_HOOK_DISPOSED', format('hook %s is already disposed', p_correlation_id));
      END IF;
      UPDATE workflow.hooks SET disposed_at = v_now
       WHERE app_id = p_app_id AND run_id = p_run_id AND hook_id = p_correlation_id RETURNING * INTO v_hook;
    ELSIF p_state_updated_at IS NULL THEN -- an external event: later stateUpdatedAt must include it
      UPDATE workflow.runs SET state_updated_at = greatest(state_updated_at, date_trunc('milliseconds', v_now))
       WHERE app_id = p_app_id AND run_id = p_run_id;
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'hook', workflow.hook_json(v_hook, v_resolve))::text;

  WHEN 'wait_created' THEN
    IF v_terminal THEN
      PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('cannot create wait %s: run %s is %s', p_correlation_id, p_run_id, v_run.status),
                              jsonb_build_object('runId', p_run_id, 'status', v_run.status));
    END IF;
    INSERT INTO workflow.waits AS w (app_id, run_id, wait_id, status, resume_at, spec_version, created_at, updated_at)
    VALUES (p_app_id, p_run_id, p_correlation_id, 'waiting', workflow.event_time(v_data, 'resumeAt', true),
            p_spec_version, v_now, v_now)
    ON CONFLICT (app_id, run_id, wait_id) DO NOTHING
    RETURNING w.* INTO v_wait;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW409', 'WF_WAIT_EXISTS', format('wait %s of run %s already exists', p_correlation_id, p_run_id));
    END IF;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'wait', workflow.wait_json(v_wait))::text;

  WHEN 'wait_completed' THEN
    SELECT * INTO v_wait FROM workflow.waits
     WHERE app_id = p_app_id AND run_id = p_run_id AND wait_id = p_correlation_id FOR UPDATE;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW404', 'WF_WAIT_NOT_FOUND', format('wait %s of run %s not found', p_correlation_id, p_run_id));
    END IF;
    IF v_wait.status = 'completed' THEN
      PERFORM workflow.refuse('PW409', 'WF_WAIT_COMPLETED', format('wait %s is already completed', p_correlation_id));
    END IF;
    UPDATE workflow.waits SET status = 'completed', completed_at = v_now, updated_at = v_now
     WHERE app_id = p_app_id AND run_id = p_run_id AND wait_id = p_correlation_id RETURNING * INTO v_wait;
    v_event := workflow.append_event(v_app, p_run_id, p_event_type, p_correlation_id, v_data, p_spec_version, v_now);
    RETURN jsonb_build_object('event', workflow.event_json(v_event, v_resolve), 'wait', workflow.wait_json(v_wait))::text;
  END CASE;
END $$;
COMMENT ON FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint) IS
  'Validates, appends and projects one event (SPEC section 4). Returns {event, run|step|hook|wait}; run_started also '
  'returns the whole log {events, cursor, hasMore:false}. Refusals raise PWnnn SQLSTATEs. p_state_updated_at (epoch ms, '
  'the runtime''s stateUpdatedAt) older than the run''s latest external event (runs.state_updated_at) ⇒ 412.';
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)');

-- Callers of the seven-argument form (no stateUpdatedAt) keep working.
CREATE OR REPLACE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text DEFAULT 'all')
RETURNS text LANGUAGE sql AS $$
  SELECT workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id,
                               p_event_data, p_spec_version, p_resolve_data, NULL::bigint)
$$;
COMMENT ON FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text) IS
  'create_event without the stateUpdatedAt precondition (see the eight-argument form).';
-- CREATE OR REPLACE reset SECURITY DEFINER and search_path: classify it again.
-- (expire_version, a service function, calls this form with the app scope set.)
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text)');

COMMIT;
