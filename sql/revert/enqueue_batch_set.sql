-- Revert pg-workflow:enqueue_batch_set
BEGIN;

-- ulid_encode as change schema made it.
CREATE OR REPLACE FUNCTION workflow.ulid_encode(ms bigint, hi bigint, lo bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  out text := '';
  i int;
BEGIN
  FOR i IN REVERSE 9..0 LOOP
    out := out || substr(alphabet, ((ms >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  FOR i IN REVERSE 7..0 LOOP
    out := out || substr(alphabet, ((hi >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  FOR i IN REVERSE 7..0 LOOP
    out := out || substr(alphabet, ((lo >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  RETURN out;
END $$;

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

-- The row trigger of change claim_snapshot_plans.
DROP TRIGGER messages_queued_bytes_insert ON workflow.messages;
CREATE OR REPLACE FUNCTION workflow.count_queued_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_total bigint;
BEGIN
  SELECT * INTO a FROM workflow.apps WHERE app_id = NEW.app_id;
  IF NEW.payload_bytes > a.max_message_bytes THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxMessageBytes exceeded: the message has %s bytes, app %s may enqueue at most %s',
             NEW.payload_bytes, NEW.app_id, a.max_message_bytes),
      jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', NEW.payload_bytes));
  END IF;
  IF NEW.status IN ('queued', 'held', 'claimed') THEN
    -- This backend's row, whose RETURNING sums the app's rows as they were
    -- before it (so the total adds this message once).
    UPDATE workflow.app_byte_usage AS u SET queued_bytes = u.queued_bytes + NEW.payload_bytes
     WHERE u.app_id = NEW.app_id AND u.backend_pid = pg_backend_pid()
    RETURNING (SELECT sum(t.queued_bytes) FROM workflow.app_byte_usage t WHERE t.app_id = NEW.app_id)
              + NEW.payload_bytes
      INTO v_total;
    IF NOT FOUND THEN  -- this backend's first message of the app
      SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(NEW.app_id, NEW.payload_bytes, 0) t;
    END IF;
    IF v_total > a.max_queued_bytes THEN
      PERFORM workflow.check_queued_bytes(a, v_total);
    END IF;
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_queued_bytes() IS
  'Trigger on inserts into workflow.messages (every enqueue, POST /queue or riding on an event): quota '
  'maxMessageBytes (413 WF_PAYLOAD_TOO_LARGE), then counts an undelivered message''s bytes and enforces '
  'maxQueuedBytes (429 WF_QUOTA_EXCEEDED, retryAfter 5).';
CREATE TRIGGER messages_queued_bytes_insert AFTER INSERT ON workflow.messages
  FOR EACH ROW EXECUTE FUNCTION workflow.count_queued_bytes();

COMMIT;
