-- Deploy pg-workflow:claim_fairness
-- Claims that no app can stall, starve or break for the others (SPEC section
-- 14, "noisy neighbours"):
--   * Fair order: a claim takes due messages round-robin across apps (every
--     app's oldest due message, then every app's second, ...), each app at
--     most its share of this dispatcher session's deliveries in flight
--     (p_app_concurrency, counted from messages.claimed_by). One app's backlog
--     or slow handlers delay another app's due message by about one claim
--     round at most.
--   * Bounded by bytes as well as count: the claim measures each picked
--     message (octet_length of its text, before any JSON is built) and stops
--     at p_batch_bytes, always taking at least one. A message larger than
--     p_batch_bytes can never be claimed: it is set aside (dead-lettered with
--     the reason) and the messages behind it go on.
--   * Run snapshots are skipped past p_snapshot_max_bytes or what the batch
--     has left (the runtime then calls run_started itself).
--   * A message that makes routing fail is set aside too: after a failed
--     claim the dispatcher claims with p_one_at_a_time, which routes each
--     message on its own and dead-letters the one that fails, so one row
--     never makes every claim fail.
--   * The claim never waits on a lock a tenant request can hold: it only
--     try-locks a version's routing lock (register_handler takes it
--     exclusively) and leaves the messages of a version being registered for
--     the next round.
--   * Expired registrations (change handler_leases) are not routed to, and
--     the claim that finds them removes them.
-- SERVICE:  claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean) (new),
--           claim_messages(integer, integer, numeric, numeric) (now that one with default bounds),
--           route_messages(bigint[], numeric, numeric, integer) (replaced)
-- INTERNAL: next_due_in(text[]), with_run_snapshots(jsonb, bigint, bigint), run_snapshot_bytes(text, text) (new)
BEGIN;

-- Per-app access to due messages: the fair claim looks at each app's oldest.
CREATE INDEX messages_app_next ON workflow.messages (app_id, next_at) WHERE next_at IS NOT NULL;

CREATE FUNCTION workflow.next_due_in(p_skip_apps text[]) RETURNS double precision
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF coalesce(cardinality(p_skip_apps), 0) = 0 THEN
    RETURN workflow.next_due_in();
  END IF;
  -- One index probe per app: an app at its share may have a long due backlog
  -- that a scan in global due order would walk through.
  RETURN (
    SELECT extract(epoch FROM min(x.next_at) - clock_timestamp())::double precision
      FROM workflow.apps a
     CROSS JOIN LATERAL (
       SELECT m.next_at FROM workflow.messages m
        WHERE m.app_id = a.app_id AND m.next_at IS NOT NULL
          AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM workflow.messages s
                      WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
        ORDER BY m.next_at LIMIT 1) x
     WHERE a.app_id <> ALL (p_skip_apps));
END $$;
ALTER FUNCTION workflow.next_due_in(text[]) SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.next_due_in(text[]) IS
  'As next_due_in(), ignoring the messages of the apps in p_skip_apps (those at their share of the dispatcher''s '
  'deliveries: a finished delivery, not time, makes them claimable).';

CREATE FUNCTION workflow.run_snapshot_bytes(p_app_id text, p_run_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  -- octet_length of a stored text reads its size from the TOAST header: the
  -- log is measured without being read. The run's own fields count as stored.
  SELECT coalesce((SELECT sum(octet_length(e.event_json)) FROM workflow.events e
                    WHERE e.app_id = p_app_id AND e.run_id = p_run_id), 0)
       + coalesce((SELECT coalesce(pg_column_size(r.input), 0) + coalesce(pg_column_size(r.output), 0)
                        + coalesce(pg_column_size(r.error), 0) + coalesce(pg_column_size(r.execution_context), 0)
                     FROM workflow.runs r WHERE r.app_id = p_app_id AND r.run_id = p_run_id), 0)
       + 1024
$$;
COMMENT ON FUNCTION workflow.run_snapshot_bytes(text, text) IS
  'About the size of run_started_snapshot for the run, found without building it: the event log''s exact bytes plus '
  'the run''s stored fields plus 1 KiB.';

CREATE FUNCTION workflow.with_run_snapshots(p_deliveries jsonb, p_budget_bytes bigint, p_max_bytes bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_out jsonb := '[]'::jsonb;
  v_claim jsonb;
  v_snapshot text;
  v_app text;
  v_run text;
  v_budget bigint := p_budget_bytes;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_deliveries) c
                  WHERE c ->> 'queueName' ~ '^__([a-z][a-z0-9]*_)?wkf_workflow_') THEN
    RETURN p_deliveries;
  END IF;
  FOR v_claim IN SELECT c FROM jsonb_array_elements(p_deliveries) c LOOP
    v_snapshot := NULL;
    v_app := NULL;
    IF v_claim ->> 'queueName' ~ '^__([a-z][a-z0-9]*_)?wkf_workflow_' THEN
      SELECT m.app_id, m.run_id INTO v_app, v_run
        FROM workflow.messages m
        JOIN workflow.handlers h ON h.app_id = m.app_id AND h.pod_id = m.pod_id
       WHERE m.message_seq = (v_claim ->> 'seq')::bigint AND m.run_id IS NOT NULL
         AND 'run-started' = ANY (h.features);
      -- Too big for the claim: the runtime asks the service for run_started.
      IF v_app IS NOT NULL AND workflow.run_snapshot_bytes(v_app, v_run) <= least(p_max_bytes, v_budget) THEN
        v_snapshot := workflow.run_started_snapshot(v_app, v_run);
        v_budget := v_budget - coalesce(octet_length(v_snapshot), 0);
      END IF;
    END IF;
    v_out := v_out || CASE WHEN v_snapshot IS NULL THEN jsonb_build_array(v_claim)
                           ELSE jsonb_build_array(v_claim || jsonb_build_object('runStarted', v_snapshot)) END;
  END LOOP;
  RETURN v_out;
END $$;
COMMENT ON FUNCTION workflow.with_run_snapshots(jsonb, bigint, bigint) IS
  'As with_run_snapshots(jsonb), adding a run''s snapshot only while run_snapshot_bytes is at most p_max_bytes and '
  'what is left of p_budget_bytes (the snapshots added so far are taken from it).';

CREATE OR REPLACE FUNCTION workflow.route_messages(p_seqs bigint[], p_lease_seconds numeric, p_grace_seconds numeric,
                                                   p_session_id integer)
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
  --    3. With the version's routing lock, shared: a registration of the
  --    version waits for this claim, so a message is never held by a claim
  --    that missed a new handler. Only tried: a registration in progress
  --    (a tenant request) never stalls the claim; its version's messages
  --    stay due for the next round.
  WITH v AS MATERIALIZED (
    SELECT d.app_id, d.deployment_id,
           pg_try_advisory_xact_lock_shared(7262003, hashtext(d.app_id || '/' || coalesce(d.deployment_id, ''))) AS got
      FROM (SELECT DISTINCT m.app_id, m.deployment_id FROM workflow.messages m
             WHERE m.message_seq = ANY (v_seqs) ORDER BY 1, 2) d
  )
  SELECT coalesce(array_agg(m.message_seq), '{}') INTO v_seqs
    FROM workflow.messages m
    JOIN v ON v.app_id = m.app_id AND v.deployment_id IS NOT DISTINCT FROM m.deployment_id AND v.got
   WHERE m.message_seq = ANY (v_seqs)
     AND NOT (m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM workflow.messages s
                 WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'
                   AND s.message_seq <> m.message_seq));

  -- 4. Route among the version's ready, unexpired handlers by (sequence +
  --    attempt) modulo their number: spread without writing to the handlers
  --    (claims would queue on their rows), and a retry goes to the next pod.
  --    None ready but some cooling down ⇒ wait for the first to cool; no live
  --    handler ⇒ held; expired version ⇒ dead.
  WITH cand AS (
    SELECT m.message_seq, m.app_id, m.deployment_id, m.kind, m.message_seq + m.attempt AS k
      FROM workflow.messages m WHERE m.message_seq = ANY (v_seqs)
  ), live AS (
    SELECT h.app_id, h.deployment_version, h.pod_id, h.workflow_url, h.step_url, h.cooldown_until, h.source_address,
           h.cooldown_until IS NULL OR h.cooldown_until <= v_now AS ready
      FROM workflow.handlers h
     WHERE (h.refused_since IS NULL OR h.refused_since > v_now - make_interval(secs => p_grace_seconds::double precision))
       AND (h.expires_at IS NULL OR h.expires_at > v_now)
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
           co.until AS cool_until, r.source_address
      FROM cand c
      LEFT JOIN workflow.deployment_versions v ON v.app_id = c.app_id AND v.deployment_id = c.deployment_id
      LEFT JOIN ready r ON r.app_id = c.app_id AND r.deployment_version IS NOT DISTINCT FROM c.deployment_id
                       AND r.i = c.k % r.n
      LEFT JOIN cooling co ON co.app_id = c.app_id AND co.deployment_version IS NOT DISTINCT FROM c.deployment_id
  ), gone AS (
    -- pods that kept refusing past the grace period, and leases that ended,
    -- are no longer registered
    DELETE FROM workflow.handlers h
     WHERE (h.app_id, h.pod_id) IN (
             SELECT s.app_id, s.pod_id FROM workflow.handlers s
              WHERE (s.refused_since <= v_now - make_interval(secs => p_grace_seconds::double precision)
                     OR s.expires_at <= v_now)
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
      claimed_by = CASE WHEN p.pod_id IS NOT NULL THEN p_session_id END,
      due_at = CASE WHEN NOT p.expired AND p.pod_id IS NULL AND p.cool_until IS NOT NULL THEN p.cool_until
                    ELSE m.due_at END,
      dead_at = CASE WHEN p.expired THEN v_now END,
      last_error = CASE WHEN p.expired THEN 'deployment expired' ELSE m.last_error END,
      updated_at = v_now
      FROM plan p
     WHERE m.message_seq = p.message_seq
    RETURNING m.message_seq, m.attempt, m.message_id, m.queue_name, m.pod_id, m.payload, m.status, m.app_id,
              m.lease_until, m.due_at, p.url, p.source_address
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'seq', r.message_seq, 'attempt', r.attempt, 'messageId', r.message_id, 'queueName', r.queue_name,
           'appId', r.app_id, 'podId', r.pod_id, 'url', r.url, 'body', r.payload::text,
           'sourceAddress', host(r.source_address),
           -- when it became deliverable: the dispatch latency metric runs from here to the handler's answer
           'dueAt', workflow.iso(r.due_at))
           ORDER BY r.message_seq) FILTER (WHERE r.status = 'claimed'), '[]'::jsonb)
    INTO v_deliveries FROM routed r;

  RETURN v_deliveries;
END $$;
ALTER FUNCTION workflow.route_messages(bigint[], numeric, numeric, integer)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.route_messages(bigint[], numeric, numeric, integer) IS
  'As route_messages(bigint[], numeric, numeric), recording the claiming dispatcher session in claimed_by; each claim '
  'also carries sourceAddress (the handler''s registration address) and dueAt (when the message became deliverable). '
  'Never waits for a lock: messages of a version being registered stay due for the next claim. Expired '
  'registrations are not routed to, and are removed.';

CREATE FUNCTION workflow.claim_messages(
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_grace_seconds numeric,
  p_app_concurrency integer, p_batch_bytes bigint, p_snapshot_max_bytes bigint,
  p_one_at_a_time boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_apps text[];        -- apps with deliveries of this session in flight
  v_in_flight integer[];  -- how many each
  v_busy text[];        -- apps at their share once this claim is made
  v_fit bigint[];
  v_too_big bigint[];
  v_bytes bigint;
  v_seqs bigint[];
  v_seq bigint;
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

  -- 1. Each app's share: this session's deliveries in flight per app.
  SELECT coalesce(array_agg(f.app_id), '{}'), coalesce(array_agg(f.n), '{}')
    INTO v_apps, v_in_flight
    FROM (SELECT m.app_id, count(*)::integer AS n FROM workflow.messages m
           WHERE m.status = 'claimed' AND m.claimed_by = p_session_id GROUP BY m.app_id) f;

  -- 2. Pick round-robin across apps (rank in its app, then due time), each
  --    app within its share, without locking; then measure the picked
  --    messages (before any JSON is built) and keep what fits in the bytes.
  WITH picked AS (
    SELECT c.message_seq, c.rank, c.next_at
      FROM workflow.apps a
      LEFT JOIN unnest(v_apps, v_in_flight) AS f(app_id, n) ON f.app_id = a.app_id
     CROSS JOIN LATERAL (
       SELECT m.message_seq, m.next_at, row_number() OVER (ORDER BY m.next_at, m.message_seq) AS rank
         FROM workflow.messages m
        WHERE m.app_id = a.app_id AND m.next_at <= v_now
          AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM workflow.messages s
                      WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
        ORDER BY m.next_at, m.message_seq
        LIMIT least(p_limit, greatest(p_app_concurrency - coalesce(f.n, 0), 0))) c
     ORDER BY c.rank, c.next_at, c.message_seq
     LIMIT p_limit
  ), sized AS (
    SELECT p.message_seq, p.rank, p.next_at, octet_length(m.payload::text)::bigint AS bytes
      FROM picked p JOIN workflow.messages m ON m.message_seq = p.message_seq
  ), running AS (
    SELECT s.*, sum(s.bytes) FILTER (WHERE s.bytes <= p_batch_bytes)
                  OVER (ORDER BY s.rank, s.next_at, s.message_seq) AS total
      FROM sized s
  )
  SELECT coalesce(array_agg(r.message_seq) FILTER (WHERE r.bytes <= p_batch_bytes AND r.total <= p_batch_bytes), '{}'),
         coalesce(array_agg(r.message_seq) FILTER (WHERE r.bytes > p_batch_bytes), '{}'),
         coalesce(max(r.total) FILTER (WHERE r.bytes <= p_batch_bytes AND r.total <= p_batch_bytes), 0)
    INTO v_fit, v_too_big, v_bytes
    FROM running r;

  -- 3. Lock them, skipping rows other dispatchers hold (or claimed meanwhile).
  SELECT coalesce(array_agg(c.message_seq), '{}') INTO v_seqs FROM (
    SELECT m.message_seq FROM workflow.messages m
     WHERE m.message_seq = ANY (v_fit || v_too_big) AND m.next_at <= v_now
       AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM workflow.messages s
                   WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
       FOR UPDATE OF m SKIP LOCKED) c;

  -- 4. A message too big for any claim is set aside with the reason.
  IF cardinality(v_too_big) > 0 THEN
    UPDATE workflow.messages m
       SET status = 'dead', dead_at = v_now, lease_until = NULL, pod_id = NULL, updated_at = v_now,
           last_error = format('set aside: the message is %s bytes, more than a claim carries (%s bytes)',
                               octet_length(m.payload::text), p_batch_bytes)
     WHERE m.message_seq = ANY (v_too_big) AND m.message_seq = ANY (v_seqs);
    v_seqs := ARRAY(SELECT unnest(v_seqs) EXCEPT SELECT unnest(v_too_big));
  END IF;

  IF cardinality(v_seqs) > 0 THEN
    -- 5. Route them. Should one row make that fail, the dispatcher claims
    --    again with p_one_at_a_time: each message is routed on its own and
    --    the one that fails is set aside. (Not on every claim: a savepoint
    --    per claim costs the common case.) Errors that are about the moment
    --    (lock, deadlock, resources, cancel) fail the claim as before.
    IF NOT p_one_at_a_time THEN
      v_deliveries := workflow.with_run_snapshots(
                        workflow.route_messages(v_seqs, p_lease_seconds, p_grace_seconds, p_session_id),
                        greatest(p_batch_bytes - v_bytes, 0), p_snapshot_max_bytes);
    ELSE
      v_deliveries := '[]'::jsonb;
      FOREACH v_seq IN ARRAY v_seqs LOOP
        BEGIN
          v_deliveries := v_deliveries || workflow.with_run_snapshots(
                            workflow.route_messages(ARRAY[v_seq], p_lease_seconds, p_grace_seconds, p_session_id),
                            greatest(p_batch_bytes - v_bytes, 0), p_snapshot_max_bytes);
        EXCEPTION WHEN OTHERS THEN
          IF left(SQLSTATE, 2) IN ('40', '53', '55', '57', '58', 'XX') THEN
            RAISE;
          END IF;
          UPDATE workflow.messages
             SET status = 'dead', dead_at = v_now, lease_until = NULL, pod_id = NULL, updated_at = v_now,
                 last_error = left(format('set aside: claiming it failed (%s: %s)', SQLSTATE, SQLERRM), 2000)
           WHERE message_seq = v_seq;
        END;
      END LOOP;
    END IF;
  END IF;

  -- The apps now at their share: a finished delivery, not time, makes their due messages claimable.
  v_deliveries := coalesce(v_deliveries, '[]'::jsonb);
  SELECT coalesce(array_agg(b.app_id), '{}') INTO v_busy FROM (
    SELECT u.app_id FROM (
      SELECT f.app_id, f.n FROM unnest(v_apps, v_in_flight) AS f(app_id, n)
      UNION ALL SELECT d ->> 'appId', 1 FROM jsonb_array_elements(v_deliveries) d) u
     GROUP BY u.app_id HAVING sum(u.n) >= p_app_concurrency) b;
  RETURN jsonb_build_object('deliveries', v_deliveries,
                            'nextDueIn', workflow.next_due_in(v_busy), 'appsAtShare', cardinality(v_busy));
END $$;
ALTER FUNCTION workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean) IS
  'Claims up to p_limit due messages for dispatcher session p_session_id, round-robin across apps (rank within the '
  'app, then due time), no app beyond p_app_concurrency of the session''s deliveries in flight, and at most '
  'p_batch_bytes of message text (at least one message); routes them (route_messages) and adds run snapshots within '
  'p_snapshot_max_bytes and the bytes left. A message over p_batch_bytes is dead-lettered with the reason; with '
  'p_one_at_a_time (the dispatcher''s next claim after one failed) each message is routed on its own and one whose '
  'routing fails is dead-lettered with the reason. Returns {deliveries, nextDueIn, appsAtShare}: nextDueIn ignores apps at their share '
  '(a finished delivery frees them), appsAtShare counts them. 409 WF_SESSION_LOST when the session is lost or unknown.';

-- The previous signature (a dispatcher of the previous release during a
-- rolling deploy) gets the same rules with the options' defaults.
CREATE OR REPLACE FUNCTION workflow.claim_messages(
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_grace_seconds numeric)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages(p_session_id, p_limit, p_lease_seconds, p_grace_seconds,
                                 p_limit, 4194304::bigint, 1048576::bigint)
$$;
COMMENT ON FUNCTION workflow.claim_messages(integer, integer, numeric, numeric) IS
  'claim_messages in fair order with the default bounds (4 MiB per claim, 1 MiB per run snapshot) and no per-app '
  'share beyond p_limit (the previous release''s dispatchers keep their slots to themselves).';

SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.next_due_in(text[])', 'workflow.run_snapshot_bytes(text, text)',
  'workflow.with_run_snapshots(jsonb, bigint, bigint)']) f;
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.route_messages(bigint[], numeric, numeric, integer)',
  'workflow.claim_messages(integer, integer, numeric, numeric)',
  'workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)']) f;

COMMIT;
