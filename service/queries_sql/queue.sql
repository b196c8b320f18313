-- The queue (SPEC section 6): enqueue, handler registration and dead letters
-- (tenant statements, scoped by FROM workflow.request_context(...) AS ctx, see
-- service/db.py), and the dispatcher's own bookkeeping (claims, acks,
-- releases) on the service's connections.

-- name: enqueue
SELECT workflow.enqueue(ctx.app_id, %(queue_name)s, %(message)s, %(deployment_id)s,
                        %(idempotency_key)s, %(delay_seconds)s::numeric)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: enqueue_batch
SELECT workflow.enqueue_batch(ctx.app_id, %(messages)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: register_handler
SELECT workflow.register_handler(ctx.app_id, %(pod_id)s, %(deployment_version)s,
                                 %(workflow_url)s, %(step_url)s, %(webhook_url)s, %(source_address)s,
                                 %(features)s::text[], %(ttl_seconds)s::numeric)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: unregister_handler
SELECT workflow.unregister_handler(ctx.app_id, %(pod_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_dead_letters
SELECT workflow.list_dead_letters(ctx.app_id, %(limit)s, %(cursor)s, %(sort_order)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: retry_dead_letter
SELECT workflow.retry_dead_letter(ctx.app_id, %(message_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: listen_queue
-- The dispatcher's own connection; workflow.notify_queue sends on this channel.
LISTEN workflow_queue;

-- name: open_dispatcher_session
-- On the dispatcher's LISTEN connection, which then holds the session's lock.
-- Server-side keepalives: a peer that vanished without closing its socket
-- releases the lock within about 25 s instead of the kernel's two hours.
SELECT workflow.open_dispatcher_session(%(name)s), set_config('tcp_keepalives_idle', '10', false),
       set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false);

-- name: resume_dispatcher_session
SELECT workflow.resume_dispatcher_session(%(session_id)s::integer), set_config('tcp_keepalives_idle', '10', false),
       set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false);

-- name: close_dispatcher_session
SELECT workflow.close_dispatcher_session(%(session_id)s::integer);

-- name: reap_dispatcher_sessions
SELECT workflow.reap_dispatcher_sessions(%(grace_seconds)s::numeric);

-- name: claim_messages
-- Claims and acks commit asynchronously when %(synchronous_commit)s is 'off' (WF_QUEUE_ASYNC_COMMIT, the
-- default): PostgreSQL answers without waiting for the WAL flush, and a claim or an ack lost in a crash only
-- means a redelivery (docs/operations.md, "Asynchronous commit of claims and acks"). NULL: the connection's own
-- setting (the server's), read before the call (s, which the call's subquery refers to, so it runs first) and
-- set again after it (the call's subquery is evaluated before the outer target list), whatever the function set
-- for itself. Both only for this transaction.
SELECT c.claimed, set_config('synchronous_commit', coalesce(%(synchronous_commit)s::text, c.setting), true)
  FROM (SELECT current_setting('synchronous_commit') AS setting OFFSET 0) AS s,
       LATERAL (SELECT workflow.claim_messages(%(session_id)s::integer, %(limit)s::integer,
                                               %(lease_seconds)s::numeric, %(grace_seconds)s::numeric,
                                               %(app_concurrency)s::integer, %(batch_bytes)s::bigint,
                                               %(snapshot_max_bytes)s::bigint, %(one_at_a_time)s::boolean)::text
                       AS claimed, s.setting OFFSET 0) AS c;

-- name: ack_messages
-- Commits asynchronously or not as claim_messages does (%(synchronous_commit)s: 'off' or NULL).
SELECT a.settled, set_config('synchronous_commit', coalesce(%(synchronous_commit)s::text, a.setting), true)
  FROM (SELECT current_setting('synchronous_commit') AS setting OFFSET 0) AS s,
       LATERAL (SELECT workflow.ack_messages(%(results)s, %(max_attempts)s::integer,
                                             %(retry_base_seconds)s::numeric, %(retry_max_seconds)s::numeric,
                                             %(cooldown_seconds)s::numeric, %(grace_seconds)s::numeric,
                                             %(retention_seconds)s::numeric, %(min_redelivery_seconds)s::numeric)
                       AS settled, s.setting OFFSET 0) AS a;

-- name: settle_and_claim
-- ack_messages then claim_messages in one transaction (WF_QUEUE_ACKS_WITH_CLAIMS); commits as claim_messages does.
SELECT c.claimed, set_config('synchronous_commit', coalesce(%(synchronous_commit)s::text, c.setting), true)
  FROM (SELECT current_setting('synchronous_commit') AS setting OFFSET 0) AS s,
       LATERAL (SELECT workflow.settle_and_claim(%(results)s, %(max_attempts)s::integer,
                                                 %(retry_base_seconds)s::numeric, %(retry_max_seconds)s::numeric,
                                                 %(cooldown_seconds)s::numeric, %(grace_seconds)s::numeric,
                                                 %(retention_seconds)s::numeric, %(min_redelivery_seconds)s::numeric,
                                                 %(session_id)s::integer, %(limit)s::integer,
                                                 %(lease_seconds)s::numeric, %(app_concurrency)s::integer,
                                                 %(batch_bytes)s::bigint, %(snapshot_max_bytes)s::bigint,
                                                 %(one_at_a_time)s::boolean)::text
                       AS claimed, s.setting OFFSET 0) AS c;

-- name: release_messages
SELECT workflow.release_messages(%(claims)s);
