-- Revert pg-workflow:enqueue_batch_set
BEGIN;

-- enqueue_batch as change devkit5_queue left it: each entry through enqueue.
CREATE OR REPLACE FUNCTION workflow.enqueue_batch(p_app_id text, p_messages jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_max constant integer := 1000;
  v_count integer;
  e record;
  v_field text;
  v_delay numeric;
  v_results jsonb := '[]'::jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_messages IS NULL OR jsonb_typeof(p_messages) <> 'array' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'messages must be an array');
  END IF;
  v_count := jsonb_array_length(p_messages);
  IF v_count = 0 OR v_count > v_max THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('messages must hold 1 to %s entries, not %s', v_max, v_count), jsonb_build_object('limit', v_max));
  END IF;
  FOR e IN SELECT m.value AS v, m.ordinality - 1 AS i FROM jsonb_array_elements(p_messages) WITH ORDINALITY m LOOP
    v_field := format('messages[%s]', e.i);
    IF jsonb_typeof(e.v) <> 'object' THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', format('%s must be an object', v_field),
                              jsonb_build_object('index', e.i));
    ELSIF jsonb_typeof(e.v -> 'queueName') IS DISTINCT FROM 'string'
          OR (e.v ->> 'queueName') !~ '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_QUEUE_NAME',
        format('%s.queueName must be __wkf_workflow_<name> or __wkf_step_<name> (optionally __<namespace>_wkf_...)',
               v_field), jsonb_build_object('index', e.i));
    ELSIF jsonb_typeof(e.v -> 'message') IS DISTINCT FROM 'object' THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_MESSAGE', format('%s.message must be a JSON object', v_field),
                              jsonb_build_object('index', e.i));
    END IF;
    FOREACH v_field IN ARRAY ARRAY['deploymentId', 'idempotencyKey'] LOOP
      IF e.v ? v_field AND e.v -> v_field <> 'null'::jsonb
         AND (jsonb_typeof(e.v -> v_field) <> 'string' OR e.v ->> v_field = '') THEN
        PERFORM workflow.refuse('PW400',
          CASE v_field WHEN 'deploymentId' THEN 'WF_INVALID_DEPLOYMENT_ID' ELSE 'WF_INVALID_IDEMPOTENCY_KEY' END,
          format('messages[%s].%s must be a non-empty string', e.i, v_field), jsonb_build_object('index', e.i));
      END IF;
    END LOOP;
    IF e.v ? 'delaySeconds' AND e.v -> 'delaySeconds' <> 'null'::jsonb THEN
      v_delay := CASE WHEN jsonb_typeof(e.v -> 'delaySeconds') = 'number' THEN (e.v ->> 'delaySeconds')::numeric END;
      IF v_delay IS NULL OR v_delay < 0 OR v_delay > 315360000 THEN
        PERFORM workflow.refuse('PW400', 'WF_INVALID_DELAY',
          format('messages[%s].delaySeconds must be a number between 0 and 315360000', e.i),
          jsonb_build_object('index', e.i));
      END IF;
    END IF;
  END LOOP;
  -- In order, each as POST /queue would queue it; results answer in the same order.
  FOR e IN SELECT m.value AS v FROM jsonb_array_elements(p_messages) WITH ORDINALITY m ORDER BY m.ordinality LOOP
    v_results := v_results || jsonb_build_array(workflow.enqueue(
      p_app_id, e.v ->> 'queueName', e.v -> 'message', e.v ->> 'deploymentId', e.v ->> 'idempotencyKey',
      (e.v ->> 'delaySeconds')::numeric));
  END LOOP;
  RETURN jsonb_build_object('results', v_results);
END $$;
COMMENT ON FUNCTION workflow.enqueue_batch(text, jsonb) IS
  'queueBatch: 1-1000 messages [{queueName, message, deploymentId?, idempotencyKey?, delaySeconds?}] queued in order '
  'by workflow.enqueue in one transaction: {results: [{messageId, created}]} in input order. A malformed entry is '
  'refused (400 naming messages[i]) before anything is queued; any refusal (e.g. a quota) queues nothing.';
SELECT workflow.expose_api('workflow.enqueue_batch(text, jsonb)');

DROP FUNCTION workflow.count_enqueue(workflow.apps, timestamptz, integer);

-- enqueue as change devkit5_queue left it.
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
  -- DevKit 5 sends a run's steps on its workflow queue, marked by stepId. Stored as step-kind messages of the
  -- run, they escape the per-run serialisation and the wake-up coalescing meant for the run's orchestration
  -- messages, and go to the handler's step URL (the flow URL for a handler registered without one).
  IF v_kind = 'workflow' AND jsonb_typeof(p_message -> 'stepId') = 'string' THEN
    v_kind := 'step';
  END IF;
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
SELECT workflow.expose_api('workflow.enqueue(text, text, jsonb, text, text, numeric)');

-- The row trigger of change claim_snapshot_plans, for every insert.
DROP FUNCTION workflow.count_inserted_bytes(bigint[]);
DROP TRIGGER messages_queued_bytes_insert ON workflow.messages;
CREATE TRIGGER messages_queued_bytes_insert AFTER INSERT ON workflow.messages
  FOR EACH ROW EXECUTE FUNCTION workflow.count_queued_bytes();

COMMIT;
