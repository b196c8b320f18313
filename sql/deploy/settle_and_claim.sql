-- Deploy pg-workflow:settle_and_claim
-- The dispatcher's acks ride on its next claim when both are due together
-- (under load: results finished while the previous ack was in flight): one
-- transaction and one round trip instead of two. Settling comes first, so the
-- claim sees the settled messages' runs unblocked and their apps' shares
-- freed. Each half keeps its own rules (ack_messages, claim_messages); this
-- only sequences them.
-- SERVICE: settle_and_claim(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric,
--                           integer, integer, numeric, integer, bigint, bigint, boolean) (new)
BEGIN;

CREATE FUNCTION workflow.settle_and_claim(
  p_results jsonb, p_max_attempts integer, p_retry_base_seconds numeric, p_retry_max_seconds numeric,
  p_cooldown_seconds numeric, p_grace_seconds numeric, p_retention_seconds numeric,
  p_min_redelivery_seconds numeric,
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_app_concurrency integer,
  p_batch_bytes bigint, p_snapshot_max_bytes bigint, p_one_at_a_time boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_settled integer;
BEGIN
  v_settled := workflow.ack_messages(p_results, p_max_attempts, p_retry_base_seconds, p_retry_max_seconds,
                                     p_cooldown_seconds, p_grace_seconds, p_retention_seconds,
                                     p_min_redelivery_seconds);
  RETURN workflow.claim_messages(p_session_id, p_limit, p_lease_seconds, p_grace_seconds, p_app_concurrency,
                                 p_batch_bytes, p_snapshot_max_bytes, p_one_at_a_time)
         || jsonb_build_object('settled', v_settled);
END $$;
COMMENT ON FUNCTION workflow.settle_and_claim(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric,
                                              integer, integer, numeric, integer, bigint, bigint, boolean) IS
  'ack_messages(p_results, ...) then claim_messages(p_session_id, ...) in one transaction: the claim''s answer '
  '{deliveries, nextDueIn, appsAtShare} plus settled, the number of results that counted.';
SELECT workflow.expose_service('workflow.settle_and_claim(jsonb, integer, numeric, numeric, numeric, numeric, '
                               'numeric, numeric, integer, integer, numeric, integer, bigint, bigint, boolean)');

COMMIT;
