-- Deploy pg-workflow:retention
-- Data has a lifetime (SPEC section 14): terminal runs with everything that
-- hangs off them, delivered messages, dead letters, health-check streams and
-- old enqueue counters are purged by these functions, which the service's
-- retention job (service/retention.py) calls on a schedule. Each call is one
-- short transaction deleting at most p_batch rows it could lock at once (SKIP
-- LOCKED): callers loop until a call returns less than p_batch, and any number
-- of replicas may do so at the same time.
--
-- SERVICE (the service's own pool only; classified with workflow.expose_* at the end):
--   purge_runs(interval, integer), purge_delivered_messages(interval, integer),
--   purge_dead_letters(interval, integer), purge_health_check_streams(interval, integer),
--   purge_queue_rate(), ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)
--   (replaced: it no longer purges delivered messages inline)
-- INTERNAL: check_purge(interval, integer)
BEGIN;

-- Terminal runs by age (completed_at is set exactly for terminal runs).
CREATE INDEX runs_finished ON workflow.runs (completed_at) WHERE completed_at IS NOT NULL;
-- Dead letters by age.
CREATE INDEX messages_dead_since ON workflow.messages (dead_at) WHERE status = 'dead';

CREATE FUNCTION workflow.check_purge(p_older_than interval, p_batch integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_older_than IS NULL OR p_older_than < interval '0' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'older_than must be a non-negative interval');
  END IF;
  IF p_batch IS NULL OR p_batch NOT BETWEEN 1 AND 100000 THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'batch must be between 1 and 100000');
  END IF;
END $$;
COMMENT ON FUNCTION workflow.check_purge(interval, integer) IS
  'Refuses (400) a negative or missing age and a batch outside 1..100000.';

CREATE FUNCTION workflow.purge_runs(p_older_than interval, p_batch integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  PERFORM workflow.check_purge(p_older_than, p_batch);
  -- Only terminal runs (completed_at is NULL while pending or running), the
  -- oldest first, skipping any a writer holds. Their events, steps, hooks,
  -- waits, streams and chunks go with them (ON DELETE CASCADE, each through
  -- an index that starts with the run's key). Queue messages are not tied to
  -- runs: delivered ones and dead letters have their own purges.
  WITH doomed AS (
    SELECT r.app_id, r.run_id FROM workflow.runs r
     WHERE r.completed_at < clock_timestamp() - p_older_than
     ORDER BY r.completed_at
     LIMIT p_batch
       FOR UPDATE SKIP LOCKED)
  DELETE FROM workflow.runs r USING doomed d WHERE r.app_id = d.app_id AND r.run_id = d.run_id;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
-- A batch never waits long behind a writer of a child row (a late stream write):
-- it fails and the next round retries.
ALTER FUNCTION workflow.purge_runs(interval, integer) SET lock_timeout = '5s' SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.purge_runs(interval, integer) IS
  'Deletes up to p_batch terminal runs completed more than p_older_than ago, oldest first, with their events, steps, '
  'hooks, waits, streams and chunks; skips runs another transaction holds; never touches pending or running runs. '
  'Returns the number of runs deleted (less than p_batch: nothing more is due now).';

CREATE FUNCTION workflow.purge_delivered_messages(p_older_than interval, p_batch integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  PERFORM workflow.check_purge(p_older_than, p_batch);
  DELETE FROM workflow.messages WHERE message_seq IN (
    SELECT message_seq FROM workflow.messages
     WHERE status = 'delivered' AND delivered_at < clock_timestamp() - p_older_than
     ORDER BY delivered_at LIMIT p_batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
ALTER FUNCTION workflow.purge_delivered_messages(interval, integer) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.purge_delivered_messages(interval, integer) IS
  'Deletes up to p_batch messages delivered more than p_older_than ago (their idempotency keys are then free again). '
  'Returns the number deleted.';

CREATE FUNCTION workflow.purge_dead_letters(p_older_than interval, p_batch integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  PERFORM workflow.check_purge(p_older_than, p_batch);
  DELETE FROM workflow.messages WHERE message_seq IN (
    SELECT message_seq FROM workflow.messages
     WHERE status = 'dead' AND dead_at < clock_timestamp() - p_older_than
     ORDER BY dead_at LIMIT p_batch FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
ALTER FUNCTION workflow.purge_dead_letters(interval, integer) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.purge_dead_letters(interval, integer) IS
  'Deletes up to p_batch dead letters that died more than p_older_than ago. Returns the number deleted.';

CREATE FUNCTION workflow.purge_health_check_streams(p_older_than interval, p_batch integer DEFAULT 500)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  PERFORM workflow.check_purge(p_older_than, p_batch);
  DELETE FROM workflow.streams s USING (
    SELECT h.app_id, h.name FROM workflow.streams h
     WHERE h.run_id IS NULL AND h.created_at < clock_timestamp() - p_older_than
     LIMIT p_batch FOR UPDATE SKIP LOCKED) d
   WHERE s.app_id = d.app_id AND s.name = d.name;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
ALTER FUNCTION workflow.purge_health_check_streams(interval, integer) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.purge_health_check_streams(interval, integer) IS
  'Deletes up to p_batch __health_check__* streams (and their chunks) created more than p_older_than ago: they '
  'belong to no run, so purge_runs never reaches them. Returns the number deleted.';

CREATE FUNCTION workflow.purge_queue_rate() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  -- Only the current minute is ever read (count_enqueue); the previous one is
  -- left alone for enqueues that started before the minute turned.
  DELETE FROM workflow.queue_rate WHERE minute < date_trunc('minute', clock_timestamp()) - interval '1 minute';
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END $$;
COMMENT ON FUNCTION workflow.purge_queue_rate() IS
  'Deletes per-minute enqueue counters older than the previous minute (an app that stopped enqueuing leaves its '
  'last ones behind). Returns the number deleted.';

-- Delivered messages now leave through purge_delivered_messages, off the
-- settle path: see the README (Retention) for why.
CREATE OR REPLACE FUNCTION workflow.ack_messages(
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

SELECT workflow.expose_internal('workflow.check_purge(interval, integer)');
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.purge_runs(interval, integer)', 'workflow.purge_delivered_messages(interval, integer)',
  'workflow.purge_dead_letters(interval, integer)', 'workflow.purge_health_check_streams(interval, integer)',
  'workflow.purge_queue_rate()',
  'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)']) f;  -- again after the replace

COMMIT;
