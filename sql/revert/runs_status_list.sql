-- Revert pg-workflow:runs_status_list
BEGIN;

-- The single-status list_runs as change reads (and tenant_policies) left it.
CREATE OR REPLACE FUNCTION workflow.list_runs(
  p_app_id text, p_status text DEFAULT NULL, p_workflow_name text DEFAULT NULL, p_deployment_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'desc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_status IS NOT NULL AND p_status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('status must be one of pending, running, completed, failed, cancelled, not %L', p_status));
  END IF;
  RETURN workflow.page_of(format(
    'SELECT workflow.run_json(r, %L) AS item, r.run_seq AS seq FROM workflow.runs r WHERE r.app_id = %L%s%s%s%s',
    v_resolve, p_app_id,
    CASE WHEN p_status IS NULL THEN '' ELSE format(' AND r.status = %L', p_status) END,
    CASE WHEN p_workflow_name IS NULL THEN '' ELSE format(' AND r.workflow_name = %L', p_workflow_name) END,
    CASE WHEN p_deployment_id IS NULL THEN '' ELSE format(' AND r.deployment_id = %L', p_deployment_id) END,
    workflow.page_clause('r.run_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_runs(text, text, text, text, integer, text, text, text) IS
  'Runs of an app, newest first by default, filtered by status / workflowName / deploymentId: {data, cursor, hasMore}.';
SELECT workflow.expose_api('workflow.list_runs(text, text, text, text, integer, text, text, text)');

DROP FUNCTION workflow.list_runs(text, text[], text, text, integer, text, text, text);

COMMIT;
