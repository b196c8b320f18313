-- Deploy pg-workflow:stream_write_sessions
-- The write session of @workflow/world 5.x streams
-- (world.streams.createWriteSession): core 5 opens one per in-memory
-- WritableStream with a writer id (wrtr_ + ULID) and numbers the chunks it
-- writes through it, each group sent with the writer-local sequence of its
-- first chunk (chunkSeq). The service remembers, per stream and writer, how
-- far that writer's chunks are stored, and stores only chunks past that point:
-- a group sent again (the answer was lost, a kept-alive socket was found
-- closed) is not stored twice, so the client may resend a session write as it
-- resends a close. A group that starts past the stored point is stored (the
-- writer id is an observation, not a fence, in the 5.x protocol). Otherwise
-- the write is write_stream's: one call, one transaction, the same rules,
-- quotas and answer, plus how many chunks were already there (duplicate).
--
-- API:      workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean)  (new)
BEGIN;

CREATE TABLE workflow.stream_writers (
  app_id     text NOT NULL,
  name       text NOT NULL,
  writer_id  text NOT NULL CHECK (writer_id ~ '^wrtr_[0-9A-HJKMNP-TV-Z]{26}$'),
  next_seq   bigint NOT NULL CHECK (next_seq >= 0),
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (app_id, name, writer_id),
  FOREIGN KEY (app_id, name) REFERENCES workflow.streams ON DELETE CASCADE
);
COMMENT ON TABLE workflow.stream_writers IS
  'How far each write session (world.streams.createWriteSession of DevKit 5) has stored its chunks in a stream: '
  'a resent group is not stored twice. Deleted with its stream (and so with its run).';
COMMENT ON COLUMN workflow.stream_writers.app_id IS 'The stream''s app.';
COMMENT ON COLUMN workflow.stream_writers.name IS 'The stream''s name (unique in its app).';
COMMENT ON COLUMN workflow.stream_writers.writer_id IS 'The session''s writer id (wrtr_ + ULID), chosen by the runtime.';
COMMENT ON COLUMN workflow.stream_writers.next_seq IS
  'The writer-local sequence of the next chunk this writer has not stored yet (its chunks below it are stored).';
COMMENT ON COLUMN workflow.stream_writers.updated_at IS 'When the writer last stored chunks.';
SELECT workflow.enable_tenant_rls('workflow.stream_writers');

CREATE FUNCTION workflow.write_stream_session(
  p_app_id text, p_run_id text, p_name text, p_writer_id text, p_chunk_seq bigint, p_chunks bytea[],
  p_close boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_count integer := coalesce(cardinality(p_chunks), 0);
  v_stored bigint;
  v_skip integer;
  v_answer jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_writer_id IS NULL OR p_writer_id !~ '^wrtr_[0-9A-HJKMNP-TV-Z]{26}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('invalid writer id %L: expected wrtr_ followed by a 26-character ULID', left(p_writer_id, 64)));
  END IF;
  IF p_chunk_seq IS NULL OR p_chunk_seq < 0 THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'chunkSeq must be a non-negative integer');
  END IF;
  -- One writer's requests one after another (a resend may overtake its first
  -- attempt): both then see the other's progress.
  PERFORM pg_advisory_xact_lock(hashtextextended('workflow.stream_writers/' || p_app_id || '/' || p_name
                                                 || '/' || p_writer_id, 0));
  SELECT w.next_seq INTO v_stored FROM workflow.stream_writers w
   WHERE w.app_id = p_app_id AND w.name = p_name AND w.writer_id = p_writer_id;
  v_skip := least(v_count, greatest(coalesce(v_stored, 0) - p_chunk_seq, 0))::integer;
  v_answer := workflow.write_stream(p_app_id, p_run_id, p_name, p_chunks[v_skip + 1:v_count], p_close);
  IF v_count > v_skip THEN
    INSERT INTO workflow.stream_writers AS w (app_id, name, writer_id, next_seq, updated_at)
    VALUES (p_app_id, p_name, p_writer_id, p_chunk_seq + v_count, now())
    ON CONFLICT (app_id, name, writer_id) DO UPDATE
       SET next_seq = greatest(w.next_seq, excluded.next_seq), updated_at = excluded.updated_at;
  END IF;
  RETURN v_answer || jsonb_build_object('duplicate', v_skip);
END $$;
COMMENT ON FUNCTION workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean) IS
  'A write session''s group (world.streams.createWriteSession): p_chunks are the writer''s chunks p_chunk_seq, '
  'p_chunk_seq + 1, …; those this writer already stored in the stream are skipped (a resent group is stored once), '
  'the rest written as write_stream writes them (same rules, quotas, close). Answers write_stream''s '
  '{written, tailIndex, done} plus duplicate (the chunks skipped). 400 for a malformed writer id or sequence.';
SELECT workflow.expose_api('workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean)');

COMMIT;
