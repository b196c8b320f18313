-- Streams (SPEC section 7).

-- name: listen_streams
-- The live-reader connection (service/live.py): write_stream notifies here.
LISTEN workflow_streams;

-- name: write_stream
SELECT workflow.write_stream(ctx.app_id, %(run_id)s, %(name)s, %(chunks)s::bytea[], %(close)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: write_stream_session
SELECT workflow.write_stream_session(ctx.app_id, %(run_id)s, %(name)s, %(writer_id)s, %(chunk_seq)s::bigint,
                                     %(chunks)s::bytea[], %(close)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: read_stream
-- One catch-up read of a live reader: the raw bytes and where to go on.
-- (LATERAL on ctx.app_id: the scope is set before the read runs.)
SELECT r.chunks, r.start_index, r.next_index, r.more, r.done
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx,
       LATERAL workflow.read_stream(ctx.app_id, %(name)s, %(start_index)s::integer) AS r;

-- name: list_streams
SELECT workflow.list_streams(ctx.app_id, %(run_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_stream_chunks
SELECT workflow.get_stream_chunks(ctx.app_id, %(run_id)s, %(name)s, %(limit)s::integer, %(cursor)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_stream_info
SELECT workflow.get_stream_info(ctx.app_id, %(run_id)s, %(name)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;
