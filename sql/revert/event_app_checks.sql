-- Revert pg-workflow:event_app_checks
BEGIN;

CREATE OR REPLACE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
BEGIN
  IF workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version) >= 6 THEN
    -- DevKit 5 has no stateUpdatedAt: the slot allocation replaces the guard.
    RETURN workflow.create_event_v6(v_app, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                    p_resolve_data, NULL);
  END IF;
  RETURN workflow.create_event_v4(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                  p_resolve_data, p_state_updated_at);
END $$;
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)');

CREATE OR REPLACE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint,
  p_enqueue jsonb, p_options jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_options jsonb := nullif(p_options, 'null'::jsonb);
  v_result text;
  v_queued jsonb;
BEGIN
  IF v_options IS NULL
     OR coalesce(workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version), 0) < 6 THEN
    RETURN workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                 p_spec_version, p_resolve_data, p_state_updated_at, p_enqueue);
  END IF;
  IF p_enqueue IS NOT NULL AND p_enqueue <> 'null'::jsonb THEN
    PERFORM workflow.event_message_check(p_run_id, p_event_type, p_correlation_id, p_enqueue);
  END IF;
  v_result := workflow.create_event_v6(v_app, p_run_id, p_event_type, p_correlation_id, p_event_data, p_spec_version,
                                       p_resolve_data, v_options);
  IF p_enqueue IS NULL OR p_enqueue = 'null'::jsonb THEN
    RETURN v_result;
  END IF;
  BEGIN
    v_queued := workflow.enqueue(v_app.app_id, p_enqueue ->> 'queueName', p_enqueue -> 'message',
                                 p_enqueue ->> 'deploymentId', p_enqueue ->> 'idempotencyKey', NULL);
  EXCEPTION WHEN SQLSTATE 'PW429' THEN
    RETURN v_result; -- as in the nine-argument form: the event stands, the runtime's queue() gets the 429
  END;
  RETURN (v_result::jsonb || jsonb_build_object('queued', v_queued))::text;
END $$;
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)');

COMMIT;
