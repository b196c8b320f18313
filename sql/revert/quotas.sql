-- Revert pg-workflow:quotas
BEGIN;

-- insert_run as the events change defined it (maxRuns by counting runs).
CREATE OR REPLACE FUNCTION workflow.insert_run(
  p_app workflow.apps, p_run_id text, p_data jsonb, p_spec_version integer, p_now timestamptz)
RETURNS workflow.runs LANGUAGE plpgsql AS $$
DECLARE
  r workflow.runs;
  active integer;
BEGIN
  IF jsonb_typeof(p_data -> 'deploymentId') IS DISTINCT FROM 'string' OR p_data ->> 'deploymentId' = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.deploymentId must be a non-empty string');
  END IF;
  IF jsonb_typeof(p_data -> 'workflowName') IS DISTINCT FROM 'string' OR p_data ->> 'workflowName' = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.workflowName must be a non-empty string');
  END IF;
  IF p_data ? 'executionContext' AND jsonb_typeof(p_data -> 'executionContext') NOT IN ('object', 'null') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', 'eventData.executionContext must be an object');
  END IF;
  SELECT count(*) INTO active FROM (
    SELECT 1 FROM workflow.runs
     WHERE app_id = p_app.app_id AND status IN ('pending', 'running') LIMIT p_app.max_runs) a;
  IF active >= p_app.max_runs THEN
    PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
      format('quota maxRuns exceeded: app %s already has %s active runs', p_app.app_id, p_app.max_runs),
      jsonb_build_object('quota', 'maxRuns', 'limit', p_app.max_runs, 'retryAfter', 5));
  END IF;
  INSERT INTO workflow.runs AS x (app_id, run_id, status, deployment_id, workflow_name, spec_version,
                                  execution_context, input, created_at, updated_at)
  VALUES (p_app.app_id, p_run_id, 'pending', p_data ->> 'deploymentId', p_data ->> 'workflowName', p_spec_version,
          nullif(p_data -> 'executionContext', 'null'::jsonb), nullif(p_data -> 'input', 'null'::jsonb), p_now, p_now)
  ON CONFLICT (app_id, run_id) DO NOTHING
  RETURNING x.* INTO r;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN r;
END $$;
COMMENT ON FUNCTION workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz) IS
  'Inserts a pending run from run_created eventData; NULL when the run id exists. Enforces maxRuns.';
COMMENT ON FUNCTION workflow.count_enqueue(workflow.apps, timestamptz) IS
  'Counts an enqueue in the current minute; 429 (quota maxQueuePerMinute) beyond the app''s limit.';

DROP TRIGGER runs_count_active ON workflow.runs;
DROP FUNCTION workflow.count_active_runs();
DROP TABLE workflow.app_usage;

COMMIT;
