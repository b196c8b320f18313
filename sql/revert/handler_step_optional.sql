-- Revert pg-workflow:handler_step_optional
BEGIN;

-- register_handler as change handler_policy left it (the step URL required).
CREATE OR REPLACE FUNCTION workflow.register_handler(
  p_app_id text, p_pod_id text, p_deployment_version text,
  p_workflow_url text, p_step_url text, p_webhook_url text, p_source_address text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_woken integer;
  v_problem text;
  v_source inet := NULLIF(split_part(p_source_address, '%', 1), '')::inet;  -- drop an IPv6 zone id
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_pod_id IS NULL OR p_pod_id !~ '^[^/]+$' OR length(p_pod_id) > 256 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER', 'podId (or machineId) must be 1-256 characters without "/"');
  END IF;
  IF p_deployment_version = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER', 'deploymentVersion must not be empty');
  END IF;
  FOR v_problem IN
    SELECT format('endpoints.%s %s', e.field, workflow.handler_url_problem(e.url))
      FROM (VALUES ('workflow', p_workflow_url, true), ('step', p_step_url, true),
                   ('webhook', p_webhook_url, p_webhook_url IS NOT NULL)) AS e(field, url, required)
     WHERE e.required AND workflow.handler_url_problem(e.url) IS NOT NULL
  LOOP
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER', v_problem);
  END LOOP;
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
                                      registered_at, seen_at, source_address)
  VALUES (p_app_id, p_pod_id, p_deployment_version, p_workflow_url, p_step_url, p_webhook_url, v_now, v_now, v_source)
  ON CONFLICT (app_id, pod_id) DO UPDATE SET
    deployment_version = EXCLUDED.deployment_version, workflow_url = EXCLUDED.workflow_url,
    step_url = EXCLUDED.step_url, webhook_url = EXCLUDED.webhook_url, seen_at = v_now,
    source_address = EXCLUDED.source_address, refused_since = NULL, cooldown_until = NULL;
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
COMMENT ON FUNCTION workflow.register_handler(text, text, text, text, text, text, text) IS
  'Registers (or refreshes: the heartbeat) a pod''s flow/step/webhook endpoints for a deployment version (NULL: '
  'versionless), recording p_source_address (the registering client''s address), and wakes the messages held for '
  'it. URLs must pass workflow.handler_url_problem (400 names the endpoint). 410 for an expired version. '
  'Returns {registered: true}.';
SELECT workflow.expose_api('workflow.register_handler(text, text, text, text, text, text, text)');

COMMENT ON COLUMN workflow.handlers.step_url IS 'Endpoint for *wkf_step_* messages (the app''s /.well-known/workflow/v1/step).';

COMMIT;
