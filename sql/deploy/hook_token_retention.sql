-- Deploy pg-workflow:hook_token_retention
-- A hook of a DevKit 5 run may carry tokenRetentionUntil: when its run ends the
-- hook stays live (readable, its token held, hook_received 404) until that time.
-- Change devkit5_events released such a token only lazily, and only on the
-- DevKit 5 path: a DevKit 4 run asking for it got hook_conflict for ever, and a
-- kept hook nobody asked for stayed in hook lists until the run was purged.
-- Now one rule (hook_token_released) says when a hook's token is free, and:
--   * both create paths (create_event_v4 and create_event_v6) release a token
--     whose retention is over before they take it (release_hook_token);
--   * the retention job releases every expired kept hook (release_kept_hooks),
--     in SKIP LOCKED batches, through an index of live hooks with a retention.
-- Releasing sets disposed_at, as an ended run does for its other hooks; no event
-- is appended (the run's log is closed).
--
-- SERVICE:  workflow.release_kept_hooks(integer)  (new; the retention job)
-- INTERNAL: workflow.hook_token_released(text, timestamptz, timestamptz), workflow.release_hook_token(text, text, timestamptz)
--           (new), workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint) and
--           workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb)  (replaced:
--           hook_created releases an expired kept token first; v6's run end uses the rule)
BEGIN;

-- Live hooks that carry a retention: what the sweep reads, oldest retention first.
CREATE INDEX hooks_kept ON workflow.hooks (token_retention_until)
  WHERE disposed_at IS NULL AND token_retention_until IS NOT NULL;
COMMENT ON INDEX workflow.hooks_kept IS
  'Live hooks with a tokenRetentionUntil, by that time: release_kept_hooks finds the expired ones of ended runs.';

CREATE FUNCTION workflow.hook_token_released(p_run_status text, p_token_retention_until timestamptz, p_now timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_run_status IN ('completed', 'failed', 'cancelled')
         AND (p_token_retention_until IS NULL OR p_token_retention_until <= p_now)
$$;
COMMENT ON FUNCTION workflow.hook_token_released(text, timestamptz, timestamptz) IS
  'The rule for a live hook''s token at p_now: free once its run has ended (p_run_status terminal) and its '
  'tokenRetentionUntil, if any, is not after p_now. Used by the run end (create_event_v6), by hook_created on both '
  'protocols (release_hook_token) and by the retention job (release_kept_hooks).';

CREATE FUNCTION workflow.release_hook_token(p_app_id text, p_token text, p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  -- At most one live hook holds a token (hooks_live_token).
  UPDATE workflow.hooks h SET disposed_at = p_now
    FROM workflow.runs r
   WHERE h.app_id = p_app_id AND h.token = p_token AND h.disposed_at IS NULL
     AND r.app_id = h.app_id AND r.run_id = h.run_id
     AND workflow.hook_token_released(r.status, h.token_retention_until, p_now);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
COMMENT ON FUNCTION workflow.release_hook_token(text, text, timestamptz) IS
  'Disposes the live hook holding p_token in the app when hook_token_released says its token is free (its run '
  'ended and its retention is over), so a hook_created of either protocol can take the token. Returns 0 or 1.';

CREATE FUNCTION workflow.release_kept_hooks(p_batch integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_count integer;
BEGIN
  PERFORM workflow.check_purge(interval '0', p_batch);
  -- Expired retentions first; a hook (or run) a writer holds waits for the next round.
  WITH due AS (
    SELECT h.app_id, h.run_id, h.hook_id FROM workflow.hooks h
      JOIN workflow.runs r ON r.app_id = h.app_id AND r.run_id = h.run_id
     WHERE h.disposed_at IS NULL AND h.token_retention_until IS NOT NULL AND h.token_retention_until <= v_now
       AND workflow.hook_token_released(r.status, h.token_retention_until, v_now)
     ORDER BY h.token_retention_until
     LIMIT p_batch
       FOR UPDATE OF h SKIP LOCKED)
  UPDATE workflow.hooks h SET disposed_at = v_now
    FROM due d
   WHERE h.app_id = d.app_id AND h.run_id = d.run_id AND h.hook_id = d.hook_id AND h.disposed_at IS NULL;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
ALTER FUNCTION workflow.release_kept_hooks(integer) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.release_kept_hooks(integer) IS
  'Disposes up to p_batch live hooks of ended runs whose tokenRetentionUntil has passed (hook_token_released), '
  'oldest retention first, skipping hooks another transaction holds: their tokens are free and they leave hook '
  'lists. Returns the number released (less than p_batch: nothing more is due now).';

-- create_event_v4 as change state_guard wrote it (renamed by devkit5_events), except
-- that hook_created first releases an expired kept token.
CREATE OR REPLACE FUNCTION workflow.create_event_v4(
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
    -- A token a DevKit 5 run kept past its end is free again once its retention is over.
    PERFORM workflow.release_hook_token(p_app_id, v_data ->> 'token', v_now);
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

-- create_event_v6 as change devkit5_events wrote it, except that hook_created
-- releases through release_hook_token and the run end uses hook_token_released.
CREATE OR REPLACE FUNCTION workflow.create_event_v6(
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
    -- tokenRetentionUntil (readable, not resumable; freed by hook_disposed,
    -- or once that time has passed by the next hook_created that wants the
    -- token or by the retention job: the rule is hook_token_released).
    UPDATE workflow.hooks SET disposed_at = v_now
     WHERE app_id = v_app_id AND run_id = p_run_id AND disposed_at IS NULL
       AND workflow.hook_token_released(v_run.status, token_retention_until, v_now);
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
    PERFORM workflow.release_hook_token(v_app_id, v_data ->> 'token', v_now);
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

SELECT workflow.expose_service('workflow.release_kept_hooks(integer)');
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.hook_token_released(text, timestamptz, timestamptz)',
  'workflow.release_hook_token(text, text, timestamptz)',
  'workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint)',
  'workflow.create_event_v6(workflow.apps, text, text, text, jsonb, integer, text, jsonb)']) f;

COMMIT;
