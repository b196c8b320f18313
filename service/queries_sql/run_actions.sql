-- Run actions (SPEC section 5). Tenant statements, scoped by
-- FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx (see service/db.py).

-- name: cancel_run
SELECT workflow.cancel_run(ctx.app_id, %(run_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: replay_run
SELECT workflow.replay_run(ctx.app_id, %(run_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: wake_up_run
SELECT workflow.wake_up_run(ctx.app_id, %(run_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_workflow_template
SELECT workflow.get_workflow_template(ctx.app_id, %(workflow_name)s, %(deployment_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;
