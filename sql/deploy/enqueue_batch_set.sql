-- Deploy pg-workflow:enqueue_batch_set
-- POST /queue-batches cost ~320 µs a message: enqueue_batch called
-- workflow.enqueue once per message (rate-quota upsert, insert) and the insert
-- trigger updated this backend's byte counter row once per message (each
-- update of one row in one transaction walks its growing version chain).
--   * A batch's insert is counted by enqueue_batch itself, once per app
--     (count_inserted_bytes over the rows it inserted), while the row trigger
--     stands aside (the transaction-local setting workflow.batch_insert, on
--     only around that INSERT; enqueue clears it, so a setting made elsewhere
--     never stops a single enqueue from being counted). Its refusals are the
--     row trigger's, for the same row: the first row (in insertion order) that
--     the row trigger would have refused is named, the app's earlier rows in
--     the batch counted. Every other insert keeps the row trigger.
--   * enqueue_batch queues a batch that nothing in it could merge into a
--     pending wake-up (every entry a step, DevKit 5 steps included, or with an
--     idempotency key) with one INSERT ... SELECT, counts the rate quota once
--     (every entry, repeated keys included, as enqueue does) and notifies once.
--     Answers as enqueue would, in input order; a refusal names the same quota
--     as the entry-by-entry loop (the entries past the rate quota are not
--     inserted, so an earlier entry's byte refusal wins as it did). A batch
--     with a keyless workflow message still goes through enqueue one by one.
-- INTERNAL: count_inserted_bytes(bigint[]),
--           count_enqueue(workflow.apps, timestamptz, integer) (new)
-- API:      enqueue_batch(text, jsonb), enqueue(text, text, jsonb, text, text, numeric) (replaced: clears the setting)
BEGIN;

CREATE FUNCTION workflow.count_inserted_bytes(p_seqs bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  v_total bigint;
  v_refused boolean := false;
  v_apps text[] := '{}';
  v_before bigint[] := '{}';
BEGIN
  FOR r IN
    SELECT s.app_id, s.biggest, s.bytes, a AS app
      FROM (SELECT x.app_id, max(x.payload_bytes) AS biggest,
                   coalesce(sum(x.payload_bytes) FILTER (WHERE x.status IN ('queued', 'held', 'claimed')), 0)::bigint
                     AS bytes
              FROM workflow.messages x WHERE x.message_seq = ANY (p_seqs) GROUP BY x.app_id) s
      JOIN workflow.apps a ON a.app_id = s.app_id
     ORDER BY s.app_id
  LOOP
    IF r.bytes > 0 THEN
      -- This backend's row, whose RETURNING sums the app's rows as they were
      -- before it (so the total adds these messages once).
      UPDATE workflow.app_byte_usage AS u SET queued_bytes = u.queued_bytes + r.bytes
       WHERE u.app_id = r.app_id AND u.backend_pid = pg_backend_pid()
      RETURNING (SELECT sum(t.queued_bytes) FROM workflow.app_byte_usage t WHERE t.app_id = r.app_id) + r.bytes
        INTO v_total;
      IF NOT FOUND THEN  -- this backend's first message of the app
        SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(r.app_id, r.bytes, 0) t;
      END IF;
    ELSE
      v_total := 0;
    END IF;
    IF r.biggest > (r.app).max_message_bytes OR v_total > (r.app).max_queued_bytes THEN
      v_refused := true;
    END IF;
    v_apps := v_apps || r.app_id;
    v_before := v_before || (v_total - r.bytes);
  END LOOP;
  IF NOT v_refused THEN
    RETURN;
  END IF;
  -- The row a row-by-row count would have refused: the first too large, or
  -- the first that takes its app's undelivered bytes past the quota.
  SELECT f.app, f.payload_bytes, f.too_big, f.running INTO r
    FROM (SELECT a AS app, x.message_seq, x.payload_bytes, x.payload_bytes > a.max_message_bytes AS too_big,
                 x.status IN ('queued', 'held', 'claimed') AS counted,
                 b.before + sum(CASE WHEN x.status IN ('queued', 'held', 'claimed') THEN x.payload_bytes ELSE 0 END)
                              OVER (PARTITION BY x.app_id ORDER BY x.message_seq) AS running
            FROM (SELECT * FROM workflow.messages WHERE message_seq = ANY (p_seqs)) x
            JOIN workflow.apps a ON a.app_id = x.app_id
            JOIN unnest(v_apps, v_before) AS b(app_id, before) ON b.app_id = x.app_id) f
   WHERE f.too_big OR (f.counted AND f.running > (f.app).max_queued_bytes)
   ORDER BY f.message_seq LIMIT 1;
  IF r.too_big THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxMessageBytes exceeded: the message has %s bytes, app %s may enqueue at most %s',
             r.payload_bytes, (r.app).app_id, (r.app).max_message_bytes),
      jsonb_build_object('quota', 'maxMessageBytes', 'limit', (r.app).max_message_bytes, 'bytes', r.payload_bytes));
  END IF;
  PERFORM workflow.check_queued_bytes(r.app, r.running);
  RETURN;
END $$;
COMMENT ON FUNCTION workflow.count_inserted_bytes(bigint[]) IS
  'What the insert trigger (count_queued_bytes) does, for the rows p_seqs that enqueue_batch inserted in one statement '
  'while it stood aside: quota maxMessageBytes (413 WF_PAYLOAD_TOO_LARGE), then counts the undelivered messages'' '
  'bytes, one counter change per app, and enforces maxQueuedBytes (429 WF_QUOTA_EXCEEDED, retryAfter 5), naming '
  'the first row the row trigger would have refused.';

-- The row trigger stands aside only while enqueue_batch inserts (and counts) a batch.
DROP TRIGGER messages_queued_bytes_insert ON workflow.messages;
CREATE TRIGGER messages_queued_bytes_insert AFTER INSERT ON workflow.messages
  FOR EACH ROW WHEN (current_setting('workflow.batch_insert', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION workflow.count_queued_bytes();

-- p_count enqueues at once (a batch): counted all, whatever the quota.
CREATE FUNCTION workflow.count_enqueue(p_app workflow.apps, p_now timestamptz, p_count integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_minute timestamptz := date_trunc('minute', p_now);
  v_slot smallint := pg_backend_pid() % 8;
  v_first boolean;
  v_total bigint;
BEGIN
  INSERT INTO workflow.queue_rate AS q (app_id, minute, slot, enqueued)
  VALUES (p_app.app_id, v_minute, v_slot, p_count)
  ON CONFLICT (app_id, minute, slot) DO UPDATE SET enqueued = q.enqueued + EXCLUDED.enqueued
  RETURNING xmax = 0 INTO v_first;
  IF v_first THEN -- this slot's first enqueue of the minute: drop its older counters
    DELETE FROM workflow.queue_rate WHERE app_id = p_app.app_id AND slot = v_slot AND minute < v_minute;
  END IF;
  SELECT sum(enqueued) INTO v_total FROM workflow.queue_rate WHERE app_id = p_app.app_id AND minute = v_minute;
  -- enqueue by enqueue, the first (v_total - p_count) + k > limit would be refused
  RETURN greatest(0, least(p_count, p_app.max_queue_per_minute - (v_total - p_count)))::integer;
END $$;
COMMENT ON FUNCTION workflow.count_enqueue(workflow.apps, timestamptz, integer) IS
  'Counts p_count enqueues (a batch) in the current minute and returns how many of them, in order, were within '
  'quota maxQueuePerMinute (p_count when all); refuses nothing: the caller refuses through count_enqueue(app, now).';

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
  -- The row trigger counts this message's bytes unless workflow.batch_insert
  -- is on, which only enqueue_batch's own insert may have: clear it (an
  -- initialiser, evaluated without a query).
  v_batch_insert text := set_config('workflow.batch_insert', '', true);
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

CREATE OR REPLACE FUNCTION workflow.enqueue_batch(p_app_id text, p_messages jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_max constant integer := 1000;
  v_app workflow.apps;
  v_now timestamptz;
  v_count integer;
  e record;
  v_field text;
  v_delay numeric;
  v_results jsonb := '[]'::jsonb;
  v_bad boolean;  -- some entry is malformed
  v_set boolean;  -- nothing in the batch can merge into a pending wake-up
  v_fit integer;
  v_local boolean;
  v_ulid_time text;
  v_any_expired boolean;
  v_answers jsonb[];
  v_ids text[];   -- the id each entry was given
  v_new jsonb;    -- the ids inserted: {id: true}
  v_due timestamptz;
  v_wake timestamptz;
  v_seqs bigint[] := '{}';  -- the rows inserted, counted at the end
  v_added bigint[];
BEGIN
  v_app := workflow.require_app(p_app_id);
  IF p_messages IS NULL OR jsonb_typeof(p_messages) <> 'array' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'messages must be an array');
  END IF;
  v_count := jsonb_array_length(p_messages);
  IF v_count = 0 OR v_count > v_max THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('messages must hold 1 to %s entries, not %s', v_max, v_count), jsonb_build_object('limit', v_max));
  END IF;
  -- One pass decides whether every entry is well formed (then the loop below,
  -- which names the first bad one, is skipped) and whether any could merge
  -- into a pending wake-up: a keyless workflow message that is not a DevKit 5 step.
  SELECT bool_or((jsonb_typeof(m.v) = 'object'
                  AND jsonb_typeof(m.v -> 'queueName') = 'string'
                  AND (m.v ->> 'queueName') ~ '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.'
                  AND jsonb_typeof(m.v -> 'message') = 'object'
                  AND (coalesce(m.v -> 'deploymentId', 'null') = 'null'
                       OR (jsonb_typeof(m.v -> 'deploymentId') = 'string' AND m.v ->> 'deploymentId' <> ''))
                  AND (coalesce(m.v -> 'idempotencyKey', 'null') = 'null'
                       OR (jsonb_typeof(m.v -> 'idempotencyKey') = 'string' AND m.v ->> 'idempotencyKey' <> ''))
                  AND (coalesce(m.v -> 'delaySeconds', 'null') = 'null'
                       OR CASE WHEN jsonb_typeof(m.v -> 'delaySeconds') = 'number'
                               THEN (m.v ->> 'delaySeconds')::numeric BETWEEN 0 AND 315360000 ELSE false END))
                 IS NOT TRUE),
         bool_and(m.v ->> 'idempotencyKey' IS NOT NULL OR (m.v ->> 'queueName') !~ '^__(?:[a-z][a-z0-9]*_)?wkf_workflow_'
                  OR jsonb_typeof(m.v -> 'message' -> 'stepId') IS NOT DISTINCT FROM 'string')
    INTO v_bad, v_set
    FROM jsonb_array_elements(p_messages) m(v);
  FOR e IN SELECT m.value AS v, m.ordinality - 1 AS i FROM jsonb_array_elements(p_messages) WITH ORDINALITY m
            WHERE v_bad LOOP
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

  IF NOT v_set THEN
    -- In order, each as POST /queue would queue it; results answer in the same order.
    FOR e IN SELECT m.value AS v FROM jsonb_array_elements(p_messages) WITH ORDINALITY m ORDER BY m.ordinality LOOP
      v_results := v_results || jsonb_build_array(workflow.enqueue(
        p_app_id, e.v ->> 'queueName', e.v -> 'message', e.v ->> 'deploymentId', e.v ->> 'idempotencyKey',
        (e.v ->> 'delaySeconds')::numeric));
    END LOOP;
    RETURN jsonb_build_object('results', v_results);
  END IF;

  -- One statement for all, each stored as enqueue would store it. Every entry
  -- counts against the rate quota (a repeated key too); the entries past it
  -- are not stored, then refused below.
  v_now := clock_timestamp();
  v_fit := workflow.count_enqueue(v_app, v_now, v_count);
  -- No deploymentId: the handlers registered without a version if the app has any, else "local".
  v_local := NOT EXISTS (SELECT 1 FROM workflow.handlers WHERE app_id = p_app_id AND deployment_version IS NULL);
  v_ulid_time := left(workflow.ulid(v_now), 10);
  v_any_expired := EXISTS (SELECT 1 FROM workflow.deployment_versions
                            WHERE app_id = p_app_id AND expired_at IS NOT NULL);
  v_answers := array_fill(NULL::jsonb, ARRAY[v_fit]);
  PERFORM set_config('workflow.batch_insert', 'on', true);  -- the row trigger stands aside: counted below
  WHILE array_position(v_answers, NULL) IS NOT NULL LOOP  -- again only for a key purged meanwhile
    WITH src AS MATERIALIZED (
      SELECT m.ordinality::integer AS i, m.value AS v, uuid_send(gen_random_uuid()) AS r,
             substring(m.value ->> 'queueName' FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.') AS queue_kind,
             coalesce(m.value ->> 'deploymentId', CASE WHEN v_local THEN 'local' END) AS deployment
        FROM jsonb_array_elements(p_messages) WITH ORDINALITY m
       WHERE m.ordinality <= v_fit
    ), x AS MATERIALIZED (
      -- the id: a ULID of v_now, its time once, then 80 random bits (base64 of 12
      -- random bytes of the v4 UUID r, 6 bits a character folded onto Crockford's 32);
      -- each entry's version looked up once, and only if the app has expired any
      SELECT s.i, s.v, s.queue_kind, s.deployment,
             'msg_' || v_ulid_time || translate(encode(substring(s.r FROM 1 FOR 6) || substring(s.r FROM 11 FOR 6),
                                                      'base64'),
               'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
               '0123456789ABCDEFGHJKMNPQRSTVWXYZ0123456789ABCDEFGHJKMNPQRSTVWXYZ') AS id,
             v_any_expired AND EXISTS (
               SELECT 1 FROM workflow.deployment_versions dv
                WHERE dv.app_id = p_app_id AND dv.deployment_id = s.deployment AND dv.expired_at IS NOT NULL) AS expired
        FROM src s
    ), ins AS (
      INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id, idempotency_key,
                                          payload, status, due_at, created_at, updated_at, dead_at, last_error)
      SELECT p_app_id, s.id, s.v ->> 'queueName',
             CASE WHEN s.queue_kind = 'workflow' AND jsonb_typeof(s.v -> 'message' -> 'stepId') = 'string'
                  THEN 'step' ELSE s.queue_kind END,
             s.v -> 'message' ->> CASE s.queue_kind WHEN 'workflow' THEN 'runId' ELSE 'workflowRunId' END,
             s.deployment, s.v ->> 'idempotencyKey', s.v -> 'message',
             CASE WHEN s.expired THEN 'dead' ELSE 'queued' END,
             v_now + make_interval(secs => coalesce((s.v ->> 'delaySeconds')::numeric, 0)::double precision),
             v_now, v_now, CASE WHEN s.expired THEN v_now END, CASE WHEN s.expired THEN 'deployment expired' END
        FROM x s
       WHERE v_answers[s.i] IS NULL
       ORDER BY s.i
      ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING m.message_seq, m.message_id, m.status, m.due_at)
    -- (no join of the entries with the inserted rows: planned as a nested loop over both)
    SELECT (SELECT array_agg(s.id ORDER BY s.i) FROM x s), (SELECT jsonb_object_agg(ins.message_id, true) FROM ins),
           (SELECT min(ins.due_at) FILTER (WHERE ins.status = 'queued') FROM ins),
           (SELECT coalesce(array_agg(ins.message_seq), '{}') FROM ins)
      INTO v_ids, v_new, v_due, v_added;
    v_seqs := v_seqs || v_added;
    v_wake := least(v_wake, v_due);
    -- The inserted entries answer created; the others (a key stored before,
    -- or earlier in the batch) the message holding their key, as enqueue does.
    SELECT array_agg(coalesce(v_answers[g.i],
             CASE WHEN v_new ? v_ids[g.i] THEN jsonb_build_object('messageId', v_ids[g.i], 'created', true)
                  ELSE (SELECT jsonb_build_object('messageId', k.message_id, 'created', false)
                          FROM workflow.messages k
                         WHERE k.app_id = p_app_id AND k.idempotency_key = p_messages -> (g.i - 1) ->> 'idempotencyKey')
             END) ORDER BY g.i)
      INTO v_answers
      FROM generate_series(1, v_fit) g(i);
  END LOOP;
  PERFORM set_config('workflow.batch_insert', '', true);
  PERFORM workflow.count_inserted_bytes(v_seqs);
  IF v_fit < v_count THEN
    PERFORM workflow.count_enqueue(v_app, v_now);  -- past maxQueuePerMinute: refuses as enqueue does
  END IF;
  PERFORM workflow.notify_queue(v_wake);
  RETURN jsonb_build_object('results', to_jsonb(v_answers));
END $$;
COMMENT ON FUNCTION workflow.enqueue_batch(text, jsonb) IS
  'queueBatch: 1-1000 messages [{queueName, message, deploymentId?, idempotencyKey?, delaySeconds?}] queued in order '
  'as workflow.enqueue would queue them, in one transaction: {results: [{messageId, created}]} in input order. A '
  'malformed entry is refused (400 naming messages[i]) before anything is queued; any refusal (e.g. a quota) queues '
  'nothing. A batch without keyless workflow messages (steps, or keyed) is stored by one statement, the rate quota '
  'counted once for all entries and one NOTIFY.';
SELECT workflow.expose_api('workflow.enqueue_batch(text, jsonb)');
SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.count_enqueue(workflow.apps, timestamptz, integer)', 'workflow.count_inserted_bytes(bigint[])']) f;

COMMIT;
