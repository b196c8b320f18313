-- Deploy pg-workflow:event_app_checks
-- A DevKit 4 event went through four functions that each checked the app
-- (require_app: the ten-, nine- and eight-argument create_event, then
-- create_event_v4), five with its message's enqueue: about 20 µs each, 21
-- calls per sequential step. The routing wrappers now leave the check to the
-- function that acts: create_event_v4 and create_event(9 arguments) begin
-- with it, and the DevKit 5 paths check before create_event_v6. Every path
-- still checks before it reads or writes anything of the app; the answers
-- (403 WF_FORBIDDEN, 404 WF_APP_NOT_FOUND) are unchanged.
-- API: workflow.create_event(text, text, text, text, jsonb, integer, text, bigint), workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb) (replaced)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  -- Each protocol's function checks the app before it reads or writes
  -- anything of it (create_event_v4 begins with require_app; the v6 path
  -- here): checking here as well only cost a call per event.
  IF workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version) >= 6 THEN
    -- DevKit 5 has no stateUpdatedAt: the slot allocation replaces the guard.
    RETURN workflow.create_event_v6(workflow.require_app(p_app_id), p_run_id, p_event_type, p_correlation_id,
                                    p_event_data, p_spec_version, p_resolve_data, NULL);
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
  v_app workflow.apps;
  v_options jsonb := nullif(p_options, 'null'::jsonb);
  v_result text;
  v_queued jsonb;
BEGIN
  IF v_options IS NULL
     OR coalesce(workflow.event_run_spec(p_app_id, p_run_id, p_event_type, p_spec_version), 0) < 6 THEN
    -- (the nine-argument form checks the app first)
    RETURN workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                 p_spec_version, p_resolve_data, p_state_updated_at, p_enqueue);
  END IF;
  v_app := workflow.require_app(p_app_id);
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
