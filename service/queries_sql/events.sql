-- Request context, start-up, and the event log API (SPEC section 4).

-- name: set_request_context
-- Tenant scope for the rest of the transaction: row-level security applies.
SELECT set_config('role', 'pgw_tenant', true), set_config('workflow.app_id', %(app_id)s, true);

-- name: ensure_app
SELECT workflow.ensure_app(%(app_id)s);

-- name: schema_ready
SELECT to_regprocedure('workflow.create_event(text, text, text, text, jsonb, integer, text)') IS NOT NULL;

-- name: create_event
SELECT workflow.create_event(%(app_id)s, %(run_id)s, %(event_type)s, %(correlation_id)s,
                             %(event_data)s, %(spec_version)s, %(resolve_data)s)::text;

-- name: get_run
SELECT workflow.get_run(%(app_id)s, %(run_id)s, %(resolve_data)s)::text;

-- name: list_runs
SELECT workflow.list_runs(%(app_id)s, %(status)s, %(workflow_name)s, %(deployment_id)s,
                          %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text;

-- name: list_events
SELECT workflow.list_events(%(app_id)s, %(run_id)s, %(correlation_id)s,
                            %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text;

-- name: get_event
SELECT workflow.get_event(%(app_id)s, %(run_id)s, %(event_id)s, %(resolve_data)s)::text;

-- name: list_steps
SELECT workflow.list_steps(%(app_id)s, %(run_id)s, %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text;

-- name: get_step
SELECT workflow.get_step(%(app_id)s, %(run_id)s, %(step_id)s, %(resolve_data)s)::text;

-- name: list_hooks
SELECT workflow.list_hooks(%(app_id)s, %(run_id)s, %(limit)s, %(cursor)s, %(sort_order)s, %(resolve_data)s)::text;

-- name: get_hook
SELECT workflow.get_hook(%(app_id)s, %(hook_id)s, %(resolve_data)s)::text;

-- name: get_hook_by_token
SELECT workflow.get_hook_by_token(%(app_id)s, %(token)s, %(resolve_data)s)::text;
