-- pgTAP: the tenant role scopes requests only through the binding check (change request_context_bound_only).
BEGIN;
SELECT plan(6);

SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.request_context(text)', 'EXECUTE'),
          'pgw_tenant may not execute request_context(text), which skips the binding check');
SELECT ok(has_function_privilege('pgw_tenant', 'workflow.request_context(text, text)', 'EXECUTE'),
          'pgw_tenant executes request_context(text, text)');
SELECT is((SELECT array_agg(a.grantee::regrole::text ORDER BY 1) FROM pg_proc p,
                  aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.oid = 'workflow.request_context(text)'::regprocedure AND a.grantee <> p.proowner),
          ARRAY['pgw_api', 'pgw_service'],
          'request_context(text) is internal like any private function: no EXECUTE for PUBLIC or pgw_tenant');

SELECT workflow.ensure_app('rcb_a');
SET LOCAL ROLE pgw_tenant;
SELECT throws_ok($$ SELECT * FROM workflow.request_context('rcb_a') $$, '42501', NULL,
                 'a tenant statement cannot scope itself with the one-argument form');
SELECT throws_ok($$ SELECT * FROM workflow.request_context('rcb_a', 'team-x:runner') $$, 'PW403', NULL,
                 'the two-argument form still refuses an unbound service account');
SELECT is((SELECT app_id FROM workflow.request_context('rcb_a', NULL)), 'rcb_a',
          'the two-argument form scopes an unrestricted (single-tenant or admin) request');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
