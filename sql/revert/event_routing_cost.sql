-- Revert pg-workflow:event_routing_cost
BEGIN;

CREATE OR REPLACE FUNCTION workflow.event_run_spec(p_app_id text, p_run_id text, p_event_type text, p_spec_version integer)
RETURNS integer LANGUAGE sql STABLE AS $$
  -- run_created stamps the run; any other event follows the run's stamp (a
  -- run_started that creates a lost run, like a missing run, its own).
  SELECT CASE WHEN p_event_type = 'run_created' THEN p_spec_version
              ELSE coalesce((SELECT r.spec_version FROM workflow.runs r
                              WHERE r.app_id = p_app_id AND r.run_id = p_run_id AND r.spec_version IS NOT NULL),
                            CASE WHEN p_event_type = 'run_started' THEN p_spec_version END) END
$$;
SELECT workflow.expose_internal('workflow.event_run_spec(text, text, text, integer)');

COMMIT;
