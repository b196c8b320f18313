-- Deploy pg-workflow:handoff
-- A message queued by a request is claimed in that request's own transaction
-- for the dispatcher of the replica that serves it, which delivers it as soon
-- as the statement returns: no NOTIFY, no wake-up, no claim round trip per
-- queue hop. The claim is an ordinary one (route_messages: routing, per-run
-- serialisation, lease, the dispatcher session in claimed_by), so everything
-- that settles, retries or hands back claims treats it alike; if the replica
-- dies before delivering, its session's claims come back as any others do.
-- When the message cannot be claimed here (no session given, the session is
-- lost, the run has a workflow message in flight, no ready handler, not due
-- yet) it stays queued and the dispatchers are notified as before.
--
-- API:      create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric),
--           enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric)   (new)
-- SERVICE:  none
-- INTERNAL: handoff_message(text, text, integer, numeric, numeric) (new);
--           route_messages(bigint[], numeric, numeric, integer) (was SERVICE; now also called by handoff_message);
--           notify_queue(timestamptz) (replaced: holds its NOTIFY while a handoff is being tried)
BEGIN;

-- The API functions check the session they claim for; sessions hold no tenant data.
CREATE POLICY api_reads_sessions ON workflow.dispatcher_sessions FOR SELECT TO pgw_api USING (true);
GRANT SELECT ON workflow.dispatcher_sessions TO pgw_api;

-- Routing a claim becomes a helper that runs with its caller's rights: the
-- dispatcher's claim_messages (as pgw_service, every app) and the API's
-- handoff_message (as pgw_api, confined to the request's app by row-level security).
SELECT workflow.expose_internal('workflow.route_messages(bigint[], numeric, numeric, integer)');

CREATE OR REPLACE FUNCTION workflow.notify_queue(p_due timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- Set for the duration of a handoff: the message is about to be claimed here,
  -- and handoff_message notifies only if it was not.
  IF current_setting('workflow.hold_notify', true) = 'on' THEN
    RETURN;
  END IF;
  IF p_due IS NOT NULL THEN
    PERFORM pg_notify('workflow_queue',
                      greatest(0, ceil(extract(epoch FROM p_due - clock_timestamp()) * 1000))::bigint::text);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.notify_queue(timestamptz) IS
  'NOTIFY workflow_queue with the milliseconds until p_due (0: due now); nothing when p_due is NULL or while a handoff '
  'holds notifications (setting workflow.hold_notify = on). Call once per transaction.';
SELECT workflow.expose_internal('workflow.notify_queue(timestamptz)');

CREATE FUNCTION workflow.handoff_message(
  p_app_id text, p_message_id text, p_session_id integer, p_lease_seconds numeric, p_grace_seconds numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
  v_delivery jsonb;
  v_status text;
  v_due timestamptz;
BEGIN
  PERFORM set_config('workflow.hold_notify', '', true);
  IF p_session_id IS NOT NULL AND EXISTS (
       SELECT 1 FROM workflow.dispatcher_sessions WHERE session_id = p_session_id AND lost_at IS NULL) THEN
    -- Locked by a dispatcher claiming it right now (a merged wake-up): that one delivers it.
    SELECT m.message_seq INTO v_seq FROM workflow.messages m
     WHERE m.app_id = p_app_id AND m.message_id = p_message_id AND m.status = 'queued'
       AND m.due_at <= clock_timestamp()
       FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      v_delivery := workflow.route_messages(ARRAY[v_seq], p_lease_seconds, p_grace_seconds, p_session_id) -> 0;
    END IF;
  END IF;
  IF v_delivery IS NULL THEN
    SELECT m.status, m.due_at INTO v_status, v_due FROM workflow.messages m
     WHERE m.app_id = p_app_id AND m.message_id = p_message_id;
    IF v_status = 'queued' THEN
      PERFORM workflow.notify_queue(v_due);
    END IF;
  END IF;
  RETURN v_delivery;
END $$;
ALTER FUNCTION workflow.handoff_message(text, text, integer, numeric, numeric) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.handoff_message(text, text, integer, numeric, numeric) IS
  'Claims message p_message_id, just queued in this transaction with notifications held, for dispatcher session '
  'p_session_id (route_messages) and returns the delivery (as in claim_messages) — or NULL, and then notifies the '
  'dispatchers if the message is still queued (no or lost session, a run''s workflow message already in flight, no '
  'ready handler, not due yet, locked by a claim in progress).';
SELECT workflow.expose_internal('workflow.handoff_message(text, text, integer, numeric, numeric)');

CREATE FUNCTION workflow.create_event_handoff(
  p_app_id text, p_run_id text, p_event_type text, p_correlation_id text,
  p_event_data jsonb, p_spec_version integer, p_resolve_data text, p_state_updated_at bigint,
  p_enqueue jsonb, p_session_id integer, p_lease_seconds numeric, p_grace_seconds numeric,
  OUT result text, OUT delivery jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_message_id text;
BEGIN
  IF p_session_id IS NOT NULL AND p_enqueue IS NOT NULL AND p_enqueue <> 'null'::jsonb THEN
    PERFORM set_config('workflow.hold_notify', 'on', true);
  END IF;
  result := workflow.create_event(v_app.app_id, p_run_id, p_event_type, p_correlation_id, p_event_data,
                                  p_spec_version, p_resolve_data, p_state_updated_at, p_enqueue);
  IF current_setting('workflow.hold_notify', true) = 'on' THEN
    -- No messageId: over the queue quota the event stands without its message.
    v_message_id := result::jsonb #>> '{queued,messageId}';
    IF v_message_id IS NOT NULL THEN
      delivery := workflow.handoff_message(v_app.app_id, v_message_id, p_session_id, p_lease_seconds, p_grace_seconds);
    END IF;
    PERFORM set_config('workflow.hold_notify', '', true);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric) IS
  'create_event (nine arguments) whose queued message, if any, is claimed at once for dispatcher session '
  'p_session_id (handoff_message): result is create_event''s answer, delivery the claim to deliver (NULL: left to '
  'the dispatchers). p_session_id NULL = create_event.';
SELECT workflow.expose_api('workflow.create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric)');

CREATE FUNCTION workflow.enqueue_handoff(
  p_app_id text, p_queue_name text, p_message jsonb, p_deployment_id text, p_idempotency_key text,
  p_delay_seconds numeric, p_session_id integer, p_lease_seconds numeric, p_grace_seconds numeric,
  OUT result jsonb, OUT delivery jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
BEGIN
  IF p_session_id IS NOT NULL THEN
    PERFORM set_config('workflow.hold_notify', 'on', true);
  END IF;
  result := workflow.enqueue(v_app.app_id, p_queue_name, p_message, p_deployment_id, p_idempotency_key,
                             p_delay_seconds);
  IF p_session_id IS NOT NULL THEN
    delivery := workflow.handoff_message(v_app.app_id, result ->> 'messageId', p_session_id, p_lease_seconds,
                                         p_grace_seconds);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric) IS
  'enqueue whose message is claimed at once for dispatcher session p_session_id (handoff_message): result is '
  'enqueue''s answer, delivery the claim to deliver (NULL: left to the dispatchers). p_session_id NULL = enqueue.';
SELECT workflow.expose_api('workflow.enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric)');

COMMIT;
