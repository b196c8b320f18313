-- Retention (SPEC section 14): the background job of service/retention.py
-- runs these on the service's own connections, one batch per statement.

-- name: purge_runs
SELECT workflow.purge_runs(make_interval(secs => %(older_than_seconds)s::double precision), %(batch)s::integer);

-- name: purge_delivered_messages
SELECT workflow.purge_delivered_messages(make_interval(secs => %(older_than_seconds)s::double precision),
                                         %(batch)s::integer);

-- name: purge_dead_letters
SELECT workflow.purge_dead_letters(make_interval(secs => %(older_than_seconds)s::double precision), %(batch)s::integer);

-- name: purge_health_check_streams
SELECT workflow.purge_health_check_streams(make_interval(secs => %(older_than_seconds)s::double precision),
                                           %(batch)s::integer);

-- name: release_kept_hooks
SELECT workflow.release_kept_hooks(%(batch)s::integer);

-- name: purge_queue_rate
SELECT workflow.purge_queue_rate();
