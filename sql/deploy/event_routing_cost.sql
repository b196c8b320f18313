-- Deploy pg-workflow:event_routing_cost
-- Every event write asks event_run_spec which protocol its run follows. As a
-- SQL function with a sub-select it could not be inlined, so PostgreSQL planned
-- it again on every call: about 0.2 ms of each event (measured with
-- track_functions, 4.x and 5.x runs alike). As PL/pgSQL its plan is kept
-- across calls; the answer is the same.
-- INTERNAL: event_run_spec(text, text, text, integer) (replaced)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.event_run_spec(p_app_id text, p_run_id text, p_event_type text, p_spec_version integer)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_spec integer;
BEGIN
  -- run_created stamps the run; any other event follows the run's stamp (a
  -- run_started that creates a lost run, like a missing run, its own).
  IF p_event_type = 'run_created' THEN
    RETURN p_spec_version;
  END IF;
  SELECT r.spec_version INTO v_spec FROM workflow.runs r
   WHERE r.app_id = p_app_id AND r.run_id = p_run_id AND r.spec_version IS NOT NULL;
  RETURN coalesce(v_spec, CASE WHEN p_event_type = 'run_started' THEN p_spec_version END);
END $$;
COMMENT ON FUNCTION workflow.event_run_spec(text, text, text, integer) IS
  'The spec version whose protocol an event write follows: the event''s own for run_created (and for a run_started '
  'that finds no run), otherwise the run''s stamped spec_version. >= 6: DevKit 5 (create_event_v6).';
SELECT workflow.expose_internal('workflow.event_run_spec(text, text, text, integer)');

COMMIT;
