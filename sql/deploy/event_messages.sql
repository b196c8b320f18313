-- Deploy pg-workflow:event_messages
-- One call per step fewer on each side of a queue hop: an event that makes a
-- queue message necessary can carry that message, and it is queued in the
-- event's own transaction. The client World predicts the message the runtime
-- is about to send (the same queue name, body and idempotency key) and answers
-- the runtime's following queue() from the messageId this returns, without a
-- request. Event and message commit together or not at all: if the app dies
-- after the event, the message is already queued; if the event is refused, no
-- message is queued and the runtime's queue() goes over HTTP as before.
--
-- API:      workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb)  (new)
--           (SECURITY DEFINER as pgw_api via workflow.expose_api; starts with workflow.require_app)
-- SERVICE:  none
-- INTERNAL: workflow.event_message_check(text, text, text, jsonb)  (new, via workflow.expose_internal)
BEGIN;

CREATE FUNCTION workflow.event_message_check(
  p_run_id text, p_event_type text, p_correlation_id text, p_enqueue jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_kind text := substring(p_enqueue ->> 'queueName' FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.');
  v_message jsonb := p_enqueue -> 'message';
BEGIN
  IF jsonb_typeof(p_enqueue) <> 'object' OR jsonb_typeof(v_message) IS DISTINCT FROM 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'enqueue must be an object {queueName, message, deploymentId?, idempotencyKey?}');
  END IF;
  -- Only the messages the runtime sends right after these events; nothing else rides on an event.
  IF p_event_type = 'step_created' THEN
    IF v_kind IS DISTINCT FROM 'step' OR v_message ->> 'workflowRunId' IS DISTINCT FROM p_run_id
       OR v_message ->> 'stepId' IS DISTINCT FROM p_correlation_id
       OR p_enqueue ->> 'idempotencyKey' IS DISTINCT FROM p_correlation_id THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        'enqueue with step_created must be this step''s message: a step queue, workflowRunId = the run, '
        'stepId and idempotencyKey = the correlationId');
    END IF;
  ELSIF p_event_type IN ('step_completed', 'step_failed', 'hook_received', 'wait_completed') THEN
    IF v_kind IS DISTINCT FROM 'workflow' OR v_message ->> 'runId' IS DISTINCT FROM p_run_id
       OR p_enqueue ? 'idempotencyKey' THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('enqueue with %s must be the run''s wake-up: a workflow queue, runId = the run, no idempotencyKey',
               p_event_type));
    END IF;
  ELSE
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('enqueue is accepted only with step_created, step_completed, step_failed, hook_received or wait_completed, not %s',
             p_event_type));
  END IF;
END $$;
COMMENT ON FUNCTION workflow.event_message_check(text, text, text, jsonb) IS
  'Refuses (400) a message riding on an event unless it is the one that event makes necessary: step_created → '
  'that step''s message (step queue, workflowRunId, stepId and idempotencyKey = the correlationId); step_completed, '
  'step_failed, hook_received, wait_completed → the run''s workflow wake-up (runId = the run, no idempotency key).';
SELECT workflow.expose_internal('workflow.event_message_check(text, text, text, jsonb)');

CREATE FUNCTION workflow.create_event(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint,
  p_enqueue jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_result text;
  v_queued jsonb;
BEGIN
  IF p_enqueue IS NULL OR p_enqueue = 'null'::jsonb THEN
    RETURN workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                 p_spec_version, p_resolve_data, p_state_updated_at);
  END IF;
  PERFORM workflow.event_message_check(p_run_id, p_event_type, p_correlation_id, p_enqueue);
  v_result := workflow.create_event(p_app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                    p_spec_version, p_resolve_data, p_state_updated_at);
  BEGIN
    v_queued := workflow.enqueue(v_app.app_id, p_enqueue ->> 'queueName', p_enqueue -> 'message',
                                 p_enqueue ->> 'deploymentId', p_enqueue ->> 'idempotencyKey', NULL);
  EXCEPTION WHEN SQLSTATE 'PW429' THEN
    -- Over maxQueuePerMinute: the event stands; without `queued` the client sends the
    -- runtime's queue() over HTTP, which then gets the 429 exactly as before.
    RETURN v_result;
  END;
  RETURN (v_result::jsonb || jsonb_build_object('queued', v_queued))::text;
END $$;
COMMENT ON FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb) IS
  'create_event with stateUpdatedAt, plus p_enqueue {queueName, message, deploymentId?, idempotencyKey?}: the message '
  'the event makes necessary (see event_message_check), queued by workflow.enqueue in the same transaction; the '
  'answer then carries queued {messageId, created}. Over the queue quota the event is still created, without queued. '
  'p_enqueue NULL = the eight-argument form.';
SELECT workflow.expose_api('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb)');

COMMIT;
