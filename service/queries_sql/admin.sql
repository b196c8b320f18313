-- The admin API (SPEC section 8): the service's own connection, never a
-- tenant's (the functions are SERVICE class; service/auth.py lets only the
-- admin service account reach these routes in multi-tenant mode).
-- Statements that create answer (created, json): the function says 201 vs 200.

-- name: create_app
SELECT (r ->> 'created')::boolean, (r -> 'app')::text
  FROM workflow.create_app(%(app_id)s) AS r;

-- name: list_apps
SELECT workflow.list_apps(%(limit)s::integer, %(cursor)s)::text;

-- name: bind_service_account
SELECT (r ->> 'created')::boolean, (r -> 'binding')::text
  FROM workflow.bind_service_account(%(app_id)s, %(namespace)s, %(service_account)s) AS r;

-- name: unbind_service_account
SELECT workflow.unbind_service_account(%(app_id)s, %(namespace)s, %(service_account)s)::text;

-- name: get_quotas
SELECT workflow.get_quotas(%(app_id)s)::text;

-- name: set_quotas
SELECT workflow.set_quotas(%(app_id)s, %(quotas)s)::text;

-- name: version_status
SELECT workflow.version_status(%(app_id)s, %(deployment_id)s)::text;

-- name: expire_version
SELECT workflow.expire_version(%(app_id)s, %(deployment_id)s)::text;
