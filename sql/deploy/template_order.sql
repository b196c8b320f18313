-- Deploy pg-workflow:template_order
-- GET /workflows/:name/template follows the seed's rule: a step that overlaps
-- the steps before it joins their parallelGroup and keeps their order; only a
-- step that starts after them takes the next order (run_actions gave every
-- step a new order).
-- API:      workflow.get_workflow_template(text, text, text) (redefined)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.get_workflow_template(
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
  -- overlap ran in parallel. A step that overlaps the steps before it joins
  -- their group and shares their order; only a step that starts after every
  -- earlier one ended opens the next group, i.e. the next order (the rule of
  -- the seed's template).
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
           'stepName', n.step_name, 'order', n.grp, 'parallelGroup', n.parallel_group)) ORDER BY n.position),
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
  '{steps: [{stepName, order, parallelGroup?}], hasHooks, hasWaits, sourceRunId}, steps in creation order. Steps '
  'whose lifetimes (creation to completion) overlap share a parallelGroup and an order; a step that starts after '
  'the earlier ones ended takes the next order. 404 (WF_TEMPLATE_NOT_FOUND) when there is none.';

SELECT workflow.expose_api('workflow.get_workflow_template(text, text, text)');

COMMIT;
