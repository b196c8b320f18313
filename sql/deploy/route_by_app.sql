-- Deploy pg-workflow:route_by_app
-- route_messages looked for the claimed messages' handlers by version with a
-- null-safe comparison no index serves, so every claim read every registration
-- of every app (thousands in a shared service). It now finds them by the apps
-- and versions of the messages, index conditions.
-- SERVICE: route_messages(bigint[], numeric, numeric, integer) (replaced)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.route_messages(p_seqs bigint[], p_lease_seconds numeric, p_grace_seconds numeric,
                                                   p_session_id integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_seqs bigint[] := p_seqs;
  v_apps text[];  -- the apps and versions of the messages to route
  v_versions text[];
  v_unversioned boolean;
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
  SELECT coalesce(array_agg(m.message_seq), '{}'), coalesce(array_agg(DISTINCT m.app_id), '{}'),
         coalesce(array_agg(DISTINCT m.deployment_id) FILTER (WHERE m.deployment_id IS NOT NULL), '{}'),
         coalesce(bool_or(m.deployment_id IS NULL), false)
    INTO v_seqs, v_apps, v_versions, v_unversioned
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
       -- by app and version (index conditions), not by every registration
       AND h.app_id = ANY (v_apps)
       AND (h.deployment_version = ANY (v_versions) OR (h.deployment_version IS NULL AND v_unversioned))
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
                AND s.app_id = ANY (v_apps)
                AND (s.deployment_version = ANY (v_versions) OR (s.deployment_version IS NULL AND v_unversioned))
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
SELECT workflow.expose_service('workflow.route_messages(bigint[], numeric, numeric, integer)');

COMMIT;
