-- pgTAP: the workflow_analytics views over known data, and what the analyst
-- roles may and may not see.
BEGIN;
SELECT plan(49);

-- Known data ------------------------------------------------------------------
-- Inserted directly (as the owner) with chosen times; now() is fixed for the
-- whole transaction, so lags and durations are exact.
INSERT INTO workflow.apps (app_id) VALUES ('ana_a'), ('ana_b'), ('ana_c');
INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, error,
                           created_at, updated_at, started_at, completed_at)
SELECT 'ana_a', r.id, r.status, r.dep, r.wf, r.error, t.c, t.c, CASE WHEN r.status <> 'pending' THEN t.c END,
       CASE WHEN r.secs IS NOT NULL THEN t.c + make_interval(secs => r.secs) END
  FROM (VALUES ('r1', 'completed', 'v1', 'wf/order', NULL::jsonb, 1),
               ('r2', 'completed', 'v1', 'wf/order', NULL, 2),
               ('r3', 'completed', 'v1', 'wf/order', NULL, 3),
               ('r4', 'failed',    'v1', 'wf/order', '{"message":"boom","code":"E_BOOM"}', 4),
               ('r5', 'running',   'v1', 'wf/order', NULL, NULL),
               ('r6', 'cancelled', 'v1', 'wf/order', NULL, 100),
               ('r7', 'pending',   'v2', 'wf/other', NULL, NULL)) AS r(id, status, dep, wf, error, secs),
       (SELECT now() - interval '10 minutes' AS c) t;
INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, created_at, updated_at, started_at,
                           completed_at)
VALUES ('ana_b', 'r8', 'completed', 'v1', 'wf/order', now() - interval '1 hour', now(), now() - interval '1 hour',
        now() - interval '1 hour' + interval '50 seconds');

INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, error, created_at, updated_at,
                            started_at, completed_at)
SELECT 'ana_a', s.run, s.id, s.name, s.status, s.attempt, s.error, t.c - interval '1 second', t.c,
       CASE WHEN s.attempt > 0 THEN t.c END,
       CASE WHEN s.secs IS NOT NULL THEN t.c + make_interval(secs => s.secs) END
  FROM (VALUES ('r1', 's1', 'charge', 'completed', 1, NULL::jsonb, 1),
               ('r2', 's2', 'charge', 'completed', 3, '{"message":"flaky"}', 5),
               ('r4', 's3', 'charge', 'failed', 2, '{"message":"card declined"}', 7),
               ('r5', 's4', 'charge', 'pending', 0, NULL, NULL),
               ('r5', 's5', 'ship', 'running', 1, NULL, NULL)) AS s(run, id, name, status, attempt, error, secs),
       (SELECT now() - interval '5 minutes' AS c) t;

INSERT INTO workflow.deployment_versions (app_id, deployment_id, created_at, expired_at)
VALUES ('ana_a', 'v1', now(), NULL), ('ana_a', 'v3', now(), now());
INSERT INTO workflow.handlers (app_id, pod_id, deployment_version, workflow_url, step_url, registered_at, seen_at)
VALUES ('ana_a', 'pod1', 'v1', 'http://127.0.0.1:1/flow', 'http://127.0.0.1:1/step', now(), now());
INSERT INTO workflow.hooks (app_id, run_id, hook_id, token, created_at, disposed_at)
VALUES ('ana_a', 'r5', 'h1', 'secret-token-1', now(), NULL), ('ana_a', 'r1', 'h2', 'secret-token-2', now(), now());
INSERT INTO workflow.waits (app_id, run_id, wait_id, status, resume_at, created_at, updated_at, completed_at)
VALUES ('ana_a', 'r5', 'w1', 'waiting', now() + interval '1 hour', now(), now(), NULL),
       ('ana_a', 'r1', 'w2', 'completed', now(), now(), now(), now());

INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, run_id, deployment_id, payload, status, attempt,
                               failures, due_at, lease_until, pod_id, last_error, created_at, updated_at,
                               delivered_at, dead_at)
VALUES
  ('ana_a', 'm1', '__wkf_step_charge', 'step', 'r5', 'v1', '{}', 'queued', 0, 0, now() - interval '30 seconds',
   NULL, NULL, NULL, now() - interval '1 minute', now(), NULL, NULL),
  ('ana_a', 'm2', '__wkf_step_charge', 'step', 'r5', 'v1', '{}', 'queued', 2, 2, now() + interval '60 seconds',
   NULL, NULL, 'HTTP 500', now() - interval '1 minute', now(), NULL, NULL),
  ('ana_a', 'm3', '__wkf_step_charge', 'step', 'r5', 'v1', '{}', 'held', 0, 0, now() - interval '10 seconds',
   NULL, NULL, NULL, now() - interval '1 minute', now(), NULL, NULL),
  ('ana_a', 'm4', '__wkf_step_charge', 'step', 'r5', 'v1', '{}', 'claimed', 1, 0, now(),
   now() + interval '5 minutes', 'pod1', NULL, now() - interval '1 minute', now(), NULL, NULL),
  ('ana_a', 'm5', '__wkf_step_charge', 'step', 'r4', 'v1', '{}', 'dead', 50, 50, now(),
   NULL, NULL, 'HTTP 503', now() - interval '1 hour', now(), NULL, now() - interval '5 minutes'),
  ('ana_a', 'm6', '__wkf_step_charge', 'step', 'r1', 'v1', '{}', 'delivered', 1, 0, now(),
   NULL, NULL, NULL, now() - interval '1 hour', now(), now() - interval '59 minutes', NULL),
  ('ana_a', 'm7', '__wkf_workflow_wf', 'workflow', 'r6', NULL, '{}', 'dead', 3, 3, now(),
   NULL, NULL, 'deployment expired', now() - interval '1 hour', now(), NULL, now() - interval '2 minutes');

-- workflow_stats -----------------------------------------------------------
SELECT results_eq(
  $$ SELECT runs, active_runs, completed_runs, failed_runs, cancelled_runs, failure_rate,
            round(p50_duration_seconds::numeric, 6), round(p95_duration_seconds::numeric, 6),
            round(p99_duration_seconds::numeric, 6)
       FROM workflow_analytics.workflow_stats WHERE app_id = 'ana_a' AND workflow_name = 'wf/order' $$,
  $$ VALUES (6::bigint, 1::bigint, 3::bigint, 1::bigint, 1::bigint, 0.25::double precision,
             2.5::numeric, 3.85::numeric, 3.97::numeric) $$,
  'workflow_stats: counts, failure rate 1/4 and p50/p95/p99 over completed and failed runs (cancelled excluded)');
SELECT results_eq(
  $$ SELECT runs, active_runs, failure_rate, p50_duration_seconds FROM workflow_analytics.workflow_stats
      WHERE app_id = 'ana_a' AND workflow_name = 'wf/other' $$,
  $$ VALUES (1::bigint, 1::bigint, NULL::double precision, NULL::double precision) $$,
  'workflow_stats: a workflow with no finished run has no rate and no percentiles');
SELECT is((SELECT p50_duration_seconds FROM workflow_analytics.workflow_stats WHERE app_id = 'ana_b'), 50::double precision,
          'workflow_stats: apps are summarised separately');

-- step_stats -----------------------------------------------------------------
SELECT results_eq(
  $$ SELECT steps, active_steps, completed_steps, failed_steps, round(failure_rate::numeric, 6), retried_steps,
            attempts, avg_attempts, max_attempts, p50_duration_seconds, round(p95_duration_seconds::numeric, 6),
            round(p99_duration_seconds::numeric, 6)
       FROM workflow_analytics.step_stats WHERE app_id = 'ana_a' AND step_name = 'charge' $$,
  $$ VALUES (4::bigint, 1::bigint, 2::bigint, 1::bigint, 0.333333::numeric, 2::bigint, 6::bigint,
             2::double precision, 3, 3::double precision, 4.8::numeric, 4.96::numeric) $$,
  'step_stats: outcomes, attempts (retries) and duration percentiles of completed steps');
SELECT results_eq(
  $$ SELECT steps, active_steps, failure_rate, attempts FROM workflow_analytics.step_stats
      WHERE app_id = 'ana_a' AND step_name = 'ship' $$,
  $$ VALUES (1::bigint, 1::bigint, NULL::double precision, 1::bigint) $$, 'step_stats: a running step');

-- queue_stats ----------------------------------------------------------------
SELECT results_eq(
  $$ SELECT kind, queued, due, held, in_flight, delivered, dead_letters, max_lag_seconds, max_attempt, last_dead_at
       FROM workflow_analytics.queue_stats WHERE app_id = 'ana_a' AND queue_name = '__wkf_step_charge' $$,
  $$ VALUES ('step', 2::bigint, 2::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint, 30::double precision, 2,
             now() - interval '5 minutes') $$,
  'queue_stats: messages by state, the oldest due message is 30 s late, one dead letter');
SELECT results_eq(
  $$ SELECT kind, queued, due, dead_letters, max_lag_seconds FROM workflow_analytics.queue_stats
      WHERE app_id = 'ana_a' AND queue_name = '__wkf_workflow_wf' $$,
  $$ VALUES ('workflow', 0::bigint, 0::bigint, 1::bigint, NULL::double precision) $$,
  'queue_stats: a queue with only a dead letter has no lag');

-- deployment_stats -----------------------------------------------------------
SELECT results_eq(
  $$ SELECT deployment_id, expired_at IS NOT NULL, runs, active_runs, live_hooks, waiting_waits, queued_messages,
            dead_letters, handlers
       FROM workflow_analytics.deployment_stats WHERE app_id = 'ana_a' ORDER BY deployment_id NULLS LAST $$,
  $$ VALUES ('v1', false, 6::bigint, 1::bigint, 1::bigint, 1::bigint, 4::bigint, 1::bigint, 1::bigint),
            ('v2', false, 1::bigint, 1::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint),
            ('v3', true, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint),
            (NULL, false, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 1::bigint, 0::bigint) $$,
  'deployment_stats: active runs, live hooks, waiting waits, queue and handlers per version');

-- row views ------------------------------------------------------------------
SELECT results_eq(
  $$ SELECT run_id, status, finished, error_message, error_code, duration_seconds FROM workflow_analytics.runs
      WHERE app_id = 'ana_a' AND run_id IN ('r4', 'r5') ORDER BY run_id $$,
  $$ VALUES ('r4', 'failed', true, 'boom', 'E_BOOM', 4::double precision),
            ('r5', 'running', false, NULL, NULL, NULL::double precision) $$,
  'runs: error message and code, duration of finished runs');
SELECT results_eq(
  $$ SELECT step_id, attempt, error_message, duration_seconds, wait_seconds FROM workflow_analytics.steps
      WHERE app_id = 'ana_a' AND step_id IN ('s2', 's4') ORDER BY step_id $$,
  $$ VALUES ('s2', 3, 'flaky', 5::double precision, 1::double precision),
            ('s4', 0, NULL, NULL::double precision, NULL::double precision) $$,
  'steps: attempts, error message, run and wait times');
SELECT results_eq(
  $$ SELECT message_id, lag_seconds FROM workflow_analytics.messages WHERE app_id = 'ana_a' ORDER BY message_id $$,
  $$ VALUES ('m1', 30::double precision), ('m2', NULL), ('m3', 10), ('m4', NULL), ('m5', NULL), ('m6', NULL),
            ('m7', NULL) $$,
  'messages: lag of due, undelivered messages only');
SELECT results_eq(
  $$ SELECT hook_id, live FROM workflow_analytics.hooks WHERE app_id = 'ana_a' ORDER BY hook_id $$,
  $$ VALUES ('h1', true), ('h2', false) $$, 'hooks: live until disposed');
SELECT is((SELECT count(*) FROM workflow_analytics.waits WHERE app_id = 'ana_a' AND status = 'waiting'), 1::bigint,
          'waits: the waiting wait');
SELECT is((SELECT count(*) FROM workflow_analytics.handlers WHERE app_id = 'ana_a'), 1::bigint, 'handlers: the pod');
SELECT is((SELECT expired_at IS NOT NULL FROM workflow_analytics.deployment_versions
            WHERE app_id = 'ana_a' AND deployment_id = 'v3'), true, 'deployment_versions: the expired version');
SELECT is((SELECT count(*) FROM workflow_analytics.apps WHERE app_id LIKE 'ana\_%'), 3::bigint, 'apps: the owner sees all');
SELECT workflow.ensure_app('ana_ev');
SELECT set_config('workflow.app_id', 'ana_ev', true);  -- create_event is an API function: it acts for the request's app
SELECT workflow.create_event('ana_ev', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'run_created', NULL,
  '{"deploymentId":"d","workflowName":"w","input":null}', 3);
SELECT results_eq(
  $$ SELECT run_ordinal, event_type, event_id LIKE 'wevt\_%' FROM workflow_analytics.events WHERE app_id = 'ana_ev' $$,
  $$ VALUES (1, 'run_created', true) $$, 'events: the log without payloads');
SELECT set_config('workflow.app_id', '', true);
SELECT results_eq(
  $$ SELECT app_id, active_runs FROM workflow_analytics.apps WHERE app_id IN ('ana_a', 'ana_b', 'ana_ev') ORDER BY 1 $$,
  $$ VALUES ('ana_a', 2), ('ana_b', 0), ('ana_ev', 1) $$,
  'apps: active runs as counted for maxRuns (pending and running)');
SELECT workflow.bind_service_account('ana_a', 'shop', 'runner');
SELECT results_eq(
  $$ SELECT namespace, service_account FROM workflow_analytics.k8s_bindings WHERE app_id = 'ana_a' $$,
  $$ VALUES ('shop', 'runner') $$, 'k8s_bindings: the service accounts bound to the app');
SELECT workflow.bind_service_account('ana_b', 'other', 'runner');

-- Every view runs as its caller -------------------------------------------
SELECT is(
  (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
    WHERE c.relnamespace = 'workflow_analytics'::regnamespace AND c.relkind = 'v'
      AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)),
  NULL, 'every workflow_analytics view is security_invoker');
SELECT is(
  (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
    WHERE c.relnamespace = 'workflow_analytics'::regnamespace AND c.relkind = 'v'
      AND NOT has_table_privilege('pgw_analyst', c.oid, 'SELECT')),
  NULL, 'pgw_analyst may select every workflow_analytics view');

-- The analyst roles ------------------------------------------------------------
SELECT ok(NOT (SELECT rolcanlogin OR rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'pgw_analyst'),
          'pgw_analyst: NOLOGIN, no superuser, no BYPASSRLS');
SELECT ok(pg_has_role('pgw_analyst_all', 'pgw_analyst', 'USAGE'), 'pgw_analyst_all inherits pgw_analyst');
SELECT ok(NOT has_schema_privilege('pgw_analyst', 'workflow', 'USAGE'),
          'pgw_analyst has no USAGE on schema workflow (no direct tables, no API functions)');
SELECT is(
  (SELECT array_agg(c.relname::text || ':' || p.priv ORDER BY 1) FROM pg_class c
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(priv)
    WHERE c.relnamespace IN ('workflow'::regnamespace, 'workflow_analytics'::regnamespace) AND c.relkind IN ('r', 'v')
      AND has_table_privilege('pgw_analyst', c.oid, p.priv)),
  NULL, 'pgw_analyst cannot write anything');
SELECT is(
  (SELECT array_agg(a.attname::text ORDER BY 1) FROM pg_attribute a
    WHERE a.attrelid IN ('workflow.runs'::regclass, 'workflow.steps'::regclass, 'workflow.events'::regclass,
                         'workflow.hooks'::regclass, 'workflow.messages'::regclass)
      AND a.attname IN ('input', 'output', 'event_data', 'event_json', 'token', 'metadata', 'payload',
                        'execution_context', 'idempotency_key')
      AND has_column_privilege('pgw_analyst', a.attrelid, a.attnum, 'SELECT')),
  NULL, 'pgw_analyst may not read payloads, hook tokens or idempotency keys');

CREATE ROLE ana_alice NOLOGIN IN ROLE pgw_analyst;
CREATE ROLE ana_team NOLOGIN IN ROLE pgw_analyst;
CREATE ROLE ana_bob NOLOGIN IN ROLE ana_team;
CREATE ROLE ana_carol NOLOGIN IN ROLE pgw_analyst_all;
CREATE ROLE ana_dave NOLOGIN IN ROLE pgw_analyst;
INSERT INTO workflow.analyst_apps (role_name, app_id)
VALUES ('ana_alice', 'ana_a'), ('ana_team', 'ana_b'), ('ana_ghost_role_that_does_not_exist', 'ana_c');

-- The privilege model forces row-level security on every table: the
-- analyst policies sit beside the tenant and service ones.
SELECT is((SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
            WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind = 'r'
              AND c.relname IN ('analyst_apps', 'runs', 'app_usage', 'k8s_bindings')
              AND c.relrowsecurity AND c.relforcerowsecurity),
          ARRAY['analyst_apps', 'app_usage', 'k8s_bindings', 'runs'], 'row-level security is forced on analyst_apps too');

SET LOCAL ROLE ana_alice;
SELECT is((SELECT array_agg(app_id ORDER BY app_id) FROM workflow_analytics.apps), ARRAY['ana_a'],
          'an analyst mapped to app a sees only app a');
SELECT is((SELECT count(*) FROM workflow_analytics.runs), 7::bigint, '... and its 7 runs');
SELECT is((SELECT array_agg(DISTINCT app_id) FROM workflow_analytics.workflow_stats), ARRAY['ana_a'],
          '... and only its workflows in the summaries');
SELECT is((SELECT sum(dead_letters) FROM workflow_analytics.queue_stats), 2::numeric, '... and its dead letters');
SELECT is((SELECT count(*) FROM workflow_analytics.deployment_stats), 4::bigint, '... and its versions');
SELECT is((SELECT array_agg(app_id) FROM workflow_analytics.analyst_apps), ARRAY['ana_a'], '... and only its own mapping');
SELECT is((SELECT array_agg(app_id || ':' || namespace) FROM workflow_analytics.k8s_bindings), ARRAY['ana_a:shop'],
          '... and only its app''s service-account bindings');
SELECT throws_ok($$ SELECT count(*) FROM workflow.runs $$, '42501', NULL, 'an analyst cannot read the tables directly');
SELECT throws_ok($$ SELECT workflow.get_run('ana_a', 'r1') $$, '42501', NULL, 'an analyst cannot call a read function');
SELECT throws_ok($$ SELECT workflow.create_event('ana_a', NULL, 'run_created', NULL, '{}', 3) $$, '42501', NULL,
                 'an analyst cannot call create_event');
SELECT throws_ok($$ INSERT INTO workflow.analyst_apps (role_name, app_id) VALUES ('ana_alice', 'ana_b') $$, '42501',
                 NULL, 'an analyst cannot widen its own mapping');
SELECT throws_ok($$ DELETE FROM workflow_analytics.runs $$, '42501', NULL, 'an analyst cannot delete through a view');
RESET ROLE;

SET LOCAL ROLE ana_bob;
SELECT is((SELECT array_agg(DISTINCT app_id) FROM workflow_analytics.runs), ARRAY['ana_b'],
          'a member of a mapped group role sees the group''s app');
RESET ROLE;

SET LOCAL ROLE ana_carol;
SELECT is((SELECT count(*) FROM workflow_analytics.apps WHERE app_id LIKE 'ana\_%'), 4::bigint,
          'a member of pgw_analyst_all sees every app');
SELECT is((SELECT count(*) FROM workflow_analytics.runs WHERE app_id LIKE 'ana\_%'), 9::bigint, '... and every run');
RESET ROLE;

SET LOCAL ROLE ana_dave;
SELECT is((SELECT count(*) FROM workflow_analytics.runs), 0::bigint, 'an analyst without a mapping sees nothing');
SELECT is((SELECT count(*) FROM workflow_analytics.queue_stats), 0::bigint, '... not even summaries');
RESET ROLE;

SET LOCAL ROLE pgw_tenant;
SELECT set_config('workflow.app_id', 'ana_a', true);
SELECT throws_ok($$ SELECT count(*) FROM workflow_analytics.runs $$, '42501', NULL,
                 'the tenant role of API requests has no access to the analytics schema');
SELECT is((SELECT count(*) FROM workflow.runs WHERE app_id = 'ana_b'), 0::bigint,
          'the analyst policies do not widen what a tenant request sees');
SELECT is((SELECT array_agg(role_name::text) FROM workflow.analyst_apps), ARRAY['ana_alice'],
          'a tenant request sees only its own app''s analyst mappings');
SELECT throws_ok($$ INSERT INTO workflow.analyst_apps (role_name, app_id) VALUES ('ana_dave', 'ana_a') $$, '42501',
                 NULL, 'nor can it add one');
RESET ROLE;

-- The service's own roles manage the mappings, for every app.
SET LOCAL ROLE pgw_service;
INSERT INTO workflow.analyst_apps (role_name, app_id) VALUES ('ana_dave', 'ana_b');
SELECT is((SELECT count(*) FROM workflow.analyst_apps WHERE role_name LIKE 'ana\_%'), 4::bigint,
          'pgw_service sees and adds mappings of every app');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
