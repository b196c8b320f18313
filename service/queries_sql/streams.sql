-- Streams (SPEC section 7).

-- name: listen_streams
-- The live-reader connection (service/live.py): write_stream notifies here.
LISTEN workflow_streams;

-- name: write_stream
SELECT workflow.write_stream(%(app_id)s, %(run_id)s, %(name)s, %(chunks)s::bytea[], %(close)s)::text;

-- name: read_stream
-- One catch-up read of a live reader: the raw bytes and where to go on.
SELECT chunks, start_index, next_index, more, done
  FROM workflow.read_stream(%(app_id)s, %(name)s, %(start_index)s::integer);

-- name: list_streams
SELECT workflow.list_streams(%(app_id)s, %(run_id)s)::text;

-- name: get_stream_chunks
SELECT workflow.get_stream_chunks(%(app_id)s, %(run_id)s, %(name)s, %(limit)s::integer, %(cursor)s)::text;

-- name: get_stream_info
SELECT workflow.get_stream_info(%(app_id)s, %(run_id)s, %(name)s)::text;
