-- Revert pg-workflow:devkit5_run_ops
BEGIN;
DROP FUNCTION workflow.run_wait_state(text, text, text);
DROP TRIGGER runs_terminal_notify ON workflow.runs;
DROP FUNCTION workflow.notify_run_terminal();
DROP FUNCTION workflow.cancel_runs(text, jsonb, text);
DROP FUNCTION workflow.get_runs(text, jsonb, text);
DROP FUNCTION workflow.check_run_id_list(jsonb, integer, integer, boolean);

-- cancel_run(text, text, text) as change run_actions defined it.
CREATE OR REPLACE FUNCTION workflow.cancel_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all')
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
SELECT workflow.expose_api('workflow.cancel_run(text, text, text)');
DROP FUNCTION workflow.cancel_run(text, text, text, text);
COMMIT;
