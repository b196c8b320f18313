-- Revert pg-workflow:redelivery_floor
BEGIN;
-- ack_messages (7 arguments) as the change retention made it.
DROP FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric);
CREATE FUNCTION workflow.ack_messages(
  p_results jsonb, p_max_attempts integer DEFAULT 50, p_retry_base_seconds numeric DEFAULT 1,
  p_retry_max_seconds numeric DEFAULT 300, p_cooldown_seconds numeric DEFAULT 5,
  p_grace_seconds numeric DEFAULT 60, p_retention_seconds numeric DEFAULT 3600)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_settled integer;
  v_refused boolean;
  v_wake timestamptz;
  v_unblocked timestamptz;
BEGIN
  -- Like a claim, a settlement lost in a crash only causes a redelivery.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- A result only counts if it is for the current claim (same attempt):
  -- after a lost lease another dispatcher owns the message.
  WITH r AS (
    SELECT x.seq, x.attempt, x.outcome, x."podId" AS pod_id, x.error,
           least(greatest(x."timeoutSeconds", 0), 2147483.647) AS timeout_seconds
      FROM jsonb_to_recordset(p_results)
        AS x(seq bigint, attempt integer, outcome text, "podId" text, error text, "timeoutSeconds" numeric)
  ), settled AS (
    UPDATE workflow.messages m SET
      status = CASE WHEN r.outcome = 'done' THEN 'delivered'
                    WHEN r.outcome = 'failed' AND m.failures + 1 >= p_max_attempts THEN 'dead'
                    ELSE 'queued' END,
      failures = CASE r.outcome WHEN 'failed' THEN m.failures + 1 WHEN 'refused' THEN m.failures ELSE 0 END,
      -- a refused connection delivered nothing: it does not count as an attempt
      attempt = CASE WHEN r.outcome = 'refused' THEN m.attempt - 1 ELSE m.attempt END,
      due_at = CASE r.outcome
                 WHEN 'timeout' THEN v_now + make_interval(secs => r.timeout_seconds::double precision)
                 WHEN 'failed' THEN v_now + make_interval(secs => workflow.retry_delay(
                                      m.failures + 1, p_retry_base_seconds, p_retry_max_seconds))
                 ELSE v_now END,
      lease_until = NULL,
      pod_id = NULL,
      delivered_at = CASE WHEN r.outcome = 'done' THEN v_now END,
      dead_at = CASE WHEN r.outcome = 'failed' AND m.failures + 1 >= p_max_attempts THEN v_now END,
      last_error = CASE WHEN r.outcome IN ('failed', 'refused') THEN left(r.error, 2000) ELSE m.last_error END,
      updated_at = v_now
      FROM r
     WHERE m.message_seq = r.seq AND m.status = 'claimed' AND m.attempt = r.attempt
       AND r.outcome IN ('done', 'timeout', 'failed', 'refused')
    RETURNING m.app_id, m.run_id, m.kind, m.status, m.due_at, r.pod_id, r.outcome
  ), refusing AS (
    -- a refusal starts (or continues) the pod's refusal streak and cools it down
    UPDATE workflow.handlers h
       SET refused_since = coalesce(h.refused_since, v_now),
           cooldown_until = v_now + make_interval(secs => p_cooldown_seconds::double precision)
      FROM (SELECT DISTINCT app_id, pod_id FROM settled WHERE outcome = 'refused') s
     WHERE h.app_id = s.app_id AND h.pod_id = s.pod_id
  ), answering AS (
    -- any answer ends it
    UPDATE workflow.handlers h SET refused_since = NULL, cooldown_until = NULL
      FROM (SELECT DISTINCT app_id, pod_id FROM settled WHERE outcome <> 'refused'
            EXCEPT SELECT app_id, pod_id FROM settled WHERE outcome = 'refused') s
     WHERE h.app_id = s.app_id AND h.pod_id = s.pod_id AND h.refused_since IS NOT NULL
  ), runs AS (
    SELECT DISTINCT app_id, run_id FROM settled WHERE kind = 'workflow' AND run_id IS NOT NULL AND status <> 'queued'
  )
  SELECT count(*)::integer, bool_or(s.outcome = 'refused'), min(s.due_at) FILTER (WHERE s.status = 'queued'),
         (SELECT min(w.due_at) FROM runs JOIN workflow.messages w
                 ON w.app_id = runs.app_id AND w.run_id = runs.run_id AND w.kind = 'workflow' AND w.status = 'queued')
    INTO v_settled, v_refused, v_wake, v_unblocked
    FROM settled s;

  IF v_refused THEN -- pods that kept refusing past the grace period are gone
    DELETE FROM workflow.handlers
     WHERE refused_since < v_now - make_interval(secs => p_grace_seconds::double precision);
  END IF;

  -- Requeued messages and the runs' next wake-ups (waiting for the settled
  -- one) are runnable again: one NOTIFY for all.
  PERFORM workflow.notify_queue(least(v_wake, v_unblocked));
  RETURN v_settled;
END $$;
ALTER FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric) IS
  'Settles delivered claims: p_results = [{seq, attempt, podId, outcome: done|timeout|failed|refused, timeoutSeconds?, '
  'error?}]. done ⇒ delivered; timeout ⇒ same message due again after timeoutSeconds; failed ⇒ retried after a capped '
  'exponential backoff, dead after p_max_attempts failures; refused (connection refused) ⇒ due again at once, not '
  'counted, and the pod cools down (and is dropped after p_grace_seconds of refusals). Results for a lost claim are '
  'ignored. Returns the number settled. p_retention_seconds is unused since the retention change (kept so callers '
  'of the previous release still work): workflow.purge_delivered_messages removes delivered messages.';
SELECT workflow.expose_service('workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)');
DROP FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric);
DROP FUNCTION workflow.charge_redeliveries(text, integer, timestamptz);
COMMIT;
