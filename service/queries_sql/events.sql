-- Start-up, and the event log API (SPEC section 4).
-- Tenant statements run on role pgw_tenant connections and scope themselves
-- with FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx (see service/db.py).

-- name: ensure_app
SELECT workflow.ensure_app(%(app_id)s);

-- name: schema_ready
SELECT to_regprocedure('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)') IS NOT NULL;

-- name: create_event
SELECT workflow.create_event(ctx.app_id, %(run_id)s, %(event_type)s, %(correlation_id)s,
                             %(event_data)s, %(spec_version)s, %(resolve_data)s, %(state_updated_at)s::bigint,
                             %(enqueue)s::jsonb, %(options)s::jsonb)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: create_event_batch
SELECT workflow.create_event_batch(ctx.app_id, %(run_id)s, %(events)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_run
SELECT workflow.get_run(ctx.app_id, %(run_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_runs
SELECT workflow.list_runs(ctx.app_id, %(statuses)s::text[], %(workflow_name)s, %(deployment_id)s,
                          %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_events
SELECT workflow.list_events(ctx.app_id, %(run_id)s, %(correlation_id)s,
                            %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_event
SELECT workflow.get_event(ctx.app_id, %(run_id)s, %(event_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_steps
SELECT workflow.list_steps(ctx.app_id, %(run_id)s, %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_step
SELECT workflow.get_step(ctx.app_id, %(run_id)s, %(step_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: list_hooks
SELECT workflow.list_hooks(ctx.app_id, %(run_id)s, %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_hook
SELECT workflow.get_hook(ctx.app_id, %(hook_id)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;

-- name: get_hook_by_token
SELECT workflow.get_hook_by_token(ctx.app_id, %(token)s, %(resolve_data)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;
