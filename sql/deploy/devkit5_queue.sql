-- Deploy pg-workflow:devkit5_queue
-- DevKit 5 steps travel on the workflow queue: a step message arrives on
-- __wkf_workflow_<name> carrying runId, stepId, stepName and runContext. Stored
-- as kind 'workflow' it would be serialised with the run's orchestration
-- messages (messages_run_in_flight: one claimed workflow message per run, so a
-- fan-out's steps ran one at a time) and, without an idempotency key, merged
-- into the run's pending wake-up (messages_run_wakeup), losing all but one of
-- several keyless step messages. enqueue now stores such a message as kind
-- 'step' of the run (run_id = payload.runId): claimed in parallel, never
-- coalesced, delivered to the registration's step URL, which for a DevKit 5
-- handler is its flow URL (change handler_step_optional). DevKit 4 messages
-- (no stepId on a workflow queue) are stored exactly as before.
-- queueBatch: workflow.enqueue_batch queues up to 1000 messages in one call and
-- one transaction, each through workflow.enqueue (idempotency, coalescing, the
-- rate quota, the byte-quota triggers); all or nothing.
--
-- API: workflow.enqueue(text, text, jsonb, text, text, numeric)  (replaced: step messages on a workflow queue)
--      workflow.enqueue_batch(text, jsonb)                         (new)
BEGIN;

-- kind follows the queue name, except a DevKit 5 step (stepId) on a workflow queue, which is a step.
ALTER TABLE workflow.messages DROP CONSTRAINT messages_kind_of_queue;
ALTER TABLE workflow.messages ADD CONSTRAINT messages_kind_of_queue CHECK (
  kind = substring(queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_')
  OR (kind = 'step' AND substring(queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_') = 'workflow'
      AND jsonb_typeof(payload -> 'stepId') IS NOT DISTINCT FROM 'string'));

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
COMMENT ON FUNCTION workflow.enqueue(text, text, jsonb, text, text, numeric) IS
  'Queues a message for delivery to its deployment''s handlers and notifies the dispatchers: {messageId, created}. '
  'A repeated idempotency key answers the existing message (created false); a workflow wake-up without a key for a '
  'run that has one pending merges into it (created false). A workflow-queue message with a string stepId (a '
  'DevKit 5 step) is stored as kind step of payload.runId: delivered in parallel with the run''s other steps, '
  'never merged, sent to the step URL. Enforces maxQueuePerMinute; a message for an expired version is dead at once.';

SELECT workflow.expose_api('workflow.enqueue(text, text, jsonb, text, text, numeric)');

COMMENT ON COLUMN workflow.messages.kind IS
  'workflow (delivered to the flow endpoint, one at a time per run) or step (step endpoint, in parallel): from the '
  'queue name, except that a workflow-queue message with a stepId (a DevKit 5 step) is a step.';
COMMENT ON COLUMN workflow.messages.run_id IS
  'The run the message belongs to: payload.runId (workflow queues, DevKit 5 steps included) or payload.workflowRunId '
  '(step queues).';

-- queueBatch (DevKit 5): several messages, one transaction. The shape of every
-- entry is checked before any is queued, so a bad entry (named by its index)
-- stores nothing; a quota refusal of any entry rolls the whole batch back.
CREATE FUNCTION workflow.enqueue_batch(p_app_id text, p_messages jsonb)
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

COMMIT;
