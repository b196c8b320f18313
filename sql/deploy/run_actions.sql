-- Deploy pg-workflow:run_actions
-- Run actions (SPEC section 5): what an operator (or the DevKit's web UI) does
-- to a run from outside the runtime. Every state change goes through
-- workflow.create_event and every message through workflow.enqueue, so an
-- action obeys exactly the rules the runtime's own calls obey.
--
-- Privilege classes (tenant_policies): the actions are API functions
-- (SECURITY DEFINER as pgw_api, scoped to the request's app); their helpers
-- are internal.
-- API:      workflow.cancel_run(text, text, text)
--           workflow.replay_run(text, text, text)
--           workflow.wake_up_run(text, text)
--           workflow.get_workflow_template(text, text, text)
-- INTERNAL: workflow.lock_run_row(text, text)
--           workflow.workflow_queue_of(workflow.runs)
BEGIN;

-- The run's row, locked for the rest of the transaction (create_event takes
-- the same lock, so nothing the runtime appends can interleave); 404 unknown.
CREATE FUNCTION workflow.lock_run_row(p_app_id text, p_run_id text) RETURNS workflow.runs
LANGUAGE plpgsql AS $$
DECLARE
  r workflow.runs;
BEGIN
  SELECT * INTO r FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
                            jsonb_build_object('runId', p_run_id));
  END IF;
  RETURN r;
END $$;
COMMENT ON FUNCTION workflow.lock_run_row(text, text) IS
  'Locks a run''s row until the transaction ends and returns it; 404 (WF_RUN_NOT_FOUND) when unknown.';

-- The queue a run's workflow messages go to: the one its latest message used
-- (that keeps an app's WORKFLOW_QUEUE_NAMESPACE), else the DevKit's default
-- __wkf_workflow_<workflowName>.
CREATE FUNCTION workflow.workflow_queue_of(r workflow.runs) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT m.queue_name FROM workflow.messages m
      WHERE m.app_id = r.app_id AND m.run_id = r.run_id AND m.kind = 'workflow'
      ORDER BY m.message_seq DESC LIMIT 1),
    '__wkf_workflow_' || r.workflow_name)
$$;
COMMENT ON FUNCTION workflow.workflow_queue_of(workflow.runs) IS
  'Queue name for a run''s workflow messages: that of its latest one, else __wkf_workflow_<workflowName>.';

CREATE FUNCTION workflow.cancel_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_run workflow.runs;
  v_result jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  v_run := workflow.lock_run_row(p_app_id, p_run_id);
  -- run_cancelled on a cancelled run succeeds as an event (the runtime may
  -- repeat it); as an operator action it means nothing happened.
  IF v_run.status IN ('completed', 'failed', 'cancelled') THEN
    PERFORM workflow.refuse('PW409', 'WF_RUN_TERMINAL', format('run %s is already %s', p_run_id, v_run.status),
                            jsonb_build_object('runId', p_run_id, 'status', v_run.status));
  END IF;
  v_result := workflow.create_event(p_app_id, p_run_id, 'run_cancelled', NULL, NULL, v_run.spec_version,
                                    p_resolve_data)::jsonb;
  -- Nothing of the run is delivered any more; a delivery already in flight
  -- finishes, and the runtime then finds the run cancelled.
  UPDATE workflow.messages
     SET status = 'dead', dead_at = clock_timestamp(), updated_at = clock_timestamp(), last_error = 'run cancelled'
   WHERE app_id = p_app_id AND run_id = p_run_id AND status IN ('queued', 'held');
  RETURN v_result -> 'run';
END $$;
COMMENT ON FUNCTION workflow.cancel_run(text, text, text) IS
  'Cancels a run: appends run_cancelled through create_event (disposing its hooks, completing its waits) and '
  'dead-letters its queued and held messages. Returns the run; 404 unknown, 409 already terminal.';

CREATE FUNCTION workflow.replay_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_source workflow.runs;
  v_context jsonb;
  v_new jsonb;
  v_new_run_id text;
  v_message jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO v_source FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
                            jsonb_build_object('runId', p_run_id));
  END IF;
  v_context := v_source.execution_context;
  v_new := workflow.create_event(
    p_app_id, NULL, 'run_created', NULL,
    workflow.jsonb_drop_nulls(jsonb_build_object(
      'deploymentId', v_source.deployment_id, 'workflowName', v_source.workflow_name,
      'input', v_source.input, 'executionContext', v_context)),
    v_source.spec_version, p_resolve_data)::jsonb;
  v_new_run_id := v_new -> 'run' ->> 'runId';
  -- The message the DevKit's start() queues for a new run: the run id and
  -- trace carrier, and from spec version 3 on the run's creation data
  -- (runInput), which lets run_started create the run if it were missing.
  v_message := jsonb_build_object('runId', v_new_run_id,
                                  'traceCarrier', coalesce(v_context -> 'traceCarrier', '{}'::jsonb));
  IF v_source.spec_version >= 3 THEN
    v_message := v_message || jsonb_build_object('runInput', workflow.jsonb_drop_nulls(jsonb_build_object(
      'input', coalesce(v_source.input, 'null'::jsonb), 'deploymentId', v_source.deployment_id,
      'workflowName', v_source.workflow_name, 'specVersion', v_source.spec_version,
      'executionContext', v_context)));
  END IF;
  PERFORM workflow.enqueue(p_app_id, workflow.workflow_queue_of(v_source), v_message, v_source.deployment_id);
  RETURN v_new -> 'run';
END $$;
COMMENT ON FUNCTION workflow.replay_run(text, text, text) IS
  'Starts a new run (new wrun_ id, run_created event) with the workflowName, deploymentId, input and '
  'executionContext of an existing one, and queues the workflow message start() would queue, to the same '
  'deployment. Returns the new run; 404 unknown.';

CREATE FUNCTION workflow.wake_up_run(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_run workflow.runs;
  v_wait workflow.waits;
  v_stopped integer := 0;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  v_run := workflow.lock_run_row(p_app_id, p_run_id);
  FOR v_wait IN
    SELECT * FROM workflow.waits
     WHERE app_id = p_app_id AND run_id = p_run_id AND status = 'waiting'
     ORDER BY created_at, wait_id
  LOOP
    -- The same event the DevKit's wakeUpRun appends.
    PERFORM workflow.create_event(p_app_id, p_run_id, 'wait_completed', v_wait.wait_id,
                                  jsonb_build_object('resumeAt', workflow.iso(v_wait.resume_at)),
                                  v_run.spec_version, 'none');
    v_stopped := v_stopped + 1;
  END LOOP;
  IF v_stopped > 0 THEN
    -- A wake-up due now: it merges into the run's deferred message (which
    -- keeps the earlier due time, i.e. now) or, while a delivery is in
    -- flight, is absorbed by it when it returns to the queue. Notifies.
    PERFORM workflow.enqueue(p_app_id, workflow.workflow_queue_of(v_run), jsonb_build_object('runId', p_run_id),
                             v_run.deployment_id);
  END IF;
  RETURN jsonb_build_object('stoppedCount', v_stopped);
END $$;
COMMENT ON FUNCTION workflow.wake_up_run(text, text) IS
  'Completes a run''s waiting waits (wait_completed events through create_event) and makes its workflow '
  'message due now, so a sleeping run resumes. Returns {stoppedCount}; 404 unknown.';

CREATE FUNCTION workflow.get_workflow_template(
  p_app_id text, p_workflow_name text, p_deployment_id text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_run workflow.runs;
  v_steps jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO v_run FROM workflow.runs
   WHERE app_id = p_app_id AND workflow_name = p_workflow_name AND status = 'completed'
     AND (p_deployment_id IS NULL OR deployment_id = p_deployment_id)
   ORDER BY run_seq DESC LIMIT 1;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_TEMPLATE_NOT_FOUND',
      format('no completed run of workflow %s%s', p_workflow_name,
             coalesce(' in deployment ' || p_deployment_id, '')),
      workflow.jsonb_drop_nulls(jsonb_build_object('workflowName', p_workflow_name, 'deploymentId', p_deployment_id)));
  END IF;
  -- A step lives from its creation to its completion. The runtime creates
  -- the steps it awaits together in one replay, before any of them ends,
  -- and a later step only after an earlier one ended: steps whose lifetimes
  -- overlap ran in parallel.
  WITH lifetimes AS (
    SELECT s.step_name, s.step_seq, s.created_at AS born, coalesce(s.completed_at, s.updated_at) AS ended
      FROM workflow.steps s WHERE s.app_id = p_app_id AND s.run_id = v_run.run_id
  ), starts AS (
    SELECT l.*, (l.born >= max(l.ended) OVER (ORDER BY l.born, l.step_seq
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
                IS NOT FALSE AS starts_group
      FROM lifetimes l
  ), grouped AS (
    SELECT s.*, sum(s.starts_group::integer) OVER (ORDER BY s.born, s.step_seq) AS grp,
           row_number() OVER (ORDER BY s.born, s.step_seq) AS position
      FROM starts s
  ), sized AS (
    SELECT g.*, count(*) OVER (PARTITION BY g.grp) AS group_size FROM grouped g
  ), numbered AS (
    SELECT z.*, CASE WHEN z.group_size > 1 THEN dense_rank() OVER (PARTITION BY z.group_size > 1 ORDER BY z.grp) END
                AS parallel_group
      FROM sized z
  )
  SELECT coalesce(jsonb_agg(workflow.jsonb_drop_nulls(jsonb_build_object(
           'stepName', n.step_name, 'order', n.position, 'parallelGroup', n.parallel_group)) ORDER BY n.position),
         '[]'::jsonb)
    INTO v_steps FROM numbered n;
  RETURN jsonb_build_object(
    'steps', v_steps,
    'hasHooks', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'hook_created'),
    'hasWaits', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'wait_created'),
    'sourceRunId', v_run.run_id);
END $$;
COMMENT ON FUNCTION workflow.get_workflow_template(text, text, text) IS
  'The shape of a workflow from its newest completed run (optionally of one deployment): '
  '{steps: [{stepName, order, parallelGroup?}], hasHooks, hasWaits, sourceRunId}. Steps whose lifetimes '
  '(creation to completion) overlap share a parallelGroup. 404 (WF_TEMPLATE_NOT_FOUND) when there is none.';

SELECT workflow.expose_internal('workflow.lock_run_row(text, text)');
SELECT workflow.expose_internal('workflow.workflow_queue_of(workflow.runs)');
SELECT workflow.expose_api(f::regprocedure) FROM unnest(ARRAY[
  'workflow.cancel_run(text, text, text)',
  'workflow.replay_run(text, text, text)',
  'workflow.wake_up_run(text, text)',
  'workflow.get_workflow_template(text, text, text)']) f;

COMMIT;
