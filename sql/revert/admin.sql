-- Revert pg-workflow:admin
BEGIN;

DROP FUNCTION workflow.request_context(text, text);

-- expire_version as the handlers change defined it.
CREATE OR REPLACE FUNCTION workflow.expire_version(p_app_id text, p_deployment_id text) RETURNS jsonb
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

DROP FUNCTION workflow.version_status(text, text);
DROP FUNCTION workflow.set_quotas(text, jsonb);
DROP FUNCTION workflow.get_quotas(text);
DROP FUNCTION workflow.unbind_service_account(text, text, text);
DROP FUNCTION workflow.bind_service_account(text, text, text);
DROP FUNCTION workflow.list_apps(integer, text);
DROP FUNCTION workflow.create_app(text);
DROP FUNCTION workflow.admin_app(text, boolean);
DROP FUNCTION workflow.check_k8s_names(text, text);
DROP FUNCTION workflow.binding_json(workflow.k8s_bindings);
DROP FUNCTION workflow.app_json(workflow.apps);
DROP FUNCTION workflow.quotas_json(workflow.apps);
DROP INDEX workflow.messages_undelivered_by_version;
DROP TABLE workflow.k8s_bindings;

COMMIT;
