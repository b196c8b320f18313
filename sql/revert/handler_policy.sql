-- Revert pg-workflow:handler_policy
BEGIN;

CREATE OR REPLACE FUNCTION workflow.route_messages(p_seqs bigint[], p_lease_seconds numeric, p_grace_seconds numeric)
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

DROP FUNCTION workflow.register_handler(text, text, text, text, text, text);
CREATE FUNCTION workflow.register_handler(
  p_app_id text, p_pod_id text, p_deployment_version text,
  p_workflow_url text, p_step_url text, p_webhook_url text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_woken integer;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_pod_id IS NULL OR p_pod_id !~ '^[^/]+$' OR length(p_pod_id) > 256 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER', 'podId (or machineId) must be 1-256 characters without "/"');
  END IF;
  IF p_deployment_version = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER', 'deploymentVersion must not be empty');
  END IF;
  IF p_workflow_url IS NULL OR p_workflow_url !~ '^https?://.+' OR p_step_url IS NULL OR p_step_url !~ '^https?://.+'
     OR p_webhook_url !~ '^https?://.+' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER',
      'endpoints.workflow and endpoints.step (and endpoints.webhook when given) must be http(s) URLs');
  END IF;
  PERFORM workflow.lock_version(p_app_id, p_deployment_version);
  IF p_deployment_version IS NOT NULL THEN
    INSERT INTO workflow.deployment_versions (app_id, deployment_id, created_at)
    VALUES (p_app_id, p_deployment_version, v_now) ON CONFLICT DO NOTHING;
    IF EXISTS (SELECT 1 FROM workflow.deployment_versions
                WHERE app_id = p_app_id AND deployment_id = p_deployment_version AND expired_at IS NOT NULL) THEN
      PERFORM workflow.refuse('PW410', 'WF_DEPLOYMENT_EXPIRED',
        format('deployment %s has been expired: it takes no more deliveries', p_deployment_version),
        jsonb_build_object('deploymentId', p_deployment_version));
    END IF;
  END IF;
  INSERT INTO workflow.handlers AS h (app_id, pod_id, deployment_version, workflow_url, step_url, webhook_url,
                                      registered_at, seen_at)
  VALUES (p_app_id, p_pod_id, p_deployment_version, p_workflow_url, p_step_url, p_webhook_url, v_now, v_now)
  ON CONFLICT (app_id, pod_id) DO UPDATE SET
    deployment_version = EXCLUDED.deployment_version, workflow_url = EXCLUDED.workflow_url,
    step_url = EXCLUDED.step_url, webhook_url = EXCLUDED.webhook_url, seen_at = v_now,
    refused_since = NULL, cooldown_until = NULL;
  -- Wake what waited for this version (for versionless handlers: the
  -- messages sent without a deploymentId).
  UPDATE workflow.messages SET status = 'queued', due_at = v_now, updated_at = v_now
   WHERE app_id = p_app_id AND status = 'held' AND deployment_id IS NOT DISTINCT FROM p_deployment_version;
  GET DIAGNOSTICS v_woken = ROW_COUNT;
  IF v_woken > 0 THEN
    PERFORM workflow.notify_queue(v_now);
  END IF;
  RETURN jsonb_build_object('registered', true);
END $$;
COMMENT ON FUNCTION workflow.register_handler(text, text, text, text, text, text) IS
  'Registers (or refreshes: the heartbeat) a pod''s flow/step/webhook endpoints for a deployment version (NULL: '
  'versionless) and wakes the messages held for it. 410 for an expired version. Returns {registered: true}.';

SELECT workflow.expose_api('workflow.register_handler(text, text, text, text, text, text)');
SELECT workflow.expose_service('workflow.route_messages(bigint[], numeric, numeric)');

DROP FUNCTION workflow.register_handler(text, text, text, text, text, text, text);
DROP FUNCTION workflow.handler_url_problem(text);
ALTER TABLE workflow.handlers DROP COLUMN source_address;

COMMIT;
