-- Deploy pg-workflow:devkit5_run_ops
-- Run operations of @workflow/world 5.x (runs.getMany, runs.cancelMany,
-- runs.waitForTerminalStatus), server side.
--
-- getMany: one snapshot of up to 1000 runs, in the order asked, JSON null for
-- an id the app has no run for (the interface's contract).
--
-- cancelMany: 1-500 distinct ids and an optional cancelReason (<= 512
-- characters). Every id is cancelled exactly as POST /runs/:id/cancel does
-- (workflow.cancel_run), and the answer holds one outcome per id in request
-- order plus a summary. The interface reports a failed cancellation per run
-- (`failed` with a code and whether a retry may help) beside the others, so
-- one refused run must not undo the rest: one transaction, the runs' rows
-- locked up front in run-id order (two overlapping bulk cancels cannot
-- deadlock), the outcome decided from the locked row, and each actual
-- cancellation in its own subtransaction so a refusal rolls back alone.
--
-- waitForTerminalStatus: a run's terminal transition NOTIFYs channel
-- workflow_run_terminal. Any login may LISTEN, so the payload is opaque: the
-- run's internal run_seq, nothing about its app, names or ids. The service
-- learns a run's key from workflow.run_wait_state (scoped to the caller's
-- app), waits for that key, and re-reads the run through the same function.
--
-- API:      workflow.cancel_run(text, text, text, text)  (new: with a cancel reason)
--           workflow.cancel_run(text, text, text)  (redefined: the four-argument form without a reason)
--           workflow.cancel_runs(text, jsonb, text)  (new)
--           workflow.get_runs(text, jsonb, text)  (new)
--           workflow.run_wait_state(text, text, text)  (new)
-- INTERNAL: workflow.notify_run_terminal()  (new, trigger runs_terminal_notify)
BEGIN;

CREATE FUNCTION workflow.cancel_run(p_app_id text, p_run_id text, p_resolve_data text, p_cancel_reason text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_run workflow.runs;
  v_result jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF char_length(p_cancel_reason) > 512 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'cancelReason must be at most 512 characters');
  END IF;
  v_run := workflow.lock_run_row(p_app_id, p_run_id);
  -- run_cancelled on a cancelled run succeeds as an event (the runtime may
  -- repeat it); as an operator action it means nothing happened.
  IF v_run.status IN ('completed', 'failed', 'cancelled') THEN
    PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('run %s is already %s', p_run_id, v_run.status),
                            jsonb_build_object('runId', p_run_id, 'status', v_run.status));
  END IF;
  -- The reason rides on the run_cancelled event of DevKit 5 runs; the DevKit 4
  -- protocol has no such member, so their events stay as they always were.
  v_result := workflow.create_event(
    p_app_id, p_run_id, 'run_cancelled', NULL,
    CASE WHEN p_cancel_reason IS NOT NULL AND v_run.spec_version >= 6
         THEN jsonb_build_object('cancelReason', p_cancel_reason) END,
    v_run.spec_version, p_resolve_data)::jsonb;
  -- Nothing of the run is delivered any more; a delivery already in flight
  -- finishes, and the runtime then finds the run cancelled.
  UPDATE workflow.messages
     SET status = 'dead', dead_at = clock_timestamp(), updated_at = clock_timestamp(), last_error = 'run cancelled'
   WHERE app_id = p_app_id AND run_id = p_run_id AND status IN ('queued', 'held');
  RETURN v_result -> 'run';
END $$;
COMMENT ON FUNCTION workflow.cancel_run(text, text, text, text) IS
  'Cancels a run: appends run_cancelled through create_event (disposing its hooks, completing its waits; with '
  'eventData.cancelReason on spec >= 6 runs when a reason is given, at most 512 characters) and dead-letters its '
  'queued and held messages. Returns the run; 404 unknown, 409 already terminal.';
SELECT workflow.expose_api('workflow.cancel_run(text, text, text, text)');

CREATE OR REPLACE FUNCTION workflow.cancel_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.cancel_run(p_app_id, p_run_id, p_resolve_data, NULL::text)
$$;
COMMENT ON FUNCTION workflow.cancel_run(text, text, text) IS
  'Cancels a run without a reason (the four-argument cancel_run). Returns the run; 404 unknown, 409 already terminal.';
SELECT workflow.expose_api('workflow.cancel_run(text, text, text)');

-- Checks a JSON list of run ids: an array of 1..p_max (p_min..p_max) strings.
CREATE FUNCTION workflow.check_run_id_list(p_ids jsonb, p_min integer, p_max integer, p_distinct boolean)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_ids text[];
BEGIN
  IF p_ids IS NULL OR jsonb_typeof(p_ids) <> 'array' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'runIds must be an array of run ids');
  END IF;
  IF jsonb_array_length(p_ids) < p_min OR jsonb_array_length(p_ids) > p_max THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('runIds must hold %s to %s ids, not %s', p_min, p_max, jsonb_array_length(p_ids)),
      jsonb_build_object('min', p_min, 'max', p_max));
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_ids) e WHERE jsonb_typeof(e) <> 'string') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'runIds must hold strings only');
  END IF;
  SELECT coalesce(array_agg(e ORDER BY n), '{}') INTO v_ids FROM jsonb_array_elements_text(p_ids) WITH ORDINALITY AS t(e, n);
  IF p_distinct AND (SELECT count(DISTINCT e) FROM unnest(v_ids) e) <> cardinality(v_ids) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'runIds must not contain duplicates');
  END IF;
  RETURN v_ids;
END $$;
COMMENT ON FUNCTION workflow.check_run_id_list(jsonb, integer, integer, boolean) IS
  'The run ids of a bulk request as text[] in request order: a JSON array of p_min..p_max strings (distinct when '
  'p_distinct); 400 WF_INVALID_PARAMETER otherwise.';
SELECT workflow.expose_internal('workflow.check_run_id_list(jsonb, integer, integer, boolean)');

CREATE FUNCTION workflow.get_runs(p_app_id text, p_run_ids jsonb, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
  v_ids text[] := workflow.check_run_id_list(p_run_ids, 0, 1000, false);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN (SELECT coalesce(jsonb_agg(CASE WHEN r.run_id IS NULL THEN 'null'::jsonb ELSE workflow.run_json(r, v_resolve) END
                                     ORDER BY t.n), '[]')
            FROM unnest(v_ids) WITH ORDINALITY AS t(id, n)
            LEFT JOIN workflow.runs r ON r.app_id = p_app_id AND r.run_id = t.id);
END $$;
COMMENT ON FUNCTION workflow.get_runs(text, jsonb, text) IS
  'runs.getMany: up to 1000 run ids (repeats allowed) → a JSON array of runs in the same order, null where the app '
  'has no such run; one snapshot. 400 for more ids or a non-string id.';
SELECT workflow.expose_api('workflow.get_runs(text, jsonb, text)');

CREATE FUNCTION workflow.cancel_runs(p_app_id text, p_run_ids jsonb, p_cancel_reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_ids text[] := workflow.check_run_id_list(p_run_ids, 1, 500, true);
  v_id text;
  v_run workflow.runs;
  v_outcome jsonb;
  v_results jsonb := '[]';
  v_state text;
  v_code text;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF char_length(p_cancel_reason) > 512 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'cancelReason must be at most 512 characters');
  END IF;
  -- All rows first, in one order: overlapping bulk cancels queue up instead of
  -- deadlocking; the runtime's single-run writes lock one row and wait.
  PERFORM 1 FROM workflow.runs
    WHERE app_id = p_app_id AND run_id = ANY (v_ids) ORDER BY run_id FOR UPDATE;
  FOREACH v_id IN ARRAY v_ids LOOP
    SELECT * INTO v_run FROM workflow.runs WHERE app_id = p_app_id AND run_id = v_id;
    IF NOT FOUND THEN
      v_outcome := jsonb_build_object('runId', v_id, 'outcome', 'not_found');
    ELSIF v_run.status = 'cancelled' THEN
      v_outcome := jsonb_build_object('runId', v_id, 'outcome', 'already_cancelled');
    ELSIF v_run.status IN ('completed', 'failed') THEN
      v_outcome := jsonb_build_object('runId', v_id, 'outcome', 'not_cancellable', 'status', v_run.status);
    ELSE
      BEGIN
        PERFORM workflow.cancel_run(p_app_id, v_id, 'none', p_cancel_reason);
        v_outcome := jsonb_build_object('runId', v_id, 'outcome', 'cancelled');
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_code = PG_EXCEPTION_HINT;
        v_outcome := jsonb_build_object(
          'runId', v_id, 'outcome', 'failed',
          'code', CASE WHEN v_state LIKE 'PW%' AND v_code LIKE 'WF\_%' THEN v_code ELSE 'SQLSTATE_' || v_state END,
          -- Contention, overload and quota refusals may pass on a retry; a refusal by rule will not.
          'retryable', v_state IN ('40001', '40P01', '55P03', '53300', 'PW429', 'PW503'));
      END;
    END IF;
    v_results := v_results || jsonb_build_array(v_outcome);
  END LOOP;
  RETURN jsonb_build_object(
    'summary', (SELECT jsonb_build_object(
        'requested', cardinality(v_ids),
        'cancelled', count(*) FILTER (WHERE o ->> 'outcome' = 'cancelled'),
        'alreadyCancelled', count(*) FILTER (WHERE o ->> 'outcome' = 'already_cancelled'),
        'notCancellable', count(*) FILTER (WHERE o ->> 'outcome' = 'not_cancellable'),
        'notFound', count(*) FILTER (WHERE o ->> 'outcome' = 'not_found'),
        'failed', count(*) FILTER (WHERE o ->> 'outcome' = 'failed'))
      FROM jsonb_array_elements(v_results) o),
    'results', v_results);
END $$;
COMMENT ON FUNCTION workflow.cancel_runs(text, jsonb, text) IS
  'runs.cancelMany: 1-500 distinct run ids and an optional cancelReason (<= 512 characters); each run cancelled as '
  'cancel_run does, in one transaction with a subtransaction per cancellation. Returns {summary: {requested, '
  'cancelled, alreadyCancelled, notCancellable, notFound, failed}, results: [{runId, outcome, status?, code?, '
  'retryable?}]} in request order.';
SELECT workflow.expose_api('workflow.cancel_runs(text, jsonb, text)');

-- waitForTerminalStatus ------------------------------------------------------
CREATE FUNCTION workflow.notify_run_terminal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Opaque on purpose: every login may LISTEN on this channel.
  PERFORM pg_notify('workflow_run_terminal', NEW.run_seq::text);
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.notify_run_terminal() IS
  'Trigger on workflow.runs: NOTIFY workflow_run_terminal with the run''s run_seq (an opaque key, nothing else) '
  'when the run becomes completed, failed or cancelled; delivered at commit.';
SELECT workflow.expose_internal('workflow.notify_run_terminal()');

CREATE TRIGGER runs_terminal_notify
  AFTER UPDATE OF status ON workflow.runs
  FOR EACH ROW
  WHEN (NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION workflow.notify_run_terminal();
COMMENT ON TRIGGER runs_terminal_notify ON workflow.runs IS
  'Wakes runs.waitForTerminalStatus long polls (service/run_waiters.py) when a run ends.';

CREATE FUNCTION workflow.run_wait_state(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  r workflow.runs;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO r FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
                            jsonb_build_object('runId', p_run_id));
  END IF;
  RETURN jsonb_build_object('key', r.run_seq::text,
                            'terminal', r.status IN ('completed', 'failed', 'cancelled'),
                            'run', workflow.run_json(r, v_resolve));
END $$;
COMMENT ON FUNCTION workflow.run_wait_state(text, text, text) IS
  'For a waitForTerminalStatus long poll: {key, terminal, run}: key is what workflow_run_terminal notifications '
  'carry for this run, terminal whether it has ended, run the run as get_run answers it; 404 unknown.';
SELECT workflow.expose_api('workflow.run_wait_state(text, text, text)');

COMMIT;
