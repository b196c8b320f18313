-- Run encryption: the admin statements run on the service's own connection
-- (SERVICE functions); the key is a tenant statement, scoped by
-- FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx (see service/db.py).
-- The secret itself never leaves SQL: these answer versions and derived keys.

-- name: provision_encryption_secret
SELECT (r ->> 'created')::boolean, (r - 'created')::text
  FROM workflow.provision_encryption_secret(%(app_id)s) AS r;

-- name: rotate_encryption_secret
SELECT (r ->> 'created')::boolean, (r - 'created')::text
  FROM workflow.rotate_encryption_secret(%(app_id)s) AS r;

-- name: encryption_secret_status
SELECT workflow.encryption_secret_status(%(app_id)s)::text;

-- name: get_encryption_key
SELECT workflow.get_encryption_key(ctx.app_id, %(run_id)s)::text
  FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx;
