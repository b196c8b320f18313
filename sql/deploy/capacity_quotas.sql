-- Deploy pg-workflow:capacity_quotas
-- Noisy neighbours, shared capacity (issue 16): per-app quotas on message
-- size, undelivered message bytes, stored stream bytes and concurrent
-- requests; bounded heavy reads; stream NOTIFYs without tenant names.
--
-- Byte counters. Every enqueue adds to its app's undelivered bytes and every
-- delivery (batched across apps by the dispatchers) takes away, so one hot
-- counter row per app would serialise an app's enqueues and let two
-- dispatchers acking the same two apps in opposite order deadlock. Instead
-- each database backend keeps its own delta row per app (app_byte_usage,
-- keyed by pg_backend_pid()): no backend ever waits for another's counter,
-- and an app's usage is the sum of its rows (as many as backends that touched
-- it). A backend's first row for an app folds in the rows of backends that
-- no longer exist, so the rows stay few. Checks read the sum without a lock:
-- concurrent writes of one app may pass the limit together by at most what
-- they write at that moment (documented in docs/operations.md).
--
-- Triggers, so that one rule covers every path: messages queued by
-- workflow.enqueue (POST /queue) and those riding on events (event_messages)
-- are measured on insert; chunks are counted however they are written or
-- purged.
--
-- API:      write_stream, list_streams, get_workflow_template (replaced)
-- SERVICE:  get_quotas, set_quotas (replaced); request_caps, stream_notify_secret (new)
-- INTERNAL: quotas_json (replaced); add_app_bytes, app_bytes, count_queued_bytes, check_queued_bytes,
--           count_queued_bytes_changed, count_queued_bytes_deleted, count_stream_bytes, stream_wake_key (new)
BEGIN;

ALTER TABLE workflow.apps
  ADD COLUMN max_message_bytes integer NOT NULL DEFAULT 262144 CHECK (max_message_bytes > 0),
  ADD COLUMN max_queued_bytes bigint NOT NULL DEFAULT 1073741824 CHECK (max_queued_bytes > 0),
  ADD COLUMN max_stream_bytes bigint NOT NULL DEFAULT 10737418240 CHECK (max_stream_bytes > 0),
  ADD COLUMN max_concurrent_requests integer NOT NULL DEFAULT 0 CHECK (max_concurrent_requests >= 0);
COMMENT ON COLUMN workflow.apps.max_message_bytes IS
  'Quota maxMessageBytes: the largest queue message (its JSON text, in bytes) the app may enqueue; larger: 413.';
COMMENT ON COLUMN workflow.apps.max_queued_bytes IS
  'Quota maxQueuedBytes: bytes of the app''s undelivered (queued, held, claimed) messages; beyond it enqueues get 429.';
COMMENT ON COLUMN workflow.apps.max_stream_bytes IS
  'Quota maxStreamBytes: bytes of stream chunks the app may store; beyond it stream writes get 429.';
COMMENT ON COLUMN workflow.apps.max_concurrent_requests IS
  'Quota maxConcurrentRequests: the app''s API requests using a database connection at once, per service replica; '
  'more get 429 at once. 0: the replica''s default (WF_APP_MAX_CONCURRENT_REQUESTS).';

CREATE TABLE workflow.app_byte_usage (
  app_id       text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  backend_pid  integer NOT NULL,
  queued_bytes bigint NOT NULL DEFAULT 0,
  stream_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, backend_pid)
);
COMMENT ON TABLE workflow.app_byte_usage IS
  'Per-app byte counters as deltas, one row per app and database backend that changed them (so no backend waits '
  'for another''s counter): an app''s usage is the sum of its rows. Kept by triggers on workflow.messages and '
  'workflow.stream_chunks; rows of ended backends are folded into a live backend''s row.';
COMMENT ON COLUMN workflow.app_byte_usage.app_id IS 'The app.';
COMMENT ON COLUMN workflow.app_byte_usage.backend_pid IS
  'The backend (pg_backend_pid()) that wrote this row; 0 for the totals counted when the change was deployed.';
COMMENT ON COLUMN workflow.app_byte_usage.queued_bytes IS
  'This row''s share of the app''s undelivered message bytes (quota maxQueuedBytes); may be negative.';
COMMENT ON COLUMN workflow.app_byte_usage.stream_bytes IS
  'This row''s share of the app''s stored stream chunk bytes (quota maxStreamBytes); may be negative.';
SELECT workflow.enable_tenant_rls('workflow.app_byte_usage');

CREATE FUNCTION workflow.add_app_bytes(p_app_id text, p_queued bigint, p_stream bigint,
                                       OUT queued_bytes bigint, OUT stream_bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_pid integer := pg_backend_pid();
  v_first boolean;
  v_queued bigint;
  v_stream bigint;
BEGIN
  -- One statement changes this backend's row and sums the app's rows as they
  -- were before it (so the totals add this change once).
  IF p_queued >= 0 AND p_stream >= 0 THEN
    -- (growth comes with a new row of the app, which therefore exists)
    WITH up AS (
      INSERT INTO workflow.app_byte_usage AS u (app_id, backend_pid, queued_bytes, stream_bytes)
      VALUES (p_app_id, v_pid, p_queued, p_stream)
      ON CONFLICT (app_id, backend_pid) DO UPDATE
         SET queued_bytes = u.queued_bytes + p_queued, stream_bytes = u.stream_bytes + p_stream
      RETURNING xmax = 0 AS first)
    SELECT (SELECT up.first FROM up), coalesce(sum(u.queued_bytes), 0) + p_queued,
           coalesce(sum(u.stream_bytes), 0) + p_stream
      INTO v_first, queued_bytes, stream_bytes
      FROM workflow.app_byte_usage u WHERE u.app_id = p_app_id;
  ELSE
    -- Nothing is changed when the app itself is being deleted (its rows
    -- cascade): its counters go with it.
    WITH up AS (
      INSERT INTO workflow.app_byte_usage AS u (app_id, backend_pid, queued_bytes, stream_bytes)
      SELECT a.app_id, v_pid, p_queued, p_stream FROM workflow.apps a WHERE a.app_id = p_app_id
      ON CONFLICT (app_id, backend_pid) DO UPDATE
         SET queued_bytes = u.queued_bytes + p_queued, stream_bytes = u.stream_bytes + p_stream
      RETURNING xmax = 0 AS first)
    SELECT (SELECT up.first FROM up), coalesce(sum(u.queued_bytes), 0) + p_queued,
           coalesce(sum(u.stream_bytes), 0) + p_stream
      INTO v_first, queued_bytes, stream_bytes
      FROM workflow.app_byte_usage u WHERE u.app_id = p_app_id;
  END IF;
  IF v_first THEN
    -- This backend's first row for the app: take over the rows of backends
    -- that have ended (nobody else writes them; a concurrent fold of the
    -- same rows waits, then finds them gone, so nothing is counted twice).
    -- The app's totals do not change.
    WITH gone AS (
      DELETE FROM workflow.app_byte_usage u
       WHERE u.app_id = p_app_id AND u.backend_pid <> v_pid
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = u.backend_pid)
      RETURNING u.queued_bytes, u.stream_bytes)
    SELECT sum(gone.queued_bytes), sum(gone.stream_bytes) INTO v_queued, v_stream FROM gone;
    IF v_queued IS NOT NULL THEN
      UPDATE workflow.app_byte_usage AS u
         SET queued_bytes = u.queued_bytes + v_queued, stream_bytes = u.stream_bytes + v_stream
       WHERE u.app_id = p_app_id AND u.backend_pid = v_pid;
    END IF;
  END IF;
END $$;
COMMENT ON FUNCTION workflow.add_app_bytes(text, bigint, bigint) IS
  'Adds to the app''s undelivered message bytes and stored stream bytes in this backend''s own row of '
  'workflow.app_byte_usage and returns the app''s totals after the change (read without a lock); the backend''s '
  'first row for the app folds in the rows of ended backends.';

-- PL/pgSQL, not SQL: it keeps its plan across calls (a SQL function returning
-- a record is planned again on every call, ~100 µs on each enqueue).
CREATE FUNCTION workflow.app_bytes(p_app_id text, OUT queued_bytes bigint, OUT stream_bytes bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT coalesce(sum(u.queued_bytes), 0)::bigint, coalesce(sum(u.stream_bytes), 0)::bigint
    INTO queued_bytes, stream_bytes
    FROM workflow.app_byte_usage u WHERE u.app_id = p_app_id;
END $$;
COMMENT ON FUNCTION workflow.app_bytes(text) IS
  'An app''s undelivered message bytes and stored stream chunk bytes (sums of its workflow.app_byte_usage rows).';

-- A message's size is its JSON text (as the API sends and receives it).
-- Inserts (one message per enqueue) are counted row by row; updates and
-- deletes per statement, one counter change per app: a dispatcher's batch of
-- 100 acknowledgements must not update one counter row 100 times in one
-- transaction (every update of a row in the same transaction walks its
-- growing chain of versions).
CREATE FUNCTION workflow.count_queued_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_size bigint := octet_length(NEW.payload::text);
  a workflow.apps;
BEGIN
  SELECT * INTO a FROM workflow.apps WHERE app_id = NEW.app_id;
  IF v_size > a.max_message_bytes THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxMessageBytes exceeded: the message has %s bytes, app %s may enqueue at most %s',
             v_size, NEW.app_id, a.max_message_bytes),
      jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', v_size));
  END IF;
  IF NEW.status IN ('queued', 'held', 'claimed') THEN
    PERFORM workflow.check_queued_bytes(a, (SELECT t.queued_bytes FROM workflow.add_app_bytes(NEW.app_id, v_size, 0) t));
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_queued_bytes() IS
  'Trigger on inserts into workflow.messages (every enqueue, POST /queue or riding on an event): quota '
  'maxMessageBytes (413 WF_PAYLOAD_TOO_LARGE), then counts an undelivered message''s bytes and enforces '
  'maxQueuedBytes (429 WF_QUOTA_EXCEEDED, retryAfter 5).';

CREATE FUNCTION workflow.check_queued_bytes(a workflow.apps, p_queued_bytes bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_queued_bytes > a.max_queued_bytes THEN
    PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
      format('quota maxQueuedBytes exceeded: app %s may have %s bytes of undelivered messages',
             a.app_id, a.max_queued_bytes),
      jsonb_build_object('quota', 'maxQueuedBytes', 'limit', a.max_queued_bytes, 'retryAfter', 5));
  END IF;
END $$;
COMMENT ON FUNCTION workflow.check_queued_bytes(workflow.apps, bigint) IS
  'Refuses (429 WF_QUOTA_EXCEEDED, quota maxQueuedBytes, retryAfter 5) when p_queued_bytes, the app''s undelivered '
  'message bytes, exceed its quota.';

CREATE FUNCTION workflow.count_queued_bytes_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  a workflow.apps;
  v_total bigint;
BEGIN
  FOR r IN
    WITH changed AS (
      SELECT n.app_id,
             CASE WHEN n.status IN ('queued', 'held', 'claimed') THEN octet_length(n.payload::text) ELSE 0 END AS new_bytes,
             CASE WHEN o.status IN ('queued', 'held', 'claimed') THEN octet_length(o.payload::text) ELSE 0 END AS old_bytes,
             -- the tenant's doing: a dead letter retried, or a wake-up merged into a
             -- pending one (same status, new payload); not the dispatcher's own
             -- transitions (leases, retries, absorbed wake-ups), which must not fail
             o.status = 'dead' OR o.status = n.status AS tenant,
             o.status = n.status AS merged
        FROM old_rows o JOIN new_rows n ON n.message_seq = o.message_seq
       WHERE (o.status IN ('queued', 'held', 'claimed')) <> (n.status IN ('queued', 'held', 'claimed'))
          OR (n.status IN ('queued', 'held', 'claimed') AND o.payload IS DISTINCT FROM n.payload))
    SELECT c.app_id, sum(c.new_bytes - c.old_bytes)::bigint AS delta,
           bool_or(c.tenant AND c.new_bytes > c.old_bytes) AS grew,
           max(CASE WHEN c.merged THEN c.new_bytes END) AS merged_bytes
      FROM changed c GROUP BY c.app_id ORDER BY c.app_id
  LOOP
    CONTINUE WHEN r.delta = 0 AND NOT r.grew;
    SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(r.app_id, r.delta, 0) t;
    IF r.grew THEN
      SELECT * INTO a FROM workflow.apps WHERE app_id = r.app_id;
      IF r.merged_bytes > a.max_message_bytes THEN
        PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
          format('quota maxMessageBytes exceeded: the merged wake-up message would have %s bytes, app %s may '
                 'enqueue at most %s', r.merged_bytes, r.app_id, a.max_message_bytes),
          jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', r.merged_bytes));
      END IF;
      PERFORM workflow.check_queued_bytes(a, v_total);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_queued_bytes_changed() IS
  'Statement trigger on updates of workflow.messages: one change per app of its undelivered message bytes '
  '(deliveries and dead letters give bytes back); a retried dead letter or a merged wake-up is checked against '
  'maxMessageBytes (413) and maxQueuedBytes (429).';

CREATE FUNCTION workflow.count_queued_bytes_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT o.app_id, sum(octet_length(o.payload::text))::bigint AS bytes
      FROM old_rows o WHERE o.status IN ('queued', 'held', 'claimed')
     GROUP BY o.app_id ORDER BY o.app_id
  LOOP
    PERFORM workflow.add_app_bytes(r.app_id, -r.bytes, 0);
  END LOOP;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_queued_bytes_deleted() IS
  'Statement trigger on deletes from workflow.messages: gives the deleted undelivered messages'' bytes back, one '
  'change per app.';

CREATE TRIGGER messages_queued_bytes_insert AFTER INSERT ON workflow.messages
  FOR EACH ROW EXECUTE FUNCTION workflow.count_queued_bytes();
-- (Transition tables allow no column list: claims fire it too, and find nothing changed.)
CREATE TRIGGER messages_queued_bytes_update AFTER UPDATE ON workflow.messages
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION workflow.count_queued_bytes_changed();
CREATE TRIGGER messages_queued_bytes_delete AFTER DELETE ON workflow.messages
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION workflow.count_queued_bytes_deleted();

CREATE FUNCTION workflow.count_stream_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'INSERT' THEN
    FOR r IN SELECT c.app_id, sum(octet_length(c.data))::bigint AS bytes FROM new_rows c
              GROUP BY c.app_id ORDER BY c.app_id LOOP
      PERFORM workflow.add_app_bytes(r.app_id, 0, r.bytes);
    END LOOP;
  ELSE
    FOR r IN SELECT c.app_id, sum(octet_length(c.data))::bigint AS bytes FROM old_rows c
              GROUP BY c.app_id ORDER BY c.app_id LOOP
      PERFORM workflow.add_app_bytes(r.app_id, 0, -r.bytes);
    END LOOP;
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.count_stream_bytes() IS
  'Statement triggers on workflow.stream_chunks: keep the app''s stored stream bytes (workflow.app_byte_usage, '
  'quota maxStreamBytes), one change per app and statement; purges and retention give the bytes back.';
CREATE TRIGGER stream_chunks_count_inserted AFTER INSERT ON workflow.stream_chunks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow.count_stream_bytes();
CREATE TRIGGER stream_chunks_count_deleted AFTER DELETE ON workflow.stream_chunks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow.count_stream_bytes();

-- The triggers exist (creating them waited for, then blocks, writers of both
-- tables): the backfill counts stable tables.
INSERT INTO workflow.app_byte_usage (app_id, backend_pid, queued_bytes, stream_bytes)
SELECT a.app_id, 0,
       (SELECT coalesce(sum(octet_length(m.payload::text)), 0) FROM workflow.messages m
         WHERE m.app_id = a.app_id AND m.status IN ('queued', 'held', 'claimed')),
       (SELECT coalesce(sum(octet_length(c.data)), 0) FROM workflow.stream_chunks c WHERE c.app_id = a.app_id)
  FROM workflow.apps a;

-- Stream notifications name streams by a keyed hash: any login may LISTEN.
CREATE TABLE workflow.stream_notify_secret (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  secret   bytea NOT NULL CHECK (octet_length(secret) >= 16)
);
COMMENT ON TABLE workflow.stream_notify_secret IS
  'The key of the hashes that stream NOTIFYs carry instead of app ids and stream names (one row, random at deploy). '
  'Readable only by the API and service roles.';
COMMENT ON COLUMN workflow.stream_notify_secret.only_row IS 'Always true: the table has one row.';
COMMENT ON COLUMN workflow.stream_notify_secret.secret IS '32 random bytes.';
ALTER TABLE workflow.stream_notify_secret ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY api_and_service_read ON workflow.stream_notify_secret FOR SELECT TO pgw_api, pgw_service USING (true);
REVOKE ALL ON workflow.stream_notify_secret FROM PUBLIC, pgw_tenant;
GRANT SELECT ON workflow.stream_notify_secret TO pgw_api, pgw_service;
INSERT INTO workflow.stream_notify_secret (secret)
VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

CREATE FUNCTION workflow.stream_wake_key(p_app_id text, p_name text) RETURNS text
LANGUAGE sql STABLE AS $$
  -- An app id has no "/", so app id and name are told apart.
  SELECT encode(substring(sha256(s.secret || convert_to(p_app_id || '/' || p_name, 'UTF8')) FROM 1 FOR 16), 'hex')
    FROM workflow.stream_notify_secret s
$$;
COMMENT ON FUNCTION workflow.stream_wake_key(text, text) IS
  'The opaque key of a stream in workflow_streams NOTIFYs: hex of the first 16 bytes of '
  'sha256(secret || appId "/" name). service/live.py computes the same from the secret.';

CREATE FUNCTION workflow.stream_notify_secret() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT encode(secret, 'hex') FROM workflow.stream_notify_secret $$;
COMMENT ON FUNCTION workflow.stream_notify_secret() IS
  'Service: the stream NOTIFY key (hex), so live readers can compute their streams'' keys.';

CREATE FUNCTION workflow.request_caps() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_object_agg(a.app_id, a.max_concurrent_requests), '{}'::jsonb)
    FROM workflow.apps a WHERE a.max_concurrent_requests > 0
$$;
COMMENT ON FUNCTION workflow.request_caps() IS
  'Service: {appId: maxConcurrentRequests} of the apps whose quota is set (not 0, the replica''s default). Each '
  'replica reloads it every few seconds (one statement for all apps, whatever app ids requests name) to refuse '
  'requests beyond the cap before they take a database connection.';

-- Quotas in the admin API ----------------------------------------------------

CREATE OR REPLACE FUNCTION workflow.quotas_json(a workflow.apps) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('maxRuns', a.max_runs, 'maxEventsPerRun', a.max_events_per_run,
                            'maxQueuePerMinute', a.max_queue_per_minute, 'maxMessageBytes', a.max_message_bytes,
                            'maxQueuedBytes', a.max_queued_bytes, 'maxStreamBytes', a.max_stream_bytes,
                            'maxConcurrentRequests', a.max_concurrent_requests)
$$;
COMMENT ON FUNCTION workflow.quotas_json(workflow.apps) IS
  'An app''s quotas as the API returns them: {maxRuns, maxEventsPerRun, maxQueuePerMinute, maxMessageBytes, '
  'maxQueuedBytes, maxStreamBytes, maxConcurrentRequests}.';

CREATE OR REPLACE FUNCTION workflow.get_quotas(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN workflow.quotas_json(workflow.admin_app(p_app_id));
END $$;
COMMENT ON FUNCTION workflow.get_quotas(text) IS
  'Admin: an app''s quotas {maxRuns, maxEventsPerRun, maxQueuePerMinute, maxMessageBytes, maxQueuedBytes, '
  'maxStreamBytes, maxConcurrentRequests}; 404 unknown app.';

CREATE OR REPLACE FUNCTION workflow.set_quotas(p_app_id text, p_quotas jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_key text;
  v_value jsonb;
  v_min numeric;
  v_max numeric;
BEGIN
  IF p_quotas IS NULL OR jsonb_typeof(p_quotas) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'quotas must be a JSON object', '{"field": "quotas"}');
  END IF;
  FOR v_key, v_value IN SELECT key, value FROM jsonb_each(p_quotas) ORDER BY key LOOP
    -- Counts fit integer; byte totals go up to 2^53 - 1 (exact in every JSON client);
    -- maxConcurrentRequests 0 means the replica's default.
    SELECT q.lo, q.hi INTO v_min, v_max
      FROM (VALUES ('maxRuns', 1, 2147483647), ('maxEventsPerRun', 1, 2147483647),
                   ('maxQueuePerMinute', 1, 2147483647), ('maxMessageBytes', 1, 2147483647),
                   ('maxQueuedBytes', 1, 9007199254740991), ('maxStreamBytes', 1, 9007199254740991),
                   ('maxConcurrentRequests', 0, 100000)) q(name, lo, hi)
     WHERE q.name = v_key;
    IF NOT FOUND THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('unknown quota %L: expected maxRuns, maxEventsPerRun, maxQueuePerMinute, maxMessageBytes, '
               'maxQueuedBytes, maxStreamBytes or maxConcurrentRequests', v_key),
        jsonb_build_object('field', v_key));
    END IF;
    IF jsonb_typeof(v_value) <> 'number' OR v_value::text ~ '[.eE]'
       OR (v_value::text)::numeric NOT BETWEEN v_min AND v_max THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('%s must be an integer between %s and %s, not %s', v_key, v_min, v_max, v_value),
        jsonb_build_object('field', v_key));
    END IF;
  END LOOP;
  a := workflow.admin_app(p_app_id, true);
  UPDATE workflow.apps SET
    max_runs = coalesce((p_quotas ->> 'maxRuns')::integer, max_runs),
    max_events_per_run = coalesce((p_quotas ->> 'maxEventsPerRun')::integer, max_events_per_run),
    max_queue_per_minute = coalesce((p_quotas ->> 'maxQueuePerMinute')::integer, max_queue_per_minute),
    max_message_bytes = coalesce((p_quotas ->> 'maxMessageBytes')::integer, max_message_bytes),
    max_queued_bytes = coalesce((p_quotas ->> 'maxQueuedBytes')::bigint, max_queued_bytes),
    max_stream_bytes = coalesce((p_quotas ->> 'maxStreamBytes')::bigint, max_stream_bytes),
    max_concurrent_requests = coalesce((p_quotas ->> 'maxConcurrentRequests')::integer, max_concurrent_requests)
   WHERE app_id = p_app_id
  RETURNING * INTO a;
  RETURN workflow.quotas_json(a);
END $$;
COMMENT ON FUNCTION workflow.set_quotas(text, jsonb) IS
  'Admin: updates the quotas named in p_quotas (the others keep their values) and returns all of them; 400 naming '
  'the field for an unknown key or a value out of range (counts 1..2147483647, maxQueuedBytes and maxStreamBytes '
  '1..2^53-1, maxConcurrentRequests 0..100000 with 0 = the replica default; nothing changes), 404 unknown app.';

-- Streams ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION workflow.write_stream(
  p_app_id text, p_run_id text, p_name text, p_chunks bytea[], p_close boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_health boolean := workflow.is_health_check_stream(p_name);
  v_count integer := coalesce(cardinality(p_chunks), 0);
  v_bytes bigint;
  v_was_open boolean;
  s workflow.streams;
BEGIN
  PERFORM workflow.check_stream_name(p_name);
  IF p_run_id IS NULL OR p_run_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID', 'writing to a stream needs a runId');
  END IF;
  IF array_position(p_chunks, NULL) IS NOT NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_STREAM_CHUNK', 'a stream chunk must not be null');
  END IF;
  v_bytes := coalesce((SELECT sum(octet_length(c)) FROM unnest(p_chunks) c), 0);
  IF v_bytes > v_app.max_stream_bytes THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxStreamBytes exceeded: the write has %s bytes, app %s may store at most %s',
             v_bytes, p_app_id, v_app.max_stream_bytes),
      jsonb_build_object('quota', 'maxStreamBytes', 'limit', v_app.max_stream_bytes, 'bytes', v_bytes));
  END IF;
  IF NOT v_health AND NOT EXISTS (SELECT 1 FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id) THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
      jsonb_build_object('runId', p_run_id));
  END IF;
  IF v_health THEN
    -- Health-check streams are read within seconds; keep them an hour, not forever.
    DELETE FROM workflow.streams
     WHERE app_id = p_app_id AND run_id IS NULL AND created_at < now() - interval '1 hour' AND name <> p_name;
  END IF;

  -- Concurrent writers queue on this row; the index range each gets is
  -- allocated here. A closed stream is left alone (no row returned).
  INSERT INTO workflow.streams AS t (app_id, name, run_id, next_index, created_at, updated_at, closed_at)
  VALUES (p_app_id, p_name, CASE WHEN NOT v_health THEN p_run_id END, v_count, now(), now(),
          CASE WHEN p_close THEN now() END)
  ON CONFLICT (app_id, name) DO UPDATE
     SET next_index = t.next_index + v_count, updated_at = now(),
         closed_at = CASE WHEN p_close THEN now() END
   WHERE t.closed_at IS NULL
  RETURNING * INTO s;
  v_was_open := FOUND;
  IF NOT v_was_open THEN
    SELECT * INTO s FROM workflow.streams WHERE app_id = p_app_id AND name = p_name;
    v_count := 0;
  END IF;
  IF NOT v_health AND s.run_id <> p_run_id THEN
    PERFORM workflow.refuse('PW409', 'WF_STREAM_RUN_MISMATCH',
      format('stream %s belongs to run %s, not %s', p_name, s.run_id, p_run_id),
      jsonb_build_object('runId', s.run_id));
  END IF;

  IF v_count > 0 THEN
    INSERT INTO workflow.stream_chunks (app_id, name, chunk_index, data)
    SELECT p_app_id, p_name, s.next_index - v_count + (c.ord - 1)::integer, c.data
      FROM unnest(p_chunks) WITH ORDINALITY AS c(data, ord);
    -- The chunks' trigger counted them; the check reads the sum without a lock.
    IF v_bytes > 0 AND (workflow.app_bytes(p_app_id)).stream_bytes > v_app.max_stream_bytes THEN
      PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
        format('quota maxStreamBytes exceeded: app %s may store %s bytes of stream chunks',
               p_app_id, v_app.max_stream_bytes),
        jsonb_build_object('quota', 'maxStreamBytes', 'limit', v_app.max_stream_bytes, 'retryAfter', 60));
    END IF;
  END IF;
  IF v_count > 0 OR (p_close AND v_was_open) THEN
    -- Only an opaque key: any database login may LISTEN to this channel.
    PERFORM pg_notify('workflow_streams', workflow.stream_wake_key(p_app_id, p_name));
  END IF;
  RETURN jsonb_build_object('written', v_count, 'tailIndex', s.next_index - 1, 'done', s.closed_at IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.write_stream(text, text, text, bytea[], boolean) IS
  'Appends chunks (dense indexes, in order) and/or closes a stream, then NOTIFYs workflow_streams once with the '
  'stream''s opaque key (workflow.stream_wake_key). The run must exist (404) and own the stream (409), except for '
  '__health_check__* streams. Quota maxStreamBytes: a write larger than it 413, beyond it 429 (retryAfter 60). '
  'Writes to a closed stream change nothing. Returns {written, tailIndex, done}.';

-- A run's stream names, at most this many (a run that wrote more streams than
-- this is not a DevKit run; the list keeps its shape, a JSON array).
CREATE OR REPLACE FUNCTION workflow.list_streams(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN (SELECT coalesce(jsonb_agg(s.name ORDER BY s.stream_seq), '[]'::jsonb)
            FROM (SELECT s.name, s.stream_seq FROM workflow.streams s
                   WHERE s.app_id = p_app_id AND s.run_id = p_run_id
                   ORDER BY s.stream_seq LIMIT 1000) s);
END $$;
COMMENT ON FUNCTION workflow.list_streams(text, text) IS
  'Names of the streams a run wrote, oldest first (a JSON array), at most the first 1000.';

CREATE OR REPLACE FUNCTION workflow.get_workflow_template(
  p_app_id text, p_workflow_name text, p_deployment_id text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_run workflow.runs;
  v_steps jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO v_run FROM workflow.runs
   WHERE app_id = p_app_id AND workflow_name = p_workflow_name AND status = 'completed'
     AND (p_deployment_id IS NULL OR deployment_id = p_deployment_id)
   ORDER BY run_seq DESC LIMIT 1;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_TEMPLATE_NOT_FOUND',
      format('no completed run of workflow %s%s', p_workflow_name,
             coalesce(' in deployment ' || p_deployment_id, '')),
      workflow.jsonb_drop_nulls(jsonb_build_object('workflowName', p_workflow_name, 'deploymentId', p_deployment_id)));
  END IF;
  -- A step lives from its creation to its completion. The runtime creates
  -- the steps it awaits together in one replay, before any of them ends,
  -- and a later step only after an earlier one ended: steps whose lifetimes
  -- overlap ran in parallel. A step that overlaps the steps before it joins
  -- their group and shares their order; only a step that starts after every
  -- earlier one ended opens the next group (template_order). A template
  -- describes at most the run's first 1000 steps (in step_seq order), so a
  -- huge run costs a bounded read.
  WITH lifetimes AS (
    SELECT s.step_name, s.step_seq, s.created_at AS born, coalesce(s.completed_at, s.updated_at) AS ended
      FROM workflow.steps s WHERE s.app_id = p_app_id AND s.run_id = v_run.run_id
     ORDER BY s.step_seq LIMIT 1000
  ), starts AS (
    SELECT l.*, (l.born >= max(l.ended) OVER (ORDER BY l.born, l.step_seq
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
                IS NOT FALSE AS starts_group
      FROM lifetimes l
  ), grouped AS (
    SELECT s.*, sum(s.starts_group::integer) OVER (ORDER BY s.born, s.step_seq) AS grp,
           row_number() OVER (ORDER BY s.born, s.step_seq) AS position
      FROM starts s
  ), sized AS (
    SELECT g.*, count(*) OVER (PARTITION BY g.grp) AS group_size FROM grouped g
  ), numbered AS (
    SELECT z.*, CASE WHEN z.group_size > 1 THEN dense_rank() OVER (PARTITION BY z.group_size > 1 ORDER BY z.grp) END
                AS parallel_group
      FROM sized z
  )
  SELECT coalesce(jsonb_agg(workflow.jsonb_drop_nulls(jsonb_build_object(
           'stepName', n.step_name, 'order', n.grp, 'parallelGroup', n.parallel_group)) ORDER BY n.position),
         '[]'::jsonb)
    INTO v_steps FROM numbered n;
  RETURN jsonb_build_object(
    'steps', v_steps,
    'hasHooks', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'hook_created'),
    'hasWaits', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'wait_created'),
    'sourceRunId', v_run.run_id);
END $$;
COMMENT ON FUNCTION workflow.get_workflow_template(text, text, text) IS
  'The shape of a workflow from its newest completed run (optionally of one deployment): '
  '{steps: [{stepName, order, parallelGroup?}], hasHooks, hasWaits, sourceRunId}, steps in creation order. Steps '
  'whose lifetimes (creation to completion) overlap share a parallelGroup and an order; a step that starts after '
  'the earlier ones ended takes the next order. At most the run''s first 1000 steps. 404 (WF_TEMPLATE_NOT_FOUND) '
  'when there is none.';

SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.add_app_bytes(text, bigint, bigint)',
  'workflow.app_bytes(text)',
  'workflow.count_queued_bytes()',
  'workflow.check_queued_bytes(workflow.apps, bigint)',
  'workflow.count_queued_bytes_changed()',
  'workflow.count_queued_bytes_deleted()',
  'workflow.count_stream_bytes()',
  'workflow.stream_wake_key(text, text)',
  'workflow.quotas_json(workflow.apps)']) f;
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.stream_notify_secret()',
  'workflow.request_caps()',
  'workflow.get_quotas(text)',
  'workflow.set_quotas(text, jsonb)']) f;
SELECT workflow.expose_api(f::regprocedure) FROM unnest(ARRAY[
  'workflow.write_stream(text, text, text, bytea[], boolean)',
  'workflow.list_streams(text, text)',
  'workflow.get_workflow_template(text, text, text)']) f;

COMMIT;
