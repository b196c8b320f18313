-- Deploy pg-workflow:queue_claims
-- What the dispatchers call (never tenants): claim due messages in batches as
-- leases, then settle the deliveries in batches. Any number of dispatchers
-- may run at once; they never wait on each other (SKIP LOCKED, try-locks).
BEGIN;

-- A queued workflow message waits while another workflow message of its run
-- is claimed (the run's next replay follows the settlement of the current
-- one). The claim and next_due_in spell this test out inline, where the
-- planner can use the messages_run_in_flight index.

-- Seconds until the dispatcher must look again (NULL: nothing scheduled).
CREATE FUNCTION workflow.next_due_in() RETURNS double precision
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT extract(epoch FROM m.next_at - clock_timestamp())::double precision
      FROM workflow.messages m
     WHERE m.next_at IS NOT NULL
       AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM workflow.messages s
                   WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
     ORDER BY m.next_at
     LIMIT 1);
END $$;
ALTER FUNCTION workflow.next_due_in() SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.next_due_in() IS
  'Seconds until the next queued message is due or the next lease ends (negative: overdue), ignoring workflow '
  'messages that wait for their run''s message in flight; NULL when there is none.';

-- Capped exponential backoff with ±20 % jitter for the n-th failure.
CREATE FUNCTION workflow.retry_delay(n integer, base_seconds numeric, max_seconds numeric) RETURNS double precision
LANGUAGE sql VOLATILE AS $$
  SELECT least(max_seconds, base_seconds * power(2::numeric, least(greatest(n - 1, 0), 60)))::double precision
         * (0.8 + 0.4 * random())
$$;
COMMENT ON FUNCTION workflow.retry_delay(integer, numeric, numeric) IS
  'Backoff before retrying after the n-th failed delivery: min(max, base·2^(n-1)) with ±20% jitter.';

-- Routes messages the caller has locked (due ones, or a claim whose lease
-- ended): claims each to a live handler of its version as a lease, holds it
-- when the version has none, dead-letters it when the version is expired, and
-- leaves a workflow message alone while its run has another in flight.
CREATE FUNCTION workflow.route_messages(p_seqs bigint[], p_lease_seconds numeric, p_grace_seconds numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_seqs bigint[] := p_seqs;
  v_deliveries jsonb;
BEGIN
  -- 1. At most one workflow message per run, and only with the run's lock:
  --    another dispatcher may have locked a sibling of the same run.
  SELECT coalesce(array_agg(c.message_seq), '{}') INTO v_seqs FROM (
    SELECT m.message_seq, m.app_id, m.run_id, m.kind,
           row_number() OVER (PARTITION BY m.app_id, m.run_id, m.kind ORDER BY m.next_at, m.message_seq) AS rn
      FROM workflow.messages m WHERE m.message_seq = ANY (v_seqs)) c
   WHERE CASE WHEN c.kind <> 'workflow' OR c.run_id IS NULL THEN true
              WHEN c.rn = 1 THEN pg_try_advisory_xact_lock(7262002, workflow.run_lock_key(c.app_id, c.run_id))
              ELSE false END;

  -- 2. A new statement, so a new snapshot: with the run locked, a sibling
  --    claimed by a dispatcher that committed meanwhile is visible now.
  SELECT coalesce(array_agg(m.message_seq), '{}') INTO v_seqs
    FROM workflow.messages m
   WHERE m.message_seq = ANY (v_seqs)
     AND NOT (m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM workflow.messages s
                 WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'
                   AND s.message_seq <> m.message_seq));

  -- 3. Registrations of these versions wait for this claim (and the claim for
  --    them), so a message is never held by a claim that missed a new handler.
  PERFORM pg_advisory_xact_lock_shared(7262003, hashtext(v.app_id || '/' || coalesce(v.deployment_id, '')))
     FROM (SELECT DISTINCT app_id, deployment_id FROM workflow.messages WHERE message_seq = ANY (v_seqs)
            ORDER BY 1, 2) v;

  -- 4. Route among the version's ready handlers by (sequence + attempt) modulo
  --    their number: spread without writing to the handlers (claims would
  --    queue on their rows), and a retry goes to the next pod. None ready but
  --    some cooling down ⇒ wait for the first to cool; no live handler ⇒ held;
  --    expired version ⇒ dead.
  WITH cand AS (
    SELECT m.message_seq, m.app_id, m.deployment_id, m.kind, m.message_seq + m.attempt AS k
      FROM workflow.messages m WHERE m.message_seq = ANY (v_seqs)
  ), live AS (
    SELECT h.app_id, h.deployment_version, h.pod_id, h.workflow_url, h.step_url, h.cooldown_until,
           h.cooldown_until IS NULL OR h.cooldown_until <= v_now AS ready
      FROM workflow.handlers h
     WHERE (h.refused_since IS NULL OR h.refused_since > v_now - make_interval(secs => p_grace_seconds::double precision))
       AND EXISTS (SELECT 1 FROM cand c
                    WHERE c.app_id = h.app_id AND c.deployment_id IS NOT DISTINCT FROM h.deployment_version)
  ), ready AS (
    SELECT l.*, row_number() OVER w - 1 AS i, count(*) OVER (PARTITION BY l.app_id, l.deployment_version) AS n
      FROM live l WHERE l.ready
    WINDOW w AS (PARTITION BY l.app_id, l.deployment_version ORDER BY l.pod_id)
  ), cooling AS (
    SELECT l.app_id, l.deployment_version, min(l.cooldown_until) AS until FROM live l WHERE NOT l.ready
     GROUP BY l.app_id, l.deployment_version
  ), plan AS MATERIALIZED (  -- computed once, though the update reads it many times
    SELECT c.message_seq, c.app_id, v.expired_at IS NOT NULL AS expired,
           CASE WHEN v.expired_at IS NULL THEN r.pod_id END AS pod_id,
           CASE c.kind WHEN 'workflow' THEN r.workflow_url ELSE r.step_url END AS url,
           co.until AS cool_until
      FROM cand c
      LEFT JOIN workflow.deployment_versions v ON v.app_id = c.app_id AND v.deployment_id = c.deployment_id
      LEFT JOIN ready r ON r.app_id = c.app_id AND r.deployment_version IS NOT DISTINCT FROM c.deployment_id
                       AND r.i = c.k % r.n
      LEFT JOIN cooling co ON co.app_id = c.app_id AND co.deployment_version IS NOT DISTINCT FROM c.deployment_id
  ), gone AS (
    -- pods that kept refusing past the grace period are no longer registered
    DELETE FROM workflow.handlers h
     WHERE (h.app_id, h.pod_id) IN (
             SELECT s.app_id, s.pod_id FROM workflow.handlers s
              WHERE s.refused_since <= v_now - make_interval(secs => p_grace_seconds::double precision)
                AND EXISTS (SELECT 1 FROM cand c
                             WHERE c.app_id = s.app_id AND c.deployment_id IS NOT DISTINCT FROM s.deployment_version)
                FOR UPDATE SKIP LOCKED)
  ), routed AS (
    UPDATE workflow.messages m SET
      status = CASE WHEN p.expired THEN 'dead' WHEN p.pod_id IS NOT NULL THEN 'claimed'
                    WHEN p.cool_until IS NOT NULL THEN 'queued' ELSE 'held' END,
      attempt = CASE WHEN p.pod_id IS NOT NULL THEN m.attempt + 1 ELSE m.attempt END,
      lease_until = CASE WHEN p.pod_id IS NOT NULL THEN v_now + make_interval(secs => p_lease_seconds::double precision) END,
      pod_id = p.pod_id,
      due_at = CASE WHEN NOT p.expired AND p.pod_id IS NULL AND p.cool_until IS NOT NULL THEN p.cool_until
                    ELSE m.due_at END,
      dead_at = CASE WHEN p.expired THEN v_now END,
      last_error = CASE WHEN p.expired THEN 'deployment expired' ELSE m.last_error END,
      updated_at = v_now
      FROM plan p
     WHERE m.message_seq = p.message_seq
    RETURNING m.message_seq, m.attempt, m.message_id, m.queue_name, m.pod_id, m.payload, m.status, m.app_id,
              m.lease_until, p.url
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'seq', r.message_seq, 'attempt', r.attempt, 'messageId', r.message_id, 'queueName', r.queue_name,
           'appId', r.app_id, 'podId', r.pod_id, 'url', r.url, 'body', r.payload::text)
           ORDER BY r.message_seq) FILTER (WHERE r.status = 'claimed'), '[]'::jsonb)
    INTO v_deliveries FROM routed r;

  RETURN v_deliveries;
END $$;
-- Its statements are planned once per session (custom plans per call cost
-- more than the routing itself) and only ever reach rows through indexes: a
-- plan made while the table was small must not scan it once it is large.
ALTER FUNCTION workflow.route_messages(bigint[], numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.route_messages(bigint[], numeric, numeric) IS
  'Routes locked messages: claimed (lease of p_lease_seconds) to a live handler of their version, spread by sequence '
  'and attempt; queued until a cooling-down handler is ready; held without handler; dead for an expired version; '
  'untouched when their run has a workflow message in flight. Returns the claims: [{seq, attempt, messageId, '
  'queueName, appId, podId, url, body}].';

CREATE FUNCTION workflow.claim_messages(
  p_limit integer DEFAULT 100, p_lease_seconds numeric DEFAULT 330, p_grace_seconds numeric DEFAULT 60)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_seqs bigint[];
  v_deliveries jsonb;
BEGIN
  -- A claim lost in a crash only means the message is delivered again (the
  -- queue is at-least-once anyway), so it need not wait for the WAL flush.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- 1. Lock what is due (queued and due, or claimed with its lease run out),
  --    skipping rows other dispatchers hold and runs that are in flight.
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

  -- 2. Route them (and hold back those whose run turns out to be in flight).
  v_deliveries := workflow.route_messages(v_seqs, p_lease_seconds, p_grace_seconds);
  RETURN jsonb_build_object('deliveries', v_deliveries, 'nextDueIn', workflow.next_due_in());
END $$;
-- Planned once per session, index access only (as workflow.route_messages).
ALTER FUNCTION workflow.claim_messages(integer, numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.claim_messages(integer, numeric, numeric) IS
  'Claims up to p_limit due messages (FOR UPDATE SKIP LOCKED) as leases of p_lease_seconds, routes each to a live '
  'handler of its version (spread by sequence and attempt), holds those without one, dead-letters those of expired versions, and never '
  'claims a workflow message whose run has one in flight. Returns {deliveries:[{seq, attempt, messageId, queueName, '
  'appId, podId, url, body}], nextDueIn}: nextDueIn is the seconds until the next message is due (NULL: none).';

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

  -- Delivered messages are kept only as long as their idempotency key matters.
  DELETE FROM workflow.messages WHERE message_seq IN (
    SELECT message_seq FROM workflow.messages
     WHERE status = 'delivered' AND delivered_at < v_now - make_interval(secs => p_retention_seconds::double precision)
     ORDER BY delivered_at LIMIT 500 FOR UPDATE SKIP LOCKED);

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
  'ignored. Purges delivered messages older than p_retention_seconds. Returns the number settled.';

CREATE FUNCTION workflow.release_messages(p_claims jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_count integer;
BEGIN
  UPDATE workflow.messages m SET status = 'queued', due_at = v_now, lease_until = NULL, pod_id = NULL, updated_at = v_now
    FROM jsonb_to_recordset(p_claims) AS c(seq bigint, attempt integer)
   WHERE m.message_seq = c.seq AND m.status = 'claimed' AND m.attempt = c.attempt;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count > 0 THEN
    PERFORM workflow.notify_queue(v_now);
  END IF;
  RETURN v_count;
END $$;
COMMENT ON FUNCTION workflow.release_messages(jsonb) IS
  'Gives claims back ([{seq, attempt}]) when a dispatcher stops: due at once for any dispatcher, failures not counted.';

-- Only the service's own role runs the dispatcher.
REVOKE EXECUTE ON FUNCTION workflow.claim_messages(integer, numeric, numeric),
                           workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric),
                           workflow.release_messages(jsonb) FROM PUBLIC;

COMMIT;
