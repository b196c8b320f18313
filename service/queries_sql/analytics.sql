-- The DevKit 5 analytics namespace (change devkit5_analytics_api). Tenant statements, scoped by
-- FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx (see service/db.py).
-- params: the request's members as one JSON object (id, ids, limit, cursor, sortOrder, filters).

-- name: analytics_runs
SELECT workflow.analytics_runs(ctx.app_id, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: analytics_attributes
SELECT workflow.analytics_attributes(ctx.app_id, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: analytics_steps
SELECT workflow.analytics_steps(ctx.app_id, %(run_id)s, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: analytics_events
SELECT workflow.analytics_events(ctx.app_id, %(run_id)s, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: analytics_hooks
SELECT workflow.analytics_hooks(ctx.app_id, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: analytics_waits
SELECT workflow.analytics_waits(ctx.app_id, %(run_id)s, %(params)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;
