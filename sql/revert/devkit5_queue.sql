-- Revert pg-workflow:devkit5_queue
BEGIN;

DROP FUNCTION workflow.enqueue_batch(text, jsonb);

-- enqueue as change queue left it (no DevKit 5 step detection).
CREATE OR REPLACE FUNCTION workflow.enqueue(
  p_app_id text, p_queue_name text, p_message jsonb, p_deployment_id text DEFAULT NULL,
  p_idempotency_key text DEFAULT NULL, p_delay_seconds numeric DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_now timestamptz := clock_timestamp();
  v_kind text := substring(p_queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.');
  v_run_id text;
  v_deployment text := p_deployment_id;
  v_expired boolean;
  v_id text;
  v_created boolean;
  v_status text;
  v_due timestamptz;
BEGIN
  IF v_kind IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_QUEUE_NAME',
      format('invalid queueName %L: expected __wkf_workflow_<name> or __wkf_step_<name> (optionally __<namespace>_wkf_...)',
             p_queue_name));
  END IF;
  IF p_message IS NULL OR jsonb_typeof(p_message) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_MESSAGE', 'message must be a JSON object');
  END IF;
  IF p_delay_seconds IS NOT NULL AND (p_delay_seconds = 'NaN' OR p_delay_seconds < 0 OR p_delay_seconds > 315360000) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_DELAY', format('delaySeconds must be between 0 and 315360000, not %s', p_delay_seconds));
  END IF;
  IF p_deployment_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_DEPLOYMENT_ID', 'deploymentId must not be empty');
  END IF;
  IF p_idempotency_key = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must not be empty');
  END IF;
  PERFORM workflow.count_enqueue(v_app, v_now);

  v_run_id := p_message ->> CASE v_kind WHEN 'workflow' THEN 'runId' ELSE 'workflowRunId' END;
  -- No deploymentId: the handlers registered without a version if the app has any, else "local".
  IF v_deployment IS NULL AND NOT EXISTS (
       SELECT 1 FROM workflow.handlers WHERE app_id = p_app_id AND deployment_version IS NULL) THEN
    v_deployment := 'local';
  END IF;
  v_expired := EXISTS (SELECT 1 FROM workflow.deployment_versions
                        WHERE app_id = p_app_id AND deployment_id = v_deployment AND expired_at IS NOT NULL);
  v_due := v_now + make_interval(secs => coalesce(p_delay_seconds, 0)::double precision);

  IF p_idempotency_key IS NOT NULL THEN
    -- A key names one message per app: a repeat answers the existing one.
    LOOP
      INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id, idempotency_key,
                                          payload, status, due_at, created_at, updated_at, dead_at, last_error)
      VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment, p_idempotency_key,
              p_message, CASE WHEN v_expired THEN 'dead' ELSE 'queued' END, v_due, v_now, v_now,
              CASE WHEN v_expired THEN v_now END, CASE WHEN v_expired THEN 'deployment expired' END)
      ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING m.message_id, m.status, m.due_at INTO v_id, v_status, v_due;
      IF FOUND THEN
        v_created := true;
        EXIT;
      END IF;
      SELECT message_id INTO v_id FROM workflow.messages WHERE app_id = p_app_id AND idempotency_key = p_idempotency_key;
      IF FOUND THEN
        RETURN jsonb_build_object('messageId', v_id, 'created', false);
      END IF; -- purged meanwhile: insert after all
    END LOOP;
  ELSIF v_kind = 'workflow' AND v_run_id IS NOT NULL AND NOT v_expired THEN
    -- A wake-up for a run that already has one pending merges into it.
    PERFORM workflow.lock_run(p_app_id, v_run_id);
    INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id,
                                        payload, status, due_at, created_at, updated_at)
    VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment,
            p_message, 'queued', v_due, v_now, v_now)
    ON CONFLICT (app_id, run_id) WHERE kind = 'workflow' AND idempotency_key IS NULL AND status IN ('queued', 'held')
    DO UPDATE SET payload = m.payload || EXCLUDED.payload, due_at = least(m.due_at, EXCLUDED.due_at), updated_at = v_now
    RETURNING m.message_id, xmax = 0, m.status, m.due_at INTO v_id, v_created, v_status, v_due;
  ELSE
    INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id,
                                        payload, status, due_at, created_at, updated_at, dead_at, last_error)
    VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment,
            p_message, CASE WHEN v_expired THEN 'dead' ELSE 'queued' END, v_due, v_now, v_now,
            CASE WHEN v_expired THEN v_now END, CASE WHEN v_expired THEN 'deployment expired' END)
    RETURNING m.message_id, true, m.status, m.due_at INTO v_id, v_created, v_status, v_due;
  END IF;

  IF v_status = 'queued' THEN
    PERFORM workflow.notify_queue(v_due);
  END IF;
  RETURN jsonb_build_object('messageId', v_id, 'created', v_created);
END $$;
COMMENT ON FUNCTION workflow.enqueue(text, text, jsonb, text, text, numeric) IS
  'Queues a message for delivery to its deployment''s handlers and notifies the dispatchers: {messageId, created}. '
  'A repeated idempotency key answers the existing message (created false); a workflow wake-up without a key for a '
  'run that has one pending merges into it (created false). Enforces maxQueuePerMinute; a message for an expired '
  'version is dead at once.';

SELECT workflow.expose_api('workflow.enqueue(text, text, jsonb, text, text, numeric)');

COMMENT ON COLUMN workflow.messages.kind IS 'workflow (delivered to the flow endpoint) or step (step endpoint), from the queue name.';
COMMENT ON COLUMN workflow.messages.run_id IS 'The run the message belongs to: payload.runId (workflow) or payload.workflowRunId (step).';

ALTER TABLE workflow.messages DROP CONSTRAINT messages_kind_of_queue;
ALTER TABLE workflow.messages ADD CONSTRAINT messages_kind_of_queue
  CHECK (kind = substring(queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_'));

COMMIT;
