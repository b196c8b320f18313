-- Verify pg-workflow:schema
BEGIN;
SELECT 1 / count(*) FROM pg_namespace WHERE nspname = 'workflow';
SELECT 1 / count(*) FROM pg_roles WHERE rolname = 'pgw_tenant';
SELECT workflow.iso(now()), workflow.ulid(), workflow.current_app_id();
SELECT 1 / (workflow.ulid_encode(0, 0, 0) = '00000000000000000000000000')::int;
ROLLBACK;
