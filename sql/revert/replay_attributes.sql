-- Revert pg-workflow:replay_attributes
BEGIN;

-- replay_run as change run_actions wrote it.
CREATE OR REPLACE FUNCTION workflow.replay_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
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
SELECT workflow.expose_api('workflow.replay_run(text, text, text)');

COMMIT;
