-- pgTAP: tenant isolation by row-level security.
BEGIN;
SELECT plan(16);

-- Every table of the workflow schema that carries app_id has RLS and the policy.
SELECT is(
  (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'workflow' AND c.relkind = 'r' AND NOT c.relrowsecurity
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'app_id' AND NOT a.attisdropped)),
  NULL, 'every tenant table (with app_id) has row-level security enabled');
SELECT is(
  (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'workflow' AND c.relkind = 'r' AND c.relrowsecurity
      AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)),
  NULL, 'every table with RLS has a policy');
SELECT ok(NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'pgw_tenant'), 'pgw_tenant is an ordinary role');

SELECT workflow.ensure_app('tenant_a'), workflow.ensure_app('tenant_b');
SELECT set_config('workflow.app_id', 'tenant_a', true);
SELECT workflow.create_event('tenant_a', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT set_config('workflow.app_id', 'tenant_b', true);
SELECT workflow.create_event('tenant_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT workflow.create_event('tenant_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'step_created', 's1', '{"stepName":"x"}', 3);
SELECT is((SELECT count(*) FROM workflow.runs WHERE run_id = 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV'), 2::bigint,
          'run ids are unique per app, not globally');

SET LOCAL ROLE pgw_tenant;
SELECT set_config('workflow.app_id', 'tenant_a', true);
SELECT is((SELECT count(*) FROM workflow.runs), 1::bigint, 'app a sees its one run');
SELECT is((SELECT count(*) FROM workflow.steps), 0::bigint, 'app a sees none of app b''s steps');
SELECT is((SELECT count(*) FROM workflow.apps), 1::bigint, 'app a sees only its own app row');
SELECT throws_ok($$ SELECT workflow.get_run('tenant_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV') $$, 'PW403', NULL,
                 'asking for app b''s run as app a: refused');
SELECT throws_ok($$ INSERT INTO workflow.events (app_id, run_id, event_id, event_type, created_at)
                    VALUES ('tenant_b', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'x', 'run_started', now()) $$,
                 '42501', NULL, 'app a cannot write app b''s rows');

SELECT set_config('workflow.app_id', 'tenant_c', true);
SELECT is((SELECT count(*) FROM workflow.runs), 0::bigint, 'another app id sees 0 rows');
SELECT set_config('workflow.app_id', '', true);
SELECT is((SELECT count(*) FROM workflow.runs), 0::bigint, 'no app id set: 0 rows (fails closed)');
SELECT is((SELECT count(*) FROM workflow.events), 0::bigint, 'no app id set: 0 events');
RESET ROLE;

-- request_context: the one-statement scope API requests use.
SELECT throws_ok($$ SELECT * FROM workflow.request_context('tenant_a', NULL) $$, '42501', NULL,
                 'request_context refuses a role that would bypass row-level security');
SET LOCAL ROLE pgw_tenant;
SELECT is((SELECT app_id FROM workflow.request_context('tenant_b', NULL)), 'tenant_b', 'request_context returns the app id');
SELECT is(current_setting('workflow.app_id'), 'tenant_b', 'request_context scopes the transaction');
SELECT is((SELECT workflow.get_run(ctx.app_id, 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV')::jsonb ->> 'runId'
             FROM workflow.request_context('tenant_b', NULL) AS ctx), 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV',
          'a scoped statement sees its app''s rows');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
