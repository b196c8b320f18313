-- Deploy pg-workflow:streams
-- Streams (SPEC section 7): durable, ordered output of runs that readers tail
-- live. A stream is one metadata row (owner run, next chunk index, closed
-- time) plus its chunks. Writers append under the metadata row's lock, so the
-- indexes they get are dense and follow commit order; every write that
-- changes something sends one NOTIFY on channel workflow_streams.
BEGIN;

-- The runtime's health checks write to these streams with a made-up run id.
CREATE FUNCTION workflow.is_health_check_stream(p_name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT starts_with(p_name, '__health_check__') $$;
COMMENT ON FUNCTION workflow.is_health_check_stream(text) IS
  'True for the DevKit''s __health_check__* streams, which belong to no run.';

CREATE TABLE workflow.streams (
  app_id     text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
  run_id     text,
  stream_seq bigint GENERATED ALWAYS AS IDENTITY,
  next_index integer NOT NULL CHECK (next_index >= 0),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  closed_at  timestamptz,
  PRIMARY KEY (app_id, name),
  UNIQUE (stream_seq),
  FOREIGN KEY (app_id, run_id) REFERENCES workflow.runs ON DELETE CASCADE,
  CONSTRAINT streams_run_unless_health_check CHECK ((run_id IS NULL) = workflow.is_health_check_stream(name))
);
CREATE INDEX streams_by_run ON workflow.streams (app_id, run_id, stream_seq);
CREATE INDEX streams_health_checks ON workflow.streams (app_id, created_at) WHERE run_id IS NULL;
COMMENT ON TABLE workflow.streams IS
  'Streams written by runs (getWritable) and read by name (getReadable), one row per (app, name). '
  'State: open (closed_at NULL) → closed; writes after the close change nothing.';
COMMENT ON COLUMN workflow.streams.name IS 'Stream name as the runtime chose it; unique within the app.';
COMMENT ON COLUMN workflow.streams.run_id IS 'The run that owns the stream (set by its first write); NULL for __health_check__* streams.';
COMMENT ON COLUMN workflow.streams.next_index IS 'Chunks written so far = the index the next chunk gets.';
COMMENT ON COLUMN workflow.streams.closed_at IS 'When the stream was closed; readers stop once they have read every chunk.';

CREATE TABLE workflow.stream_chunks (
  app_id      text NOT NULL,
  name        text NOT NULL,
  chunk_index integer NOT NULL CHECK (chunk_index >= 0),
  data        bytea NOT NULL,
  PRIMARY KEY (app_id, name, chunk_index),
  FOREIGN KEY (app_id, name) REFERENCES workflow.streams ON DELETE CASCADE
);
COMMENT ON TABLE workflow.stream_chunks IS 'Chunks of streams, indexed densely from 0 in append order.';
COMMENT ON COLUMN workflow.stream_chunks.data IS 'The chunk''s bytes exactly as written (a string chunk is stored as UTF-8).';

DO $$ BEGIN
  PERFORM workflow.enable_tenant_rls(t)
     FROM unnest(ARRAY['workflow.streams', 'workflow.stream_chunks']::regclass[]) t;
END $$;

CREATE FUNCTION workflow.check_stream_name(p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_name IS NULL OR length(p_name) NOT BETWEEN 1 AND 1024 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_STREAM_NAME', 'a stream name must have 1 to 1024 characters');
  END IF;
END $$;
COMMENT ON FUNCTION workflow.check_stream_name(text) IS 'Refuses (400) a missing, empty or over-long stream name.';

-- The API's JSON form of binary data.
CREATE FUNCTION workflow.binary_json(data bytea) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('__type', 'Uint8Array', 'data', translate(encode(data, 'base64'), E'\n', ''))
$$;
COMMENT ON FUNCTION workflow.binary_json(bytea) IS 'Bytes as the API sends them: {"__type":"Uint8Array","data":base64}.';

CREATE FUNCTION workflow.write_stream(
  p_app_id text, p_run_id text, p_name text, p_chunks bytea[], p_close boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_health boolean := workflow.is_health_check_stream(p_name);
  v_count integer := coalesce(cardinality(p_chunks), 0);
  v_was_open boolean;
  s workflow.streams;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  PERFORM workflow.check_stream_name(p_name);
  IF p_run_id IS NULL OR p_run_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID', 'writing to a stream needs a runId');
  END IF;
  IF array_position(p_chunks, NULL) IS NOT NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_STREAM_CHUNK', 'a stream chunk must not be null');
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
  END IF;
  IF v_count > 0 OR (p_close AND v_was_open) THEN
    PERFORM pg_notify('workflow_streams', json_build_object(
      'appId', p_app_id, 'name', p_name, 'nextIndex', s.next_index, 'done', s.closed_at IS NOT NULL)::text);
  END IF;
  RETURN jsonb_build_object('written', v_count, 'tailIndex', s.next_index - 1, 'done', s.closed_at IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.write_stream(text, text, text, bytea[], boolean) IS
  'Appends chunks (dense indexes, in order) and/or closes a stream, then NOTIFYs workflow_streams once. '
  'The run must exist (404) and own the stream (409), except for __health_check__* streams. '
  'Writes to a closed stream change nothing. Returns {written, tailIndex, done}.';

CREATE FUNCTION workflow.read_stream(
  p_app_id text, p_name text, p_start_index integer,
  p_max_chunks integer DEFAULT 1000, p_max_bytes integer DEFAULT 4194304,
  OUT chunks bytea, OUT start_index integer, OUT next_index integer, OUT more boolean, OUT done boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s workflow.streams;
  v_count integer;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  PERFORM workflow.check_stream_name(p_name);
  -- A stable function reads one snapshot: the row and the chunks agree.
  SELECT * INTO s FROM workflow.streams WHERE app_id = p_app_id AND name = p_name;
  v_count := coalesce(s.next_index, 0);
  start_index := CASE WHEN coalesce(p_start_index, 0) >= 0 THEN coalesce(p_start_index, 0)
                      ELSE greatest(0, v_count + p_start_index) END;
  -- Whole chunks up to p_max_bytes (always at least one).
  SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk_index), max(c.chunk_index) + 1
    INTO chunks, next_index
    FROM (SELECT k.chunk_index, k.data,
                 sum(octet_length(k.data)) OVER (ORDER BY k.chunk_index) - octet_length(k.data) AS bytes_before
            FROM workflow.stream_chunks k
           WHERE k.app_id = p_app_id AND k.name = p_name AND k.chunk_index >= start_index AND k.chunk_index < v_count
           ORDER BY k.chunk_index LIMIT greatest(p_max_chunks, 1)) c
   WHERE c.bytes_before < p_max_bytes;
  chunks := coalesce(chunks, ''::bytea);
  next_index := coalesce(next_index, start_index);
  more := next_index < v_count;
  done := s.closed_at IS NOT NULL AND NOT more;
END $$;
COMMENT ON FUNCTION workflow.read_stream(text, text, integer, integer, integer) IS
  'The bytes of a stream''s chunks from p_start_index (negative: from the end), concatenated, at most p_max_chunks '
  'chunks / about p_max_bytes; start_index as resolved, next_index to continue from, more = chunks already waiting, '
  'done = closed and everything read. An unknown stream reads as empty and open.';

CREATE FUNCTION workflow.list_streams(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN (SELECT coalesce(jsonb_agg(s.name ORDER BY s.stream_seq), '[]'::jsonb)
            FROM workflow.streams s WHERE s.app_id = p_app_id AND s.run_id = p_run_id);
END $$;
COMMENT ON FUNCTION workflow.list_streams(text, text) IS 'Names of the streams a run wrote, oldest first (a JSON array).';

-- Reads address a stream by name: the run id of the URL is not checked, as
-- a stream handed to another run is read under that run's id.
CREATE FUNCTION workflow.get_stream_chunks(
  p_app_id text, p_run_id text, p_name text, p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_from bigint := coalesce(workflow.check_cursor(p_cursor), 0);
  s workflow.streams;
  v_count integer;
  v_data jsonb;
  v_next bigint;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  PERFORM workflow.check_stream_name(p_name);
  SELECT * INTO s FROM workflow.streams WHERE app_id = p_app_id AND name = p_name;
  v_count := coalesce(s.next_index, 0);
  SELECT coalesce(jsonb_agg(jsonb_build_object('index', c.chunk_index, 'data', workflow.binary_json(c.data))
                            ORDER BY c.chunk_index), '[]'::jsonb),
         max(c.chunk_index) + 1
    INTO v_data, v_next
    FROM (SELECT k.chunk_index, k.data FROM workflow.stream_chunks k
           WHERE k.app_id = p_app_id AND k.name = p_name AND k.chunk_index >= v_from AND k.chunk_index < v_count
           ORDER BY k.chunk_index LIMIT v_limit) c;
  v_next := coalesce(v_next, v_from);
  RETURN jsonb_build_object(
    'data', v_data,
    'cursor', CASE WHEN v_next < v_count THEN v_next::text END,
    'hasMore', v_next < v_count,
    'done', s.closed_at IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.get_stream_chunks(text, text, text, integer, text) IS
  'A page of a stream''s chunks in index order: {data:[{index, data:binary}], cursor, hasMore, done}; '
  'cursor is null when no chunk written so far is left.';

CREATE FUNCTION workflow.get_stream_info(p_app_id text, p_run_id text, p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s workflow.streams;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  PERFORM workflow.check_stream_name(p_name);
  SELECT * INTO s FROM workflow.streams WHERE app_id = p_app_id AND name = p_name;
  RETURN jsonb_build_object('tailIndex', coalesce(s.next_index, 0) - 1, 'done', s.closed_at IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.get_stream_info(text, text, text) IS
  'The index of a stream''s last chunk (-1 when none) and whether it is closed: {tailIndex, done}.';

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
