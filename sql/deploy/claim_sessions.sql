-- Deploy pg-workflow:claim_sessions
-- Claims belong to the dispatcher's database session (SPEC section 14): each
-- dispatcher holds a session-level advisory lock on its session id for as long
-- as its LISTEN connection lives, and every claim records that id. When the
-- connection ends (process killed, host gone) the lock is free, and any
-- dispatcher's periodic reap hands the claims back after a short grace period
-- (the owner may just be reconnecting: it then resumes the same session and
-- keeps its claims); a replica restarted under the same name takes its dead
-- predecessor's claims back at once. The lease stays as the backstop for a
-- dispatcher that hangs while still connected.
--
-- SERVICE (the service's own pool only; classified with workflow.expose_* at the end):
--   open_dispatcher_session(text), resume_dispatcher_session(integer),
--   close_dispatcher_session(integer), reap_dispatcher_sessions(numeric),
--   claim_messages(integer, integer, numeric, numeric)
--   route_messages(bigint[], numeric, numeric, integer) (called by claim_messages, as the 3-argument one)
-- INTERNAL: session_lock_class(), session_gone(integer), reap_session(integer, timestamptz)
BEGIN;

CREATE TABLE workflow.dispatcher_sessions (
  session_id    integer GENERATED ALWAYS AS IDENTITY (CYCLE) PRIMARY KEY,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  pid           integer NOT NULL,
  backend_start timestamptz,
  opened_at     timestamptz NOT NULL,
  lost_at       timestamptz,
  reaped_at     timestamptz,
  CONSTRAINT dispatcher_sessions_reaped_was_lost CHECK (reaped_at IS NULL OR lost_at IS NOT NULL)
);
CREATE INDEX dispatcher_sessions_by_name ON workflow.dispatcher_sessions (name);
-- Not a tenant table (sessions serve every app): only pgw_service reaches it.
ALTER TABLE workflow.dispatcher_sessions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY service_all_apps ON workflow.dispatcher_sessions TO pgw_service USING (true) WITH CHECK (true);
REVOKE ALL ON workflow.dispatcher_sessions FROM PUBLIC, pgw_tenant, pgw_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON workflow.dispatcher_sessions TO pgw_service;
COMMENT ON TABLE workflow.dispatcher_sessions IS
  'One row per dispatcher session: live (its owner holds advisory lock 7262004/session_id), lost (lock found free '
  'at lost_at; the owner may resume it), reaped (its claims were handed back at reaped_at; kept a minute so a claim '
  'that raced with the reap is handed back too). See docs/state-machines.md.';
COMMENT ON COLUMN workflow.dispatcher_sessions.name IS 'The replica (host:port): a restart under the same name takes over its dead session at once.';
COMMENT ON COLUMN workflow.dispatcher_sessions.pid IS 'Backend pid of the connection holding the lock (join pg_stat_activity); informative only.';
COMMENT ON COLUMN workflow.dispatcher_sessions.session_id IS 'Session id: the key of its advisory lock and the value claims record in messages.claimed_by.';
COMMENT ON COLUMN workflow.dispatcher_sessions.backend_start IS 'backend_start of the lock-holding connection (with pid, names it in pg_stat_activity).';
COMMENT ON COLUMN workflow.dispatcher_sessions.opened_at IS 'When the session was opened.';
COMMENT ON COLUMN workflow.dispatcher_sessions.lost_at IS 'When a reaper found the session''s lock free; NULL while live (a resume clears it).';
COMMENT ON COLUMN workflow.dispatcher_sessions.reaped_at IS 'When its claims were handed back; a reaped session cannot claim or resume.';

ALTER TABLE workflow.messages ADD COLUMN claimed_by integer;
COMMENT ON COLUMN workflow.messages.claimed_by IS
  'The dispatcher session (workflow.dispatcher_sessions) of the current claim; meaningful only while claimed. '
  'NULL for claims of dispatchers without a session (those rely on the lease alone).';
-- Finds a dead session's claims without touching anything else.
CREATE INDEX messages_claimed_by ON workflow.messages (claimed_by) WHERE status = 'claimed';

-- The session lock, by name: advisory class 7262004, key = session id. Its
-- owner holds it for the life of its connection; reapers only try it, for
-- their transaction, which also keeps two reapers off the same session.
CREATE FUNCTION workflow.session_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 7262004 $$;
COMMENT ON FUNCTION workflow.session_lock_class() IS
  'Advisory lock class of dispatcher sessions (the key is the session id).';

CREATE FUNCTION workflow.session_gone(p_session_id integer) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ SELECT pg_try_advisory_xact_lock(workflow.session_lock_class(), p_session_id) $$;
COMMENT ON FUNCTION workflow.session_gone(integer) IS
  'True when no other connection holds the session''s lock: its dispatcher''s connection ended. The caller then '
  'holds the lock until its transaction ends, so neither the owner (resuming) nor another reaper gets in between.';

CREATE FUNCTION workflow.reap_session(p_session_id integer, p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  -- Ending the lease makes the claim due: the next claim redelivers it with
  -- attempt + 1, through the same routing and per-run rules as a lost lease.
  -- It ends at the message's due time, not now, so the message gets its old
  -- place in the queue back instead of waiting behind a backlog that became
  -- due after it.
  UPDATE workflow.messages SET lease_until = least(due_at, p_now), updated_at = p_now
   WHERE status = 'claimed' AND claimed_by = p_session_id AND lease_until > p_now;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  UPDATE workflow.dispatcher_sessions SET lost_at = coalesce(lost_at, p_now), reaped_at = p_now
   WHERE session_id = p_session_id AND reaped_at IS NULL;
  RETURN v_count;
END $$;
ALTER FUNCTION workflow.reap_session(integer, timestamptz) SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.reap_session(integer, timestamptz) IS
  'Ends the leases of a session''s claims at their due time (so they are due at once, in their old place in the '
  'queue) and marks the session reaped. Returns the claims handed back.';

CREATE FUNCTION workflow.open_dispatcher_session(p_name text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_id integer;
  v_reaped integer := 0;
BEGIN
  -- This replica's previous process (same name) is dead if its lock is free:
  -- nothing can resume that session, so its claims come back now.
  FOR v_id IN SELECT session_id FROM workflow.dispatcher_sessions
               WHERE name = p_name AND reaped_at IS NULL ORDER BY session_id LOOP
    IF workflow.session_gone(v_id) THEN
      v_reaped := v_reaped + workflow.reap_session(v_id, v_now);
    END IF;
  END LOOP;
  INSERT INTO workflow.dispatcher_sessions (name, pid, backend_start, opened_at)
  VALUES (p_name, pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), v_now)
  RETURNING session_id INTO v_id;
  PERFORM pg_advisory_lock(workflow.session_lock_class(), v_id);  -- held by this connection until it ends
  IF v_reaped > 0 THEN
    PERFORM workflow.notify_queue(v_now);
  END IF;
  RETURN v_id;
END $$;
COMMENT ON FUNCTION workflow.open_dispatcher_session(text) IS
  'Starts a dispatcher session on the calling connection (which must stay open: it holds the session''s lock) and '
  'returns its id for claim_messages. Claims of earlier sessions of the same name whose connection is gone are '
  'handed back at once.';

CREATE FUNCTION workflow.resume_dispatcher_session(p_session_id integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  -- A reaper holds the lock only for its short transaction; a connection that
  -- still holds it (a half-dead one the server has not noticed yet) does not
  -- let go: then give up and open a new session.
  PERFORM set_config('lock_timeout', '2s', true);
  BEGIN
    PERFORM pg_advisory_lock(workflow.session_lock_class(), p_session_id);
  EXCEPTION WHEN lock_not_available THEN
    RETURN false;
  END;
  UPDATE workflow.dispatcher_sessions
     SET lost_at = NULL, pid = pg_backend_pid(),
         backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
   WHERE session_id = p_session_id AND reaped_at IS NULL;
  IF NOT FOUND THEN  -- reaped meanwhile: its claims are no longer ours
    PERFORM pg_advisory_unlock(workflow.session_lock_class(), p_session_id);
    RETURN false;
  END IF;
  RETURN true;
END $$;
COMMENT ON FUNCTION workflow.resume_dispatcher_session(integer) IS
  'After a reconnect: takes the session''s lock again on the calling connection and keeps its claims, unless it '
  'was reaped (or its old connection still holds the lock): false, open a new session.';

CREATE FUNCTION workflow.close_dispatcher_session(p_session_id integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_count integer := workflow.reap_session(p_session_id, v_now);
BEGIN
  -- Its lock goes with the dispatcher's LISTEN connection, closed right after.
  DELETE FROM workflow.dispatcher_sessions WHERE session_id = p_session_id;
  IF v_count > 0 THEN
    PERFORM workflow.notify_queue(v_now);
  END IF;
  RETURN v_count;
END $$;
COMMENT ON FUNCTION workflow.close_dispatcher_session(integer) IS
  'Ends a session when its dispatcher stops: claims it still holds are due at once; returns how many.';

CREATE FUNCTION workflow.reap_dispatcher_sessions(p_grace_seconds numeric DEFAULT 5) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_count integer := 0;
  s workflow.dispatcher_sessions;
BEGIN
  -- Live sessions cost one failed try-lock each and no write. A session
  -- whose lock this transaction gets is read again: its owner may have
  -- resumed (or it was reaped) since the loop's snapshot.
  FOR s IN SELECT * FROM workflow.dispatcher_sessions ORDER BY session_id LOOP
    IF NOT workflow.session_gone(s.session_id) THEN
      CONTINUE;
    END IF;
    SELECT * INTO s FROM workflow.dispatcher_sessions d WHERE d.session_id = s.session_id;
    IF NOT FOUND THEN
      CONTINUE;
    ELSIF s.reaped_at IS NOT NULL THEN
      -- A claim that read the session as live just before the reap may have
      -- committed after it: hand such claims back too, then forget the session.
      IF s.reaped_at < v_now - interval '1 minute' THEN
        DELETE FROM workflow.dispatcher_sessions WHERE session_id = s.session_id;
      ELSE
        v_count := v_count + workflow.reap_session(s.session_id, v_now);
      END IF;
    ELSE
      IF s.lost_at IS NULL THEN
        s.lost_at := v_now;
        UPDATE workflow.dispatcher_sessions SET lost_at = v_now WHERE session_id = s.session_id;
      END IF;
      IF s.lost_at <= v_now - make_interval(secs => p_grace_seconds::double precision) THEN
        v_count := v_count + workflow.reap_session(s.session_id, v_now);
      END IF;
    END IF;
  END LOOP;
  IF v_count > 0 THEN
    PERFORM workflow.notify_queue(v_now);  -- the handed-back claims are due now
  END IF;
  RETURN v_count;
END $$;
COMMENT ON FUNCTION workflow.reap_dispatcher_sessions(numeric) IS
  'Called periodically by every dispatcher: a session whose lock is free is marked lost; once it has stayed lost '
  'for p_grace_seconds (time for its owner to reconnect and resume) its claims are due at once. Returns the claims '
  'handed back (and NOTIFYs when there are any).';

CREATE FUNCTION workflow.route_messages(p_seqs bigint[], p_lease_seconds numeric, p_grace_seconds numeric,
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
    SELECT h.app_id, h.deployment_version, h.pod_id, h.workflow_url, h.step_url, h.cooldown_until, h.source_address,
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
           co.until AS cool_until, r.source_address
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
  'also carries sourceAddress (the handler''s registration address) and dueAt (when the message became deliverable).';

CREATE FUNCTION workflow.claim_messages(
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

-- Only the service's own connection runs the dispatcher.
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.session_lock_class()', 'workflow.session_gone(integer)',
  'workflow.reap_session(integer, timestamptz)']) f;
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.open_dispatcher_session(text)', 'workflow.resume_dispatcher_session(integer)',
  'workflow.close_dispatcher_session(integer)', 'workflow.reap_dispatcher_sessions(numeric)',
  'workflow.route_messages(bigint[], numeric, numeric, integer)',
  'workflow.claim_messages(integer, integer, numeric, numeric)']) f;

COMMIT;
