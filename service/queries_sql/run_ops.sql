-- DevKit 5 run operations (change devkit5_run_ops). Tenant statements, scoped by
-- FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx (see service/db.py).

-- name: get_runs
SELECT workflow.get_runs(ctx.app_id, %(run_ids)s::jsonb, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: cancel_runs
SELECT workflow.cancel_runs(ctx.app_id, %(run_ids)s::jsonb, %(cancel_reason)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: run_wait_state
SELECT workflow.run_wait_state(ctx.app_id, %(run_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_runs_page_info
-- GET /runs?pageInfo=true: the storage list plus the 5.x pageInfo (change devkit5_analytics_api).
SELECT (workflow.list_runs(ctx.app_id, %(statuses)s::text[], %(workflow_name)s, %(deployment_id)s,
                           %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)
        || jsonb_build_object('pageInfo', workflow.page_info(ctx.app_id)))::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: listen_run_terminal
-- The waiters' connection (service/run_waiters.py): terminal transitions notify here.
LISTEN workflow_run_terminal;
