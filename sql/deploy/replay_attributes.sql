-- Deploy pg-workflow:replay_attributes
-- POST /runs/:runId/replay of a DevKit 5 (spec >= 6) run: the new run starts
-- with the attributes the replayed run was created with (run_created
-- eventData.attributes and allowReservedAttributes, so $rootRunId /
-- $parentRunId lineage and $retention come along), on its run_created event and
-- on the queue message's runInput (a resilient start creates the same run), and
-- its executionContext carries replayedFromRunId as @workflow/core 5.x's own
-- replay stamps it. DevKit 4 runs are replayed exactly as before. A run whose
-- input is encrypted (either line) is refused (409 WF_RUN_ENCRYPTED): its key
-- is derived from its run id, so the new run could not read the copy.
--
-- API: workflow.replay_run(text, text, text)  (replaced)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.replay_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_source workflow.runs;
  v_context jsonb;
  v_seed jsonb := '{}';
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
  -- An encrypted (encr) or sealed (encp) input is bound to its run: the key
  -- is derived from the run id, so a new run could not read it. The runtime's
  -- own replay decrypts and re-encrypts it in the app; the service cannot.
  IF v_source.input ->> '__type' = 'Uint8Array'
     AND substr(decode(left(v_source.input ->> 'data', 8), 'base64'), 1, 4) IN ('\x656e6372', '\x656e6370') THEN
    PERFORM workflow.refuse('PW409', 'WF_RUN_ENCRYPTED',
      format('run %s has an encrypted input, readable only under its own key: replay it with the runtime '
             '(recreateRunFromExisting, e.g. the workflow CLI), which encrypts it again for the new run', p_run_id),
      jsonb_build_object('runId', p_run_id));
  END IF;
  v_context := v_source.execution_context;
  IF v_source.spec_version >= 6 THEN
    -- A DevKit 5 run starts again as it started: the attributes of its
    -- run_created (the lineage $rootRunId / $parentRunId included, so
    -- allowReservedAttributes with them); what attr_set wrote later the new
    -- run writes again as it runs. Its executionContext names the run it
    -- replays, as the runtime's own replay (recreateRunFromExisting) does.
    SELECT workflow.jsonb_drop_nulls(jsonb_build_object(
             'attributes', nullif(e.event_data -> 'attributes', 'null'::jsonb),
             'allowReservedAttributes', nullif(e.event_data -> 'allowReservedAttributes', 'null'::jsonb)))
      INTO v_seed
      FROM workflow.events e
     WHERE e.app_id = p_app_id AND e.run_id = p_run_id AND e.event_type = 'run_created'
     ORDER BY e.run_ordinal LIMIT 1;
    v_seed := coalesce(v_seed, '{}'::jsonb);
    v_context := coalesce(v_context, '{}'::jsonb) || jsonb_build_object('replayedFromRunId', p_run_id);
  END IF;
  v_new := workflow.create_event(
    p_app_id, NULL, 'run_created', NULL,
    workflow.jsonb_drop_nulls(jsonb_build_object(
      'deploymentId', v_source.deployment_id, 'workflowName', v_source.workflow_name,
      'input', v_source.input, 'executionContext', v_context)) || v_seed,
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
      'executionContext', v_context)) || v_seed);
  END IF;
  PERFORM workflow.enqueue(p_app_id, workflow.workflow_queue_of(v_source), v_message, v_source.deployment_id);
  RETURN v_new -> 'run';
END $$;
COMMENT ON FUNCTION workflow.replay_run(text, text, text) IS
  'Starts a new run (new wrun_ id, run_created event) with the workflowName, deploymentId, input and '
  'executionContext of an existing one, and queues the workflow message start() would queue, to the same '
  'deployment. A spec >= 6 run''s replay also starts with the attributes its run_created carried (reserved ones '
  'included) and executionContext.replayedFromRunId. Returns the new run; 404 unknown; 409 WF_RUN_ENCRYPTED for a run '
  'whose input is encrypted (bound to its run''s key: the runtime''s own replay re-encrypts it).';
SELECT workflow.expose_api('workflow.replay_run(text, text, text)');  -- again after the replace

COMMIT;
