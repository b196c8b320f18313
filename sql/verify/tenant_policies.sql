-- Verify pg-workflow:tenant_policies
BEGIN;
SELECT 'workflow.expose_api(regprocedure)'::regprocedure, 'workflow.expose_service(regprocedure)'::regprocedure,
       'workflow.expose_internal(regprocedure)'::regprocedure;
-- every table forces row-level security
SELECT 1 / (NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = 'workflow'::regnamespace
                          AND relkind IN ('r', 'p') AND NOT relforcerowsecurity))::int;
-- no function of the schema is executable by PUBLIC
SELECT 1 / (NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                         WHERE p.pronamespace = 'workflow'::regnamespace AND a.grantee = 0))::int;
-- the tenant role writes no table
SELECT 1 / (NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'workflow'::regnamespace
                          AND has_table_privilege('pgw_tenant', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')))::int;
SELECT 1 / has_function_privilege('pgw_tenant', 'workflow.create_event(text, text, text, text, jsonb, integer, text)', 'EXECUTE')::int;
SELECT 1 / (NOT has_function_privilege('pgw_tenant', 'workflow.page_of(text, integer, text)', 'EXECUTE'))::int;
ROLLBACK;
