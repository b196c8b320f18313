-- Revert pg-workflow:run_snapshots
BEGIN;
-- claim_messages as the change claim_sessions made it.
CREATE OR REPLACE FUNCTION workflow.claim_messages(
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_grace_seconds numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_seqs bigint[];
  v_deliveries jsonb;
BEGIN
  -- Claims of a session that is lost or reaped would not be handed back with
  -- it: its owner must resume it (or open a new one) first.
  IF NOT EXISTS (SELECT 1 FROM workflow.dispatcher_sessions
                  WHERE session_id = p_session_id AND lost_at IS NULL) THEN
    PERFORM workflow.refuse('PW409', 'WF_SESSION_LOST',
      format('dispatcher session %s is lost or unknown: resume it or open a new one', p_session_id),
      jsonb_build_object('sessionId', p_session_id));
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);  -- as the 3-argument claim_messages
  SELECT coalesce(array_agg(c.message_seq), '{}') INTO v_seqs FROM (
    SELECT m.message_seq FROM workflow.messages m
     WHERE m.next_at <= v_now
       AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM workflow.messages s
                   WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
     ORDER BY m.next_at
     LIMIT p_limit
       FOR UPDATE OF m SKIP LOCKED) c;
  IF cardinality(v_seqs) = 0 THEN
    RETURN jsonb_build_object('deliveries', '[]'::jsonb, 'nextDueIn', workflow.next_due_in());
  END IF;
  v_deliveries := workflow.route_messages(v_seqs, p_lease_seconds, p_grace_seconds, p_session_id);
  RETURN jsonb_build_object('deliveries', v_deliveries, 'nextDueIn', workflow.next_due_in());
END $$;
ALTER FUNCTION workflow.claim_messages(integer, integer, numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.claim_messages(integer, integer, numeric, numeric) IS
  'As claim_messages(integer, numeric, numeric), and the claims belong to dispatcher session p_session_id: when its '
  'connection ends they are handed back (reap_dispatcher_sessions) instead of waiting for the lease. 409 '
  'WF_SESSION_LOST when the session is lost or unknown.';
SELECT workflow.expose_service('workflow.claim_messages(integer, integer, numeric, numeric)');


DROP FUNCTION workflow.with_run_snapshots(jsonb);
DROP FUNCTION workflow.run_started_snapshot(text, text);
DROP FUNCTION workflow.register_handler(text, text, text, text, text, text, text, text[]);
ALTER TABLE workflow.handlers DROP COLUMN features;
COMMIT;
