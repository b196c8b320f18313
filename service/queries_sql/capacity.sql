-- Per-app capacity (service/capacity.py) and the stream NOTIFY key (service/live.py).

-- name: request_caps
-- Every replica reloads this every WF_APP_QUOTA_CACHE_SECONDS: one statement for all apps.
SELECT workflow.request_caps()::text;

-- name: stream_notify_secret
-- The live-reader connection reads it after each (re)connect.
SELECT workflow.stream_notify_secret();
