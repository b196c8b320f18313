-- Deploy pg-workflow:handlers
-- Handler registration (upsert = heartbeat), deregistration, and version
-- expiry. A registration wakes the messages held for its version.
BEGIN;

-- Registrations and expiry of a version take this lock exclusively; claims
-- take it shared before routing (see workflow.claim_messages).
CREATE FUNCTION workflow.lock_version(p_app_id text, p_deployment_id text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(7262003, hashtext(p_app_id || '/' || coalesce(p_deployment_id, '')))
$$;
COMMENT ON FUNCTION workflow.lock_version(text, text) IS
  'Waits for exclusive use of a version''s routing (advisory class 7262003) until the transaction ends.';

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

CREATE FUNCTION workflow.unregister_handler(p_app_id text, p_pod_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.require_app(p_app_id);
  DELETE FROM workflow.handlers WHERE app_id = p_app_id AND pod_id = p_pod_id;
  RETURN jsonb_build_object('deregistered', FOUND);
END $$;
COMMENT ON FUNCTION workflow.unregister_handler(text, text) IS
  'Removes a pod''s registration: {deregistered: whether it existed}. Its version''s messages go to the other pods, '
  'or wait for the next registration.';

CREATE FUNCTION workflow.expire_version(p_app_id text, p_deployment_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_dead integer;
  v_removed integer;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_deployment_id IS NULL OR p_deployment_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_DEPLOYMENT_ID', 'deploymentId must not be empty');
  END IF;
  PERFORM workflow.lock_version(p_app_id, p_deployment_id);
  INSERT INTO workflow.deployment_versions AS v (app_id, deployment_id, created_at, expired_at)
  VALUES (p_app_id, p_deployment_id, v_now, v_now)
  ON CONFLICT (app_id, deployment_id) DO UPDATE SET expired_at = coalesce(v.expired_at, v_now);
  DELETE FROM workflow.handlers WHERE app_id = p_app_id AND deployment_version = p_deployment_id;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  -- In-flight deliveries finish, but their results no longer count.
  UPDATE workflow.messages
     SET status = 'dead', dead_at = v_now, lease_until = NULL, pod_id = NULL,
         last_error = 'deployment expired', updated_at = v_now
   WHERE app_id = p_app_id AND deployment_id = p_deployment_id AND status IN ('queued', 'held', 'claimed');
  GET DIAGNOSTICS v_dead = ROW_COUNT;
  RETURN jsonb_build_object('deadLetteredMessages', v_dead, 'removedHandlers', v_removed);
END $$;
COMMENT ON FUNCTION workflow.expire_version(text, text) IS
  'Expires a deployment version: removes its handlers and dead-letters its undelivered messages (later ones are '
  'dead on arrival). Returns {deadLetteredMessages, removedHandlers}. The admin endpoint also cancels its runs.';

GRANT EXECUTE ON FUNCTION workflow.lock_version(text, text),
                         workflow.register_handler(text, text, text, text, text, text),
                         workflow.unregister_handler(text, text) TO pgw_tenant;
-- Expiry is an admin action.
REVOKE EXECUTE ON FUNCTION workflow.expire_version(text, text) FROM PUBLIC;

COMMIT;
