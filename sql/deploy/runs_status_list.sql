-- Deploy pg-workflow:runs_status_list
-- runs.list of @workflow/world 5.x takes a list of statuses; the client World
-- sends it as a repeated query parameter (GET /runs?status=a&status=b). The
-- filter is now a list: NULL = any status, an empty list = no run, otherwise
-- the runs whose status is one of them. Every status must be one of the five
-- run states (400 otherwise). The single-status list_runs (DevKit 4, and the
-- previous service release during a rolling deploy) is this one with a list
-- of one.
--
-- API:      workflow.list_runs(text, text[], text, text, integer, text, text, text)  (new)
--           workflow.list_runs(text, text, text, text, integer, text, text, text)  (now calls the new one)
BEGIN;

CREATE FUNCTION workflow.list_runs(
  p_app_id text, p_statuses text[], p_workflow_name text, p_deployment_id text,
  p_limit integer, p_cursor text, p_sort_order text, p_resolve_data text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'desc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
  v_bad text;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT s INTO v_bad FROM unnest(p_statuses) AS s
   WHERE s IS NULL OR s NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') LIMIT 1;
  IF FOUND THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('status must be one of pending, running, completed, failed, cancelled, not %L', v_bad));
  END IF;
  RETURN workflow.page_of(format(
    'SELECT workflow.run_json(r, %L) AS item, r.run_seq AS seq FROM workflow.runs r WHERE r.app_id = %L%s%s%s%s',
    v_resolve, p_app_id,
    CASE WHEN p_statuses IS NULL THEN '' ELSE format(' AND r.status = ANY (%L::text[])', p_statuses) END,
    CASE WHEN p_workflow_name IS NULL THEN '' ELSE format(' AND r.workflow_name = %L', p_workflow_name) END,
    CASE WHEN p_deployment_id IS NULL THEN '' ELSE format(' AND r.deployment_id = %L', p_deployment_id) END,
    workflow.page_clause('r.run_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_runs(text, text[], text, text, integer, text, text, text) IS
  'Runs of an app, newest first by default, filtered by a list of statuses (NULL: any; empty: none; 400 for a value '
  'that is not a run status) / workflowName / deploymentId: {data, cursor, hasMore}.';
SELECT workflow.expose_api('workflow.list_runs(text, text[], text, text, integer, text, text, text)');

CREATE OR REPLACE FUNCTION workflow.list_runs(
  p_app_id text, p_status text DEFAULT NULL, p_workflow_name text DEFAULT NULL, p_deployment_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT workflow.list_runs(p_app_id, CASE WHEN p_status IS NOT NULL THEN ARRAY[p_status] END, p_workflow_name,
                            p_deployment_id, p_limit, p_cursor, p_sort_order, p_resolve_data)
$$;
COMMENT ON FUNCTION workflow.list_runs(text, text, text, text, integer, text, text, text) IS
  'Runs of an app, newest first by default, filtered by status / workflowName / deploymentId: {data, cursor, hasMore}.';
SELECT workflow.expose_api('workflow.list_runs(text, text, text, text, integer, text, text, text)');

COMMIT;
