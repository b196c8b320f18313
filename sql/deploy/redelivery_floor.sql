-- Deploy pg-workflow:redelivery_floor
-- A handler's {"timeoutSeconds": n} answer is a redelivery the app asked for:
--   * it has a floor (p_min_redelivery_seconds): an answer of 0 forever
--     cannot keep a dispatcher busy with one message;
--   * it counts as an attempt (the claim already counted it: attempt + 1);
--   * it is charged against the app's enqueue rate (maxQueuePerMinute, the
--     workflow.queue_rate counters that enqueue counts in): over the rate the
--     message is delayed to the next minute, never lost.
-- The settlement never waits on a lock a tenant request holds: the rate is
-- charged in counter slots only dispatchers use (100-107; enqueue uses 0-7,
-- the quota sums all), and the handlers' refusal bookkeeping skips a row a
-- registration holds (that registration resets the same columns anyway).
-- SERVICE:  ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric) (new),
--           ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric) (now that one, floor 0.1 s)
-- INTERNAL: charge_redeliveries(text, integer, timestamptz) (new)
BEGIN;

CREATE FUNCTION workflow.charge_redeliveries(p_app_id text, p_count integer, p_now timestamptz)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  v_minute timestamptz := date_trunc('minute', p_now);
  v_total bigint;
  v_limit integer;
BEGIN
  INSERT INTO workflow.queue_rate AS q (app_id, minute, slot, enqueued)
  VALUES (p_app_id, v_minute, 100 + pg_backend_pid() % 8, p_count)
  ON CONFLICT (app_id, minute, slot) DO UPDATE SET enqueued = q.enqueued + EXCLUDED.enqueued;
  SELECT sum(enqueued) INTO v_total FROM workflow.queue_rate WHERE app_id = p_app_id AND minute = v_minute;
  SELECT max_queue_per_minute INTO v_limit FROM workflow.apps WHERE app_id = p_app_id;
  IF v_total > v_limit THEN
    RETURN v_minute + interval '1 minute';
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.charge_redeliveries(text, integer, timestamptz) IS
  'Counts p_count redeliveries an app asked for (timeoutSeconds answers) in its per-minute enqueue counters '
  '(dispatcher slots 100-107); returns the start of the next minute when the app is over maxQueuePerMinute (the '
  'messages wait until then), else NULL.';

CREATE FUNCTION workflow.ack_messages(
  p_results jsonb, p_max_attempts integer, p_retry_base_seconds numeric, p_retry_max_seconds numeric,
  p_cooldown_seconds numeric, p_grace_seconds numeric, p_retention_seconds numeric,
  p_min_redelivery_seconds numeric)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_settled integer;
  v_refused boolean;
  v_wake timestamptz;
  v_unblocked timestamptz;
  v_redelivered bigint[];
  v_app text;
  v_count integer;
  v_until timestamptz;
BEGIN
  -- Like a claim, a settlement lost in a crash only causes a redelivery.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- A result only counts if it is for the current claim (same attempt):
  -- after a lost lease another dispatcher owns the message.
  WITH r AS (
    SELECT x.seq, x.attempt, x.outcome, x."podId" AS pod_id, x.error,
           least(greatest(x."timeoutSeconds", p_min_redelivery_seconds, 0), 2147483.647) AS timeout_seconds
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
    RETURNING m.message_seq, m.app_id, m.run_id, m.kind, m.status, m.due_at, r.pod_id, r.outcome
  ), refusing AS (
    -- a refusal starts (or continues) the pod's refusal streak and cools it down
    UPDATE workflow.handlers h
       SET refused_since = coalesce(h.refused_since, v_now),
           cooldown_until = v_now + make_interval(secs => p_cooldown_seconds::double precision)
     WHERE (h.app_id, h.pod_id) IN (
             SELECT l.app_id, l.pod_id FROM workflow.handlers l
              WHERE (l.app_id, l.pod_id) IN (SELECT s.app_id, s.pod_id FROM settled s WHERE s.outcome = 'refused')
                FOR UPDATE SKIP LOCKED)
  ), answering AS (
    -- any answer ends it
    UPDATE workflow.handlers h SET refused_since = NULL, cooldown_until = NULL
     WHERE (h.app_id, h.pod_id) IN (
             SELECT l.app_id, l.pod_id FROM workflow.handlers l
              WHERE l.refused_since IS NOT NULL
                AND (l.app_id, l.pod_id) IN (SELECT s.app_id, s.pod_id FROM settled s WHERE s.outcome <> 'refused'
                                             EXCEPT SELECT s.app_id, s.pod_id FROM settled s WHERE s.outcome = 'refused')
                FOR UPDATE SKIP LOCKED)
  ), runs AS (
    SELECT DISTINCT app_id, run_id FROM settled WHERE kind = 'workflow' AND run_id IS NOT NULL AND status <> 'queued'
  )
  SELECT count(*)::integer, bool_or(s.outcome = 'refused'), min(s.due_at) FILTER (WHERE s.status = 'queued'),
         (SELECT min(w.due_at) FROM runs JOIN workflow.messages w
                 ON w.app_id = runs.app_id AND w.run_id = runs.run_id AND w.kind = 'workflow' AND w.status = 'queued'),
         array_agg(s.message_seq) FILTER (WHERE s.outcome = 'timeout')
    INTO v_settled, v_refused, v_wake, v_unblocked, v_redelivered
    FROM settled s;

  IF v_refused THEN -- pods that kept refusing past the grace period are gone
    DELETE FROM workflow.handlers WHERE (app_id, pod_id) IN (
      SELECT app_id, pod_id FROM workflow.handlers
       WHERE refused_since < v_now - make_interval(secs => p_grace_seconds::double precision)
         FOR UPDATE SKIP LOCKED);
  END IF;

  -- Redeliveries the apps asked for count against their enqueue rate.
  IF v_redelivered IS NOT NULL THEN
    FOR v_app, v_count IN
      SELECT m.app_id, count(*)::integer FROM workflow.messages m
       WHERE m.message_seq = ANY (v_redelivered) GROUP BY m.app_id ORDER BY m.app_id LOOP
      v_until := workflow.charge_redeliveries(v_app, v_count, v_now);
      IF v_until IS NOT NULL THEN
        UPDATE workflow.messages SET due_at = greatest(due_at, v_until)
         WHERE message_seq = ANY (v_redelivered) AND app_id = v_app AND status = 'queued';
      END IF;
    END LOOP;
  END IF;

  -- Requeued messages and the runs' next wake-ups (waiting for the settled
  -- one) are runnable again: one NOTIFY for all.
  PERFORM workflow.notify_queue(least(v_wake, v_unblocked));
  RETURN v_settled;
END $$;
ALTER FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric) IS
  'Settles delivered claims: p_results = [{seq, attempt, podId, outcome: done|timeout|failed|refused, timeoutSeconds?, '
  'error?}]. done ⇒ delivered; timeout ⇒ same message due again after max(timeoutSeconds, p_min_redelivery_seconds), '
  'charged against the app''s maxQueuePerMinute (over it: due at the next minute); failed ⇒ retried after a capped '
  'exponential backoff, dead after p_max_attempts failures; refused (connection refused) ⇒ due again at once, not '
  'counted, and the pod cools down (and is dropped after p_grace_seconds of refusals). Results for a lost claim are '
  'ignored; p_retention_seconds is unused. Returns the number settled.';

-- The previous signature (a dispatcher of the previous release during a
-- rolling deploy) gets the same rules with the default floor.
CREATE OR REPLACE FUNCTION workflow.ack_messages(
  p_results jsonb, p_max_attempts integer DEFAULT 50, p_retry_base_seconds numeric DEFAULT 1,
  p_retry_max_seconds numeric DEFAULT 300, p_cooldown_seconds numeric DEFAULT 5,
  p_grace_seconds numeric DEFAULT 60, p_retention_seconds numeric DEFAULT 3600)
RETURNS integer LANGUAGE sql AS $$
  SELECT workflow.ack_messages(p_results, p_max_attempts, p_retry_base_seconds, p_retry_max_seconds,
                               p_cooldown_seconds, p_grace_seconds, p_retention_seconds, 0.1)
$$;
COMMENT ON FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric) IS
  'ack_messages with the default redelivery floor (0.1 s).';

SELECT workflow.expose_internal('workflow.charge_redeliveries(text, integer, timestamptz)');
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)',
  'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric)']) f;

COMMIT;
