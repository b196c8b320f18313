-- Revert pg-workflow:schema
BEGIN;
DROP SCHEMA workflow CASCADE;
-- pgw_tenant is cluster-wide and may serve other databases: it stays.
COMMIT;
