-- Deploy pg-workflow:queue_hot_path
-- What the noisy-neighbour bounds (claim_fairness, capacity_quotas,
-- redelivery_floor) cost a well-behaved app's queue hop, brought back, with
-- every bound kept:
--   * A message's size is measured once, when it is written (payload_bytes,
--     its JSON text as before), not again by every claim and counter.
--   * Byte counters (workflow.app_byte_usage) change only when a message's
--     counted bytes change. Claims (queued -> claimed) and requeues change
--     nothing, so nothing runs for them: the update and delete triggers are
--     row triggers whose WHEN clause is false for them, instead of statement
--     triggers that captured every claimed row in transition tables. A
--     delivery (claimed -> delivered, which only ack_messages makes) is given
--     back by ack_messages itself, one change per app and batch. Other
--     decreases (dead letters, cancelled runs, deletions) are summed per app
--     in a transaction-local setting and applied once per app by a statement
--     trigger: a bulk change (an expired version's backlog) still updates each
--     counter row once, not once per message. (Not deferred to commit: the
--     sums are made inside API and service functions, whose SET clauses undo
--     such settings when they return.) Growth the tenant causes (a
--     merged wake-up, a retried dead letter) is checked at once, as before.
--   * The claim picks, measures and counts in-flight deliveries in one
--     statement, visits only the apps with something scheduled (a skip scan;
--     it visited every registered app), and works out the apps at their share
--     only when one can be.
--   * A counter change updates the backend's row when it exists (no
--     speculative insert).
--   * route_messages finds the versions it could lock by message, not by app:
--     the previous join scanned every stored message of the app (delivered
--     ones included) on each claim.
-- SERVICE:  claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean),
--           route_messages(bigint[], numeric, numeric, integer),
--           ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric) (replaced)
-- INTERNAL: count_queued_bytes(), add_app_bytes(text, bigint, bigint), next_due_in(text[]) (replaced); release_queued_bytes(text, bigint), count_queued_bytes_row(),
--           flush_queued_bytes() (new); count_queued_bytes_changed(), count_queued_bytes_deleted() (dropped)
BEGIN;

ALTER TABLE workflow.messages
  ADD COLUMN payload_bytes integer GENERATED ALWAYS AS (octet_length(payload::text)) STORED;
COMMENT ON COLUMN workflow.messages.payload_bytes IS
  'Bytes of the payload''s JSON text, computed when it is written: what quotas maxMessageBytes and maxQueuedBytes '
  'and the claim''s byte bound count.';

CREATE FUNCTION workflow.release_queued_bytes(p_app_id text, p_bytes bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- Nothing to check on the way down: one update of this backend's row.
  UPDATE workflow.app_byte_usage SET queued_bytes = queued_bytes - p_bytes
   WHERE app_id = p_app_id AND backend_pid = pg_backend_pid();
  IF NOT FOUND THEN
    PERFORM workflow.add_app_bytes(p_app_id, -p_bytes, 0);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.release_queued_bytes(text, bigint) IS
  'Takes p_bytes off the app''s undelivered message bytes (this backend''s row of workflow.app_byte_usage; its first '
  'row for the app through add_app_bytes).';

CREATE OR REPLACE FUNCTION workflow.count_queued_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_total bigint;
BEGIN
  SELECT * INTO a FROM workflow.apps WHERE app_id = NEW.app_id;
  IF NEW.payload_bytes > a.max_message_bytes THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxMessageBytes exceeded: the message has %s bytes, app %s may enqueue at most %s',
             NEW.payload_bytes, NEW.app_id, a.max_message_bytes),
      jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', NEW.payload_bytes));
  END IF;
  IF NEW.status IN ('queued', 'held', 'claimed') THEN
    SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(NEW.app_id, NEW.payload_bytes, 0) t;
    IF v_total > a.max_queued_bytes THEN
      PERFORM workflow.check_queued_bytes(a, v_total);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION workflow.count_queued_bytes_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_old bigint := CASE WHEN OLD.status IN ('queued', 'held', 'claimed') THEN OLD.payload_bytes ELSE 0 END;
  v_new bigint := 0;
  v_pending jsonb;
  a workflow.apps;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    v_new := CASE WHEN NEW.status IN ('queued', 'held', 'claimed') THEN NEW.payload_bytes ELSE 0 END;
    -- The tenant's doing: a dead letter retried, or a wake-up merged into a
    -- pending one (same status, new payload). Checked now, as an enqueue is.
    IF v_new > v_old AND (OLD.status = 'dead' OR OLD.status = NEW.status) THEN
      SELECT * INTO a FROM workflow.apps WHERE app_id = NEW.app_id;
      IF OLD.status = NEW.status AND v_new > a.max_message_bytes THEN
        PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
          format('quota maxMessageBytes exceeded: the merged wake-up message would have %s bytes, app %s may '
                 'enqueue at most %s', v_new, NEW.app_id, a.max_message_bytes),
          jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', v_new));
      END IF;
      PERFORM workflow.check_queued_bytes(a, (SELECT t.queued_bytes
                                                FROM workflow.add_app_bytes(NEW.app_id, v_new - v_old, 0) t));
      RETURN NULL;
    END IF;
  END IF;
  -- Everything else (dead letters, cancelled runs, deletions): summed per app
  -- for flush_queued_bytes at the end of the statement.
  v_pending := coalesce(nullif(current_setting('workflow.queued_bytes_pending', true), ''), '{}')::jsonb;
  PERFORM set_config('workflow.queued_bytes_pending',
    jsonb_set(v_pending, ARRAY[OLD.app_id],
              to_jsonb(coalesce((v_pending ->> OLD.app_id)::bigint, 0) + v_new - v_old))::text, true);
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_queued_bytes_row() IS
  'Row trigger on updates and deletes of workflow.messages that change an app''s undelivered message bytes (not '
  'claims, not deliveries: ack_messages gives those back): growth the tenant causes (a retried dead letter, a '
  'merged wake-up) is counted and checked against maxMessageBytes (413) and maxQueuedBytes (429) at once; any other '
  'change is summed per app in the transaction-local setting workflow.queued_bytes_pending (applied by '
  'flush_queued_bytes at the end of the statement).';

CREATE FUNCTION workflow.flush_queued_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_pending text := current_setting('workflow.queued_bytes_pending', true);
  r record;
BEGIN
  IF v_pending IS NULL OR v_pending IN ('', '{}') THEN
    RETURN NULL;  -- claims and deliveries: nothing was counted
  END IF;
  PERFORM set_config('workflow.queued_bytes_pending', '', true);
  FOR r IN SELECT p.key AS app_id, p.value::bigint AS delta FROM jsonb_each_text(v_pending::jsonb) p ORDER BY p.key LOOP
    IF r.delta < 0 THEN
      PERFORM workflow.release_queued_bytes(r.app_id, -r.delta);
    ELSIF r.delta > 0 THEN
      PERFORM workflow.add_app_bytes(r.app_id, r.delta, 0);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.flush_queued_bytes() IS
  'Statement trigger after updates and deletes of workflow.messages: applies the per-app sums count_queued_bytes_row '
  'left in workflow.queued_bytes_pending, one counter change per app and statement.';

DROP TRIGGER messages_queued_bytes_update ON workflow.messages;
DROP TRIGGER messages_queued_bytes_delete ON workflow.messages;
DROP FUNCTION workflow.count_queued_bytes_changed();
DROP FUNCTION workflow.count_queued_bytes_deleted();
CREATE TRIGGER messages_queued_bytes_update AFTER UPDATE OF status, payload ON workflow.messages
  FOR EACH ROW
  WHEN (((OLD.status IN ('queued', 'held', 'claimed')) <> (NEW.status IN ('queued', 'held', 'claimed'))
         OR (NEW.status IN ('queued', 'held', 'claimed') AND OLD.payload_bytes <> NEW.payload_bytes))
        AND NOT (OLD.status = 'claimed' AND NEW.status = 'delivered'))
  EXECUTE FUNCTION workflow.count_queued_bytes_row();
CREATE TRIGGER messages_queued_bytes_delete AFTER DELETE ON workflow.messages
  FOR EACH ROW WHEN (OLD.status IN ('queued', 'held', 'claimed'))
  EXECUTE FUNCTION workflow.count_queued_bytes_row();
CREATE TRIGGER messages_queued_bytes_flush AFTER UPDATE OR DELETE ON workflow.messages
  FOR EACH STATEMENT EXECUTE FUNCTION workflow.flush_queued_bytes();

-- Counters: an update of this backend's row when it exists.
CREATE OR REPLACE FUNCTION workflow.add_app_bytes(p_app_id text, p_queued bigint, p_stream bigint,
                                       OUT queued_bytes bigint, OUT stream_bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_pid integer := pg_backend_pid();
  v_first boolean;
  v_queued bigint;
  v_stream bigint;
BEGIN
  -- Usually this backend's row exists: one update, whose RETURNING sums the
  -- app's rows as they were before it (so the totals add this change once).
  UPDATE workflow.app_byte_usage AS u
     SET queued_bytes = u.queued_bytes + p_queued, stream_bytes = u.stream_bytes + p_stream
   WHERE u.app_id = p_app_id AND u.backend_pid = v_pid
  RETURNING (SELECT coalesce(sum(t.queued_bytes), 0) FROM workflow.app_byte_usage t WHERE t.app_id = p_app_id) + p_queued,
            (SELECT coalesce(sum(t.stream_bytes), 0) FROM workflow.app_byte_usage t WHERE t.app_id = p_app_id) + p_stream
    INTO queued_bytes, stream_bytes;
  IF FOUND THEN
    RETURN;
  END IF;
  -- One statement changes this backend's row and sums the app's rows as they
  -- were before it (so the totals add this change once).
  IF p_queued >= 0 AND p_stream >= 0 THEN
    -- (growth comes with a new row of the app, which therefore exists)
    WITH up AS (
      INSERT INTO workflow.app_byte_usage AS u (app_id, backend_pid, queued_bytes, stream_bytes)
      VALUES (p_app_id, v_pid, p_queued, p_stream)
      ON CONFLICT (app_id, backend_pid) DO UPDATE
         SET queued_bytes = u.queued_bytes + p_queued, stream_bytes = u.stream_bytes + p_stream
      RETURNING xmax = 0 AS first)
    SELECT (SELECT up.first FROM up), coalesce(sum(u.queued_bytes), 0) + p_queued,
           coalesce(sum(u.stream_bytes), 0) + p_stream
      INTO v_first, queued_bytes, stream_bytes
      FROM workflow.app_byte_usage u WHERE u.app_id = p_app_id;
  ELSE
    -- Nothing is changed when the app itself is being deleted (its rows
    -- cascade): its counters go with it.
    WITH up AS (
      INSERT INTO workflow.app_byte_usage AS u (app_id, backend_pid, queued_bytes, stream_bytes)
      SELECT a.app_id, v_pid, p_queued, p_stream FROM workflow.apps a WHERE a.app_id = p_app_id
      ON CONFLICT (app_id, backend_pid) DO UPDATE
         SET queued_bytes = u.queued_bytes + p_queued, stream_bytes = u.stream_bytes + p_stream
      RETURNING xmax = 0 AS first)
    SELECT (SELECT up.first FROM up), coalesce(sum(u.queued_bytes), 0) + p_queued,
           coalesce(sum(u.stream_bytes), 0) + p_stream
      INTO v_first, queued_bytes, stream_bytes
      FROM workflow.app_byte_usage u WHERE u.app_id = p_app_id;
  END IF;
  IF v_first THEN
    -- This backend's first row for the app: take over the rows of backends
    -- that have ended (nobody else writes them; a concurrent fold of the
    -- same rows waits, then finds them gone, so nothing is counted twice).
    -- The app's totals do not change.
    WITH gone AS (
      DELETE FROM workflow.app_byte_usage u
       WHERE u.app_id = p_app_id AND u.backend_pid <> v_pid
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = u.backend_pid)
      RETURNING u.queued_bytes, u.stream_bytes)
    SELECT sum(gone.queued_bytes), sum(gone.stream_bytes) INTO v_queued, v_stream FROM gone;
    IF v_queued IS NOT NULL THEN
      UPDATE workflow.app_byte_usage AS u
         SET queued_bytes = u.queued_bytes + v_queued, stream_bytes = u.stream_bytes + v_stream
       WHERE u.app_id = p_app_id AND u.backend_pid = v_pid;
    END IF;
  END IF;
END $$;

-- Apps with nothing scheduled are skipped.
CREATE OR REPLACE FUNCTION workflow.next_due_in(p_skip_apps text[]) RETURNS double precision
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF coalesce(cardinality(p_skip_apps), 0) = 0 THEN
    RETURN workflow.next_due_in();
  END IF;
  -- One index probe per app: an app at its share may have a long due backlog
  -- that a scan in global due order would walk through.
  RETURN (
    WITH RECURSIVE active(app_id) AS (  -- as in claim_messages: only apps with anything scheduled
      (SELECT m.app_id FROM workflow.messages m WHERE m.next_at IS NOT NULL ORDER BY m.app_id LIMIT 1)
      UNION ALL
      SELECT (SELECT m.app_id FROM workflow.messages m
               WHERE m.next_at IS NOT NULL AND m.app_id > a.app_id ORDER BY m.app_id LIMIT 1)
        FROM active a WHERE a.app_id IS NOT NULL
    )
    SELECT extract(epoch FROM min(x.next_at) - clock_timestamp())::double precision
      FROM active a
     CROSS JOIN LATERAL (
       SELECT m.next_at FROM workflow.messages m
        WHERE m.app_id = a.app_id AND m.next_at IS NOT NULL
          AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM workflow.messages s
                      WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
        ORDER BY m.next_at LIMIT 1) x
     WHERE a.app_id IS NOT NULL AND a.app_id <> ALL (p_skip_apps));
END $$;
ALTER FUNCTION workflow.next_due_in(text[]) SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;

-- The claim: one statement picks, measures and counts in-flight deliveries.
CREATE OR REPLACE FUNCTION workflow.claim_messages(
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_grace_seconds numeric,
  p_app_concurrency integer, p_batch_bytes bigint, p_snapshot_max_bytes bigint,
  p_one_at_a_time boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_apps text[];        -- apps with deliveries of this session in flight
  v_in_flight integer[];  -- how many each
  v_most integer;       -- the most of them any app has
  v_busy text[] := '{}';  -- apps at their share once this claim is made
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

  -- 1. Pick round-robin across apps (rank in its app, then due time), each
  --    app within its share (this session's deliveries in flight per app),
  --    without locking; keep what fits in the bytes (sizes measured at enqueue).
  WITH RECURSIVE active(app_id) AS (
    -- The apps with anything scheduled, found by a skip scan of
    -- messages_app_next: idle apps cost a claim nothing, however many exist.
    (SELECT m.app_id FROM workflow.messages m WHERE m.next_at IS NOT NULL ORDER BY m.app_id LIMIT 1)
    UNION ALL
    SELECT (SELECT m.app_id FROM workflow.messages m
             WHERE m.next_at IS NOT NULL AND m.app_id > a.app_id ORDER BY m.app_id LIMIT 1)
      FROM active a WHERE a.app_id IS NOT NULL
  ), flight AS MATERIALIZED (
    SELECT m.app_id, count(*)::integer AS n FROM workflow.messages m
     WHERE m.status = 'claimed' AND m.claimed_by = p_session_id GROUP BY m.app_id
  ), picked AS (
    SELECT c.message_seq, c.rank, c.next_at, c.bytes
      FROM active a
      LEFT JOIN flight f ON f.app_id = a.app_id
     CROSS JOIN LATERAL (
       SELECT m.message_seq, m.next_at, m.payload_bytes::bigint AS bytes,
              row_number() OVER (ORDER BY m.next_at, m.message_seq) AS rank
         FROM workflow.messages m
        WHERE m.app_id = a.app_id AND m.next_at <= v_now
          AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM workflow.messages s
                      WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
        ORDER BY m.next_at, m.message_seq
        LIMIT least(p_limit, greatest(p_app_concurrency - coalesce(f.n, 0), 0))) c
     WHERE a.app_id IS NOT NULL
     ORDER BY c.rank, c.next_at, c.message_seq
     LIMIT p_limit
  ), running AS (
    SELECT p.*, sum(p.bytes) FILTER (WHERE p.bytes <= p_batch_bytes)
                  OVER (ORDER BY p.rank, p.next_at, p.message_seq) AS total
      FROM picked p
  )
  SELECT coalesce(array_agg(r.message_seq) FILTER (WHERE r.bytes <= p_batch_bytes AND r.total <= p_batch_bytes), '{}'),
         coalesce(array_agg(r.message_seq) FILTER (WHERE r.bytes > p_batch_bytes), '{}'),
         coalesce(max(r.total) FILTER (WHERE r.bytes <= p_batch_bytes AND r.total <= p_batch_bytes), 0),
         (SELECT coalesce(array_agg(f.app_id), '{}') FROM flight f),
         (SELECT coalesce(array_agg(f.n), '{}') FROM flight f),
         (SELECT coalesce(max(f.n), 0) FROM flight f)
    INTO v_fit, v_too_big, v_bytes, v_apps, v_in_flight, v_most
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
                               m.payload_bytes, p_batch_bytes)
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

  -- The apps now at their share: a finished delivery, not time, makes their
  -- due messages claimable. (None can be when no app had that many.)
  v_deliveries := coalesce(v_deliveries, '[]'::jsonb);
  IF v_most + jsonb_array_length(v_deliveries) >= p_app_concurrency THEN
    SELECT coalesce(array_agg(b.app_id), '{}') INTO v_busy FROM (
      SELECT u.app_id FROM (
        SELECT f.app_id, f.n FROM unnest(v_apps, v_in_flight) AS f(app_id, n)
        UNION ALL SELECT d ->> 'appId', 1 FROM jsonb_array_elements(v_deliveries) d) u
       GROUP BY u.app_id HAVING sum(u.n) >= p_app_concurrency) b;
  END IF;
  RETURN jsonb_build_object('deliveries', v_deliveries,
                            'nextDueIn', workflow.next_due_in(v_busy), 'appsAtShare', cardinality(v_busy));
END $$;
ALTER FUNCTION workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;

-- Versions to lock, found by message.
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
    SELECT coalesce(array_agg(d.key), '{}') AS keys
      FROM (SELECT DISTINCT hashtext(m.app_id || '/' || coalesce(m.deployment_id, '')) AS key
              FROM workflow.messages m WHERE m.message_seq = ANY (v_seqs) ORDER BY 1) d
     WHERE pg_try_advisory_xact_lock_shared(7262003, d.key)
  )
  -- (by message: a join on the app would read every stored message of it)
  SELECT coalesce(array_agg(m.message_seq), '{}') INTO v_seqs
    FROM workflow.messages m, v
   WHERE m.message_seq = ANY (v_seqs)
     AND hashtext(m.app_id || '/' || coalesce(m.deployment_id, '')) = ANY (v.keys)
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

-- Deliveries give their bytes back here.
CREATE OR REPLACE FUNCTION workflow.ack_messages(
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
  v_delivered_apps text[];
  v_delivered_bytes bigint[];
  v_i integer;
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
    RETURNING m.message_seq, m.app_id, m.run_id, m.kind, m.status, m.due_at, r.pod_id, r.outcome,
              m.payload_bytes
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
         array_agg(s.message_seq) FILTER (WHERE s.outcome = 'timeout'),
         -- deliveries give their bytes back here, one change per app (the
         -- byte-counting trigger leaves claimed -> delivered to this function)
         (SELECT array_agg(d.app_id ORDER BY d.app_id) FROM (
            SELECT DISTINCT s2.app_id FROM settled s2 WHERE s2.status = 'delivered') d),
         (SELECT array_agg(d.bytes ORDER BY d.app_id) FROM (
            SELECT s2.app_id, sum(s2.payload_bytes)::bigint AS bytes FROM settled s2 WHERE s2.status = 'delivered'
             GROUP BY s2.app_id) d)
    INTO v_settled, v_refused, v_wake, v_unblocked, v_redelivered, v_delivered_apps, v_delivered_bytes
    FROM settled s;

  FOR v_i IN 1 .. coalesce(cardinality(v_delivered_apps), 0) LOOP
    PERFORM workflow.release_queued_bytes(v_delivered_apps[v_i], v_delivered_bytes[v_i]);
  END LOOP;

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

SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)',
  'workflow.route_messages(bigint[], numeric, numeric, integer)',
  'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric)']) f;
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.release_queued_bytes(text, bigint)', 'workflow.count_queued_bytes_row()',
  'workflow.flush_queued_bytes()']) f;

COMMIT;
