-- Deploy pg-workflow:handler_leases
-- Registrations are leases (SPEC section 14): a registration made through
-- the 9-argument register_handler expires p_ttl_seconds after it was made
-- unless the pod registers again (the client World refreshes it on a timer).
-- Routing ignores an expired registration exactly as a missing one (the
-- version's messages wait, held, without spending attempts) and the claim
-- that finds it removes it (change claim_fairness). An address a dead pod
-- registered therefore stops receiving deliveries within one TTL, whoever
-- inherits the address.
--   API: workflow.register_handler(text, text, text, text, text, text, text, text[], numeric)  (new)
-- Registrations through the older signatures (a previous service release
-- during a rolling deploy) and with p_ttl_seconds 0 (WF_HANDLER_TTL_SECONDS=0)
-- have no expiry (expires_at NULL), as before this change.
BEGIN;

ALTER TABLE workflow.handlers ADD COLUMN expires_at timestamptz;
COMMENT ON COLUMN workflow.handlers.expires_at IS
  'End of the registration''s lease: routing ignores the row from then on and claims remove it; registering again '
  'extends it. NULL: no lease (registered with TTL 0 or through an older register_handler signature).';

CREATE FUNCTION workflow.register_handler(
  p_app_id text, p_pod_id text, p_deployment_version text, p_workflow_url text, p_step_url text,
  p_webhook_url text, p_source_address text, p_features text[], p_ttl_seconds numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_result jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_ttl_seconds IS NULL OR p_ttl_seconds = 'NaN' OR p_ttl_seconds < 0 OR p_ttl_seconds > 86400 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER',
      format('the registration TTL must be between 0 and 86400 seconds, not %s', p_ttl_seconds));
  END IF;
  v_result := workflow.register_handler(p_app_id, p_pod_id, p_deployment_version, p_workflow_url, p_step_url,
                                        p_webhook_url, p_source_address, p_features);
  -- The row is this transaction's own (the upsert above locked it).
  UPDATE workflow.handlers
     SET expires_at = CASE WHEN p_ttl_seconds > 0
                           THEN seen_at + make_interval(secs => p_ttl_seconds::double precision) END
   WHERE app_id = p_app_id AND pod_id = p_pod_id;
  -- The app's other leases that ended go now (claims remove those of the
  -- versions they route; an idle version's would otherwise stay).
  DELETE FROM workflow.handlers
   WHERE app_id = p_app_id AND pod_id <> p_pod_id AND expires_at <= clock_timestamp();
  IF p_ttl_seconds > 0 THEN
    v_result := v_result || jsonb_build_object('ttlSeconds', p_ttl_seconds);
  END IF;
  RETURN v_result;
END $$;
COMMENT ON FUNCTION workflow.register_handler(text, text, text, text, text, text, text, text[], numeric) IS
  'register_handler (eight arguments) as a lease of p_ttl_seconds (0 < TTL <= 86400; 0: no expiry): the pod must '
  'register again before it ends or routing ignores it; the app''s ended leases are deleted. Returns {registered: true, ttlSeconds} (no ttlSeconds '
  'without a lease). 400 for a TTL out of range.';
SELECT workflow.expose_api('workflow.register_handler(text, text, text, text, text, text, text, text[], numeric)');

COMMIT;
