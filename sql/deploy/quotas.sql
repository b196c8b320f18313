-- Deploy pg-workflow:quotas
-- maxRuns as a counter instead of a count: each app's active (pending or
-- running) runs are counted in a narrow row of workflow.app_usage, kept by a
-- trigger on workflow.runs and checked by workflow.insert_run under that row's
-- lock, so concurrent run creations of an app (on any replica) are exact.
-- The hot, widely read apps row is never locked for it.
--
-- The other quotas: maxEventsPerRun is exact (the run ordinal is computed
-- under the run's row lock). maxQueuePerMinute is counted in 8 slots per app
-- and minute, each locked by one backend: concurrent enqueues in different
-- slots may pass together, so a minute may exceed the limit by at most 7
-- messages; minutes are calendar minutes (fixed windows).
--
-- INTERNAL: count_active_runs (trigger), insert_run (replaced)
BEGIN;

CREATE TABLE workflow.app_usage (
  app_id      text PRIMARY KEY REFERENCES workflow.apps ON DELETE CASCADE,
  active_runs integer NOT NULL DEFAULT 0 CHECK (active_runs >= 0)
);
COMMENT ON TABLE workflow.app_usage IS
  'Per-app usage counters checked against the quotas: one narrow row per app, locked only by run creations and '
  'run ends of that app (not the apps row, which every request reads).';
COMMENT ON COLUMN workflow.app_usage.app_id IS 'The app.';
COMMENT ON COLUMN workflow.app_usage.active_runs IS
  'Runs of the app that are pending or running (quota maxRuns), kept by the trigger runs_count_active.';
SELECT workflow.enable_tenant_rls('workflow.app_usage');

CREATE FUNCTION workflow.count_active_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_app text;
  v_delta integer;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_app := NEW.app_id;
    v_delta := (NEW.status IN ('pending', 'running'))::integer;
  ELSIF TG_OP = 'DELETE' THEN
    v_app := OLD.app_id;
    v_delta := -(OLD.status IN ('pending', 'running'))::integer;
  ELSE
    v_app := NEW.app_id;
    v_delta := (NEW.status IN ('pending', 'running'))::integer - (OLD.status IN ('pending', 'running'))::integer;
  END IF;
  IF v_delta > 0 THEN
    INSERT INTO workflow.app_usage AS u (app_id, active_runs) VALUES (v_app, v_delta)
    ON CONFLICT (app_id) DO UPDATE SET active_runs = u.active_runs + v_delta;
  ELSIF v_delta < 0 THEN
    -- (no row: the app itself is being deleted, and its counter with it)
    UPDATE workflow.app_usage SET active_runs = active_runs + v_delta WHERE app_id = v_app;
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_active_runs() IS
  'Trigger on workflow.runs: keeps workflow.app_usage.active_runs equal to the app''s pending and running runs.';

-- The trigger comes first: creating it waits for, then blocks, concurrent
-- writers of runs, so the backfill below counts a stable table.
CREATE TRIGGER runs_count_active
  AFTER INSERT OR DELETE OR UPDATE OF status ON workflow.runs
  FOR EACH ROW EXECUTE FUNCTION workflow.count_active_runs();

INSERT INTO workflow.app_usage (app_id, active_runs)
SELECT a.app_id, (SELECT count(*) FROM workflow.runs r
                   WHERE r.app_id = a.app_id AND r.status IN ('pending', 'running'))
  FROM workflow.apps a;

CREATE OR REPLACE FUNCTION workflow.insert_run(
  p_app workflow.apps, p_run_id text, p_data jsonb, p_spec_version integer, p_now timestamptz)
RETURNS workflow.runs LANGUAGE plpgsql AS $$
DECLARE
  r workflow.runs;
  v_active integer;
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
  INSERT INTO workflow.runs AS x (app_id, run_id, status, deployment_id, workflow_name, spec_version,
                                  execution_context, input, created_at, updated_at)
  VALUES (p_app.app_id, p_run_id, 'pending', p_data ->> 'deploymentId', p_data ->> 'workflowName', p_spec_version,
          nullif(p_data -> 'executionContext', 'null'::jsonb), nullif(p_data -> 'input', 'null'::jsonb), p_now, p_now)
  ON CONFLICT (app_id, run_id) DO NOTHING
  RETURNING x.* INTO r;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- The insert's trigger counted the run and holds the app's counter row
  -- until commit: concurrent creations see each other's runs, one at a time.
  SELECT u.active_runs INTO v_active FROM workflow.app_usage u WHERE u.app_id = p_app.app_id;
  IF v_active > p_app.max_runs THEN
    PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
      format('quota maxRuns exceeded: app %s already has %s active runs (limit %s)',
             p_app.app_id, v_active - 1, p_app.max_runs),
      jsonb_build_object('quota', 'maxRuns', 'limit', p_app.max_runs, 'retryAfter', 5));
  END IF;
  RETURN r;
END $$;
COMMENT ON FUNCTION workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz) IS
  'Inserts a pending run from run_created eventData; NULL when the run id exists. Enforces maxRuns exactly with '
  'the app''s active-runs counter (workflow.app_usage), refusing 429 WF_QUOTA_EXCEEDED beyond it.';

COMMENT ON FUNCTION workflow.count_enqueue(workflow.apps, timestamptz) IS
  'Counts an enqueue in the current minute; 429 (quota maxQueuePerMinute) beyond the app''s limit. Counted in 8 '
  'slots per minute so enqueues do not queue on one row: concurrent enqueues may exceed the limit by at most 7.';

SELECT workflow.expose_internal('workflow.count_active_runs()');
SELECT workflow.expose_internal('workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz)');

COMMIT;
