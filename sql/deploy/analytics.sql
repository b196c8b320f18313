-- Deploy pg-workflow:analytics
-- SQL for people (SPEC §10): the schema workflow_analytics holds documented
-- views over the workflow tables — row views without payloads, and summaries
-- of run and step durations, failure rates, queue lag, dead letters and the
-- state of each deployment version — for analysts and operators.
--
-- Every view is security_invoker: it runs with the privileges and under the
-- row-level security of whoever queries it, so it shows nothing the querying
-- role could not read itself.
--
-- Roles (cluster-wide, NOLOGIN; grant them to login roles):
--   pgw_analyst      USAGE on workflow_analytics and SELECT on its views;
--                    SELECT on the non-payload columns the views read. No
--                    USAGE on schema workflow: it can neither read the tables
--                    directly nor call any workflow.* function. Row-level
--                    security shows it only the apps that
--                    workflow.analyst_apps maps to it (or to a role it is a
--                    member of).
--   pgw_analyst_all  member of pgw_analyst; sees every app.
-- (Role names starting with pg_ are reserved by PostgreSQL, hence pgw_.)
-- The analyst policies sit beside the privilege model's (tenant_policies):
-- they are FOR SELECT and name only the analyst roles, so they widen nothing
-- for pgw_tenant, pgw_api or pgw_service. workflow.analyst_apps is a tenant
-- table like the others (forced row-level security, app_id): the service
-- roles manage it, a tenant request sees only its own app's mappings.
--
-- API: none. SERVICE: none. INTERNAL: none (views, one table, policies).
BEGIN;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgw_analyst') THEN
    CREATE ROLE pgw_analyst NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by another database's deploy
END $$;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgw_analyst_all') THEN
    CREATE ROLE pgw_analyst_all NOLOGIN IN ROLE pgw_analyst;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END $$;
COMMENT ON ROLE pgw_analyst IS
  'pg-workflow: read-only analyst; reads the workflow_analytics views of the apps workflow.analyst_apps maps to it';
COMMENT ON ROLE pgw_analyst_all IS 'pg-workflow: read-only analyst of every app (member of pgw_analyst)';

-- Which apps an analyst may see -------------------------------------------
CREATE TABLE workflow.analyst_apps (
  role_name  name NOT NULL,
  app_id     text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (role_name, app_id)
);
CREATE INDEX analyst_apps_by_app ON workflow.analyst_apps (app_id);
COMMENT ON TABLE workflow.analyst_apps IS
  'Apps a member of pgw_analyst may read: a row (role, app) lets that role and every role that is a member of it '
  'see the app''s rows through the workflow_analytics views. Maintained with INSERT/DELETE by a member of '
  'pgw_service (the deploying role); rows of roles that do not exist match nobody.';
COMMENT ON COLUMN workflow.analyst_apps.role_name IS 'A role (login or group) that is, or is a member of, pgw_analyst.';
COMMENT ON COLUMN workflow.analyst_apps.app_id IS 'The app the role may read.';
COMMENT ON COLUMN workflow.analyst_apps.granted_at IS 'When the mapping was added.';

SELECT workflow.enable_tenant_rls('workflow.analyst_apps');
-- An analyst sees the mappings of the roles it is a member of (itself
-- included); pg_has_role on an OID is false, not an error, for a role that
-- is gone, so a stale row never breaks anyone's query.
CREATE POLICY analyst_own_mappings ON workflow.analyst_apps FOR SELECT TO pgw_analyst
  USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname = analyst_apps.role_name AND pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY analyst_all_mappings ON workflow.analyst_apps FOR SELECT TO pgw_analyst_all USING (true);
GRANT SELECT ON workflow.analyst_apps TO pgw_analyst;

-- Read policies on the tenant tables the views read -------------------------
DO $$
DECLARE
  t regclass;
BEGIN
  FOREACH t IN ARRAY ARRAY['workflow.apps', 'workflow.runs', 'workflow.steps', 'workflow.events', 'workflow.hooks',
                           'workflow.waits', 'workflow.messages', 'workflow.deployment_versions',
                           'workflow.handlers', 'workflow.app_usage', 'workflow.k8s_bindings']::regclass[] LOOP
    EXECUTE format('CREATE POLICY analyst_mapped_apps ON %s FOR SELECT TO pgw_analyst '
                   'USING (app_id IN (SELECT m.app_id FROM workflow.analyst_apps m))', t);
    EXECUTE format('CREATE POLICY analyst_all_apps ON %s FOR SELECT TO pgw_analyst_all USING (true)', t);
  END LOOP;
END $$;

-- Column privileges: the views read these, and only these (no run/step
-- input or output, no event payloads, hook tokens or metadata, message
-- payloads or idempotency keys, handler URLs or source addresses). Without USAGE on schema
-- workflow they are reachable only through the views.
GRANT SELECT (app_id, max_runs, max_events_per_run, max_queue_per_minute, created_at) ON workflow.apps TO pgw_analyst;
GRANT SELECT (app_id, run_id, status, deployment_id, workflow_name, spec_version, error, created_at, updated_at,
              started_at, completed_at, expired_at) ON workflow.runs TO pgw_analyst;
GRANT SELECT (app_id, run_id, step_id, step_name, status, attempt, error, retry_after, created_at, updated_at,
              started_at, completed_at) ON workflow.steps TO pgw_analyst;
GRANT SELECT (app_id, run_id, event_seq, run_ordinal, event_id, event_type, correlation_id, spec_version, created_at)
  ON workflow.events TO pgw_analyst;
GRANT SELECT (app_id, run_id, hook_id, is_webhook, created_at, disposed_at) ON workflow.hooks TO pgw_analyst;
GRANT SELECT (app_id, run_id, wait_id, status, resume_at, created_at, updated_at, completed_at)
  ON workflow.waits TO pgw_analyst;
GRANT SELECT (app_id, message_seq, message_id, queue_name, kind, run_id, deployment_id, status, attempt, failures,
              due_at, lease_until, pod_id, last_error, created_at, updated_at, delivered_at, dead_at)
  ON workflow.messages TO pgw_analyst;
GRANT SELECT (app_id, deployment_id, created_at, expired_at) ON workflow.deployment_versions TO pgw_analyst;
GRANT SELECT (app_id, pod_id, deployment_version, registered_at, seen_at, refused_since, cooldown_until)
  ON workflow.handlers TO pgw_analyst;
GRANT SELECT (app_id, active_runs) ON workflow.app_usage TO pgw_analyst;
GRANT SELECT (app_id, namespace, service_account, created_at) ON workflow.k8s_bindings TO pgw_analyst;

-- The views ------------------------------------------------------------------
CREATE SCHEMA workflow_analytics;
COMMENT ON SCHEMA workflow_analytics IS
  'pg-workflow for people: documented read-only views (no payloads) over the workflow schema — runs, steps, events, '
  'queue, deployments, and summaries of durations, failure rates and queue lag. Every view runs as the querying '
  'role (security_invoker), under its row-level security. Grant pgw_analyst (apps in workflow.analyst_apps) or '
  'pgw_analyst_all (every app). Examples: docs/sql.md.';
GRANT USAGE ON SCHEMA workflow_analytics TO pgw_analyst;

CREATE VIEW workflow_analytics.apps WITH (security_invoker = true) AS
SELECT a.app_id, a.max_runs, a.max_events_per_run, a.max_queue_per_minute, a.created_at,
       coalesce(u.active_runs, 0) AS active_runs
  FROM workflow.apps a
  LEFT JOIN workflow.app_usage u ON u.app_id = a.app_id;
COMMENT ON VIEW workflow_analytics.apps IS
  'Applications (tenants) the querying role may see, with their quotas and the active runs counted against maxRuns.';
COMMENT ON COLUMN workflow_analytics.apps.app_id IS 'Application id (/api/v1/apps/:appId).';
COMMENT ON COLUMN workflow_analytics.apps.max_runs IS 'Quota: runs active at once.';
COMMENT ON COLUMN workflow_analytics.apps.max_events_per_run IS 'Quota: events per run.';
COMMENT ON COLUMN workflow_analytics.apps.max_queue_per_minute IS 'Quota: messages enqueued per minute.';
COMMENT ON COLUMN workflow_analytics.apps.created_at IS 'When the app was created.';
COMMENT ON COLUMN workflow_analytics.apps.active_runs IS
  'Runs pending or running, as counted for the maxRuns quota (workflow.app_usage).';

CREATE VIEW workflow_analytics.runs WITH (security_invoker = true) AS
SELECT r.app_id, r.run_id, r.workflow_name, r.deployment_id, r.status,
       r.status IN ('completed', 'failed', 'cancelled') AS finished,
       r.error ->> 'message' AS error_message, r.error ->> 'code' AS error_code,
       r.created_at, r.started_at, r.completed_at, r.updated_at, r.expired_at,
       extract(epoch FROM r.completed_at - r.created_at)::double precision AS duration_seconds,
       r.spec_version
  FROM workflow.runs r;
COMMENT ON VIEW workflow_analytics.runs IS 'One row per workflow run, without input or output.';
COMMENT ON COLUMN workflow_analytics.runs.app_id IS 'The app the run belongs to.';
COMMENT ON COLUMN workflow_analytics.runs.run_id IS 'Run id (wrun_…).';
COMMENT ON COLUMN workflow_analytics.runs.workflow_name IS 'Machine name of the workflow function.';
COMMENT ON COLUMN workflow_analytics.runs.deployment_id IS 'Deployment version of the run.';
COMMENT ON COLUMN workflow_analytics.runs.status IS 'pending | running | completed | failed | cancelled.';
COMMENT ON COLUMN workflow_analytics.runs.finished IS 'True once the run is completed, failed or cancelled.';
COMMENT ON COLUMN workflow_analytics.runs.error_message IS 'Error message of a failed run.';
COMMENT ON COLUMN workflow_analytics.runs.error_code IS 'Error code of a failed run (the runtime''s errorCode), if any.';
COMMENT ON COLUMN workflow_analytics.runs.created_at IS 'When the run was created.';
COMMENT ON COLUMN workflow_analytics.runs.started_at IS 'First run_started.';
COMMENT ON COLUMN workflow_analytics.runs.completed_at IS 'When the run finished.';
COMMENT ON COLUMN workflow_analytics.runs.updated_at IS 'Last change.';
COMMENT ON COLUMN workflow_analytics.runs.expired_at IS 'When the run was expired with its version.';
COMMENT ON COLUMN workflow_analytics.runs.duration_seconds IS 'created_at → completed_at in seconds; NULL while unfinished.';
COMMENT ON COLUMN workflow_analytics.runs.spec_version IS 'DevKit spec version.';

CREATE VIEW workflow_analytics.steps WITH (security_invoker = true) AS
SELECT s.app_id, s.run_id, s.step_id, s.step_name, s.status, s.attempt,
       s.error ->> 'message' AS error_message, s.error ->> 'code' AS error_code,
       s.created_at, s.started_at, s.completed_at, s.updated_at, s.retry_after,
       extract(epoch FROM s.completed_at - s.started_at)::double precision AS duration_seconds,
       extract(epoch FROM s.started_at - s.created_at)::double precision AS wait_seconds
  FROM workflow.steps s;
COMMENT ON VIEW workflow_analytics.steps IS 'One row per step of a run, without input or output.';
COMMENT ON COLUMN workflow_analytics.steps.app_id IS 'The app the step belongs to.';
COMMENT ON COLUMN workflow_analytics.steps.run_id IS 'The run the step belongs to.';
COMMENT ON COLUMN workflow_analytics.steps.step_id IS 'Step id (correlationId of its events).';
COMMENT ON COLUMN workflow_analytics.steps.step_name IS 'Machine name of the step function.';
COMMENT ON COLUMN workflow_analytics.steps.status IS 'pending | running | completed | failed | cancelled.';
COMMENT ON COLUMN workflow_analytics.steps.attempt IS 'Times the step was started (1 = no retry).';
COMMENT ON COLUMN workflow_analytics.steps.error_message IS 'Message of the latest failure or retry.';
COMMENT ON COLUMN workflow_analytics.steps.error_code IS 'Code of the latest failure or retry, if any.';
COMMENT ON COLUMN workflow_analytics.steps.created_at IS 'When the step was created.';
COMMENT ON COLUMN workflow_analytics.steps.started_at IS 'First start (kept across retries).';
COMMENT ON COLUMN workflow_analytics.steps.completed_at IS 'When the step finished.';
COMMENT ON COLUMN workflow_analytics.steps.updated_at IS 'Last change.';
COMMENT ON COLUMN workflow_analytics.steps.retry_after IS 'A retrying step does not start before this time.';
COMMENT ON COLUMN workflow_analytics.steps.duration_seconds IS
  'First start → finish in seconds, retries and their back-off included; NULL while unfinished.';
COMMENT ON COLUMN workflow_analytics.steps.wait_seconds IS 'Creation → first start in seconds (queueing and dispatch).';

CREATE VIEW workflow_analytics.events WITH (security_invoker = true) AS
SELECT e.app_id, e.run_id, e.event_seq, e.run_ordinal, e.event_id, e.event_type, e.correlation_id, e.created_at,
       e.spec_version
  FROM workflow.events e;
COMMENT ON VIEW workflow_analytics.events IS 'The event log without payloads: what happened to which run, step, hook or wait, and when.';
COMMENT ON COLUMN workflow_analytics.events.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.events.run_id IS 'The run whose log holds the event.';
COMMENT ON COLUMN workflow_analytics.events.event_seq IS 'Global append order.';
COMMENT ON COLUMN workflow_analytics.events.run_ordinal IS 'Position in the run''s log (1, 2, …).';
COMMENT ON COLUMN workflow_analytics.events.event_id IS 'Public event id (wevt_…).';
COMMENT ON COLUMN workflow_analytics.events.event_type IS 'run_*, step_*, hook_*, wait_* (docs/state-machines.md).';
COMMENT ON COLUMN workflow_analytics.events.correlation_id IS 'The step, hook or wait the event is about (steps.step_id etc.).';
COMMENT ON COLUMN workflow_analytics.events.created_at IS 'When the event was appended.';
COMMENT ON COLUMN workflow_analytics.events.spec_version IS 'DevKit spec version.';

CREATE VIEW workflow_analytics.hooks WITH (security_invoker = true) AS
SELECT h.app_id, h.run_id, h.hook_id, h.is_webhook, h.disposed_at IS NULL AS live, h.created_at, h.disposed_at
  FROM workflow.hooks h;
COMMENT ON VIEW workflow_analytics.hooks IS 'Hooks of runs, without tokens or metadata.';
COMMENT ON COLUMN workflow_analytics.hooks.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.hooks.run_id IS 'The run that created the hook.';
COMMENT ON COLUMN workflow_analytics.hooks.hook_id IS 'Hook id.';
COMMENT ON COLUMN workflow_analytics.hooks.is_webhook IS 'Reachable as a webhook.';
COMMENT ON COLUMN workflow_analytics.hooks.live IS 'True until the hook is disposed (then its token is free).';
COMMENT ON COLUMN workflow_analytics.hooks.created_at IS 'When the hook was created.';
COMMENT ON COLUMN workflow_analytics.hooks.disposed_at IS 'When the hook was disposed.';

CREATE VIEW workflow_analytics.waits WITH (security_invoker = true) AS
SELECT w.app_id, w.run_id, w.wait_id, w.status, w.resume_at, w.created_at, w.completed_at, w.updated_at
  FROM workflow.waits w;
COMMENT ON VIEW workflow_analytics.waits IS 'sleep() waits of runs.';
COMMENT ON COLUMN workflow_analytics.waits.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.waits.run_id IS 'The sleeping run.';
COMMENT ON COLUMN workflow_analytics.waits.wait_id IS 'Wait id.';
COMMENT ON COLUMN workflow_analytics.waits.status IS 'waiting | completed.';
COMMENT ON COLUMN workflow_analytics.waits.resume_at IS 'When the sleep ends.';
COMMENT ON COLUMN workflow_analytics.waits.created_at IS 'When the wait was created.';
COMMENT ON COLUMN workflow_analytics.waits.completed_at IS 'When it completed.';
COMMENT ON COLUMN workflow_analytics.waits.updated_at IS 'Last change.';

CREATE VIEW workflow_analytics.messages WITH (security_invoker = true) AS
SELECT m.app_id, m.message_id, m.queue_name, m.kind, m.run_id, m.deployment_id, m.status, m.attempt, m.failures,
       m.created_at, m.due_at, m.lease_until, m.pod_id, m.delivered_at, m.dead_at, m.last_error, m.updated_at,
       CASE WHEN m.status IN ('queued', 'held') AND m.due_at <= now()
            THEN extract(epoch FROM now() - m.due_at)::double precision END AS lag_seconds,
       m.message_seq
  FROM workflow.messages m;
COMMENT ON VIEW workflow_analytics.messages IS
  'Queue messages without payloads. Dead letters are the rows with status dead; delivered rows are kept only for '
  'the idempotency retention (WF_QUEUE_RETENTION_SECONDS).';
COMMENT ON COLUMN workflow_analytics.messages.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.messages.message_id IS 'Message id (msg_…), the x-vqs-message-id header.';
COMMENT ON COLUMN workflow_analytics.messages.queue_name IS 'DevKit queue (__wkf_workflow_<workflow>, __wkf_step_<step>).';
COMMENT ON COLUMN workflow_analytics.messages.kind IS 'workflow | step.';
COMMENT ON COLUMN workflow_analytics.messages.run_id IS 'The run the message belongs to.';
COMMENT ON COLUMN workflow_analytics.messages.deployment_id IS 'The version whose handlers get it (NULL: handlers without a version).';
COMMENT ON COLUMN workflow_analytics.messages.status IS 'queued | held | claimed | delivered | dead.';
COMMENT ON COLUMN workflow_analytics.messages.attempt IS 'Deliveries started.';
COMMENT ON COLUMN workflow_analytics.messages.failures IS 'Failed deliveries since the last answered one.';
COMMENT ON COLUMN workflow_analytics.messages.created_at IS 'When it was enqueued.';
COMMENT ON COLUMN workflow_analytics.messages.due_at IS 'When a queued message may be delivered.';
COMMENT ON COLUMN workflow_analytics.messages.lease_until IS 'End of the current claim.';
COMMENT ON COLUMN workflow_analytics.messages.pod_id IS 'The handler the current claim delivers to.';
COMMENT ON COLUMN workflow_analytics.messages.delivered_at IS 'When it was delivered.';
COMMENT ON COLUMN workflow_analytics.messages.dead_at IS 'When it became a dead letter.';
COMMENT ON COLUMN workflow_analytics.messages.last_error IS 'Reason of the latest failed delivery.';
COMMENT ON COLUMN workflow_analytics.messages.updated_at IS 'Last state change.';
COMMENT ON COLUMN workflow_analytics.messages.lag_seconds IS
  'For a queued or held message that is due: seconds it has been waiting past due_at (at the query''s transaction time); else NULL.';
COMMENT ON COLUMN workflow_analytics.messages.message_seq IS 'Enqueue order.';

CREATE VIEW workflow_analytics.deployment_versions WITH (security_invoker = true) AS
SELECT v.app_id, v.deployment_id, v.created_at, v.expired_at FROM workflow.deployment_versions v;
COMMENT ON VIEW workflow_analytics.deployment_versions IS 'Deployment versions that registered handlers or were expired.';
COMMENT ON COLUMN workflow_analytics.deployment_versions.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.deployment_versions.deployment_id IS 'Version id.';
COMMENT ON COLUMN workflow_analytics.deployment_versions.created_at IS 'First registration.';
COMMENT ON COLUMN workflow_analytics.deployment_versions.expired_at IS 'When it was expired; NULL while active.';

CREATE VIEW workflow_analytics.handlers WITH (security_invoker = true) AS
SELECT h.app_id, h.pod_id, h.deployment_version, h.registered_at, h.seen_at, h.refused_since, h.cooldown_until
  FROM workflow.handlers h;
COMMENT ON VIEW workflow_analytics.handlers IS 'Registered app processes (pods) taking deliveries, without their URLs.';
COMMENT ON COLUMN workflow_analytics.handlers.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.handlers.pod_id IS 'Pod or machine id.';
COMMENT ON COLUMN workflow_analytics.handlers.deployment_version IS 'Version it serves (NULL: any message without a version).';
COMMENT ON COLUMN workflow_analytics.handlers.registered_at IS 'First registration.';
COMMENT ON COLUMN workflow_analytics.handlers.seen_at IS 'Latest registration (heartbeat).';
COMMENT ON COLUMN workflow_analytics.handlers.refused_since IS 'Refusing connections since (NULL: answering).';
COMMENT ON COLUMN workflow_analytics.handlers.cooldown_until IS 'Gets no deliveries before this time.';

CREATE VIEW workflow_analytics.k8s_bindings WITH (security_invoker = true) AS
SELECT b.app_id, b.namespace, b.service_account, b.created_at FROM workflow.k8s_bindings b;
COMMENT ON VIEW workflow_analytics.k8s_bindings IS
  'Kubernetes service accounts (system:serviceaccount:<namespace>:<name>) allowed to act for each app.';
COMMENT ON COLUMN workflow_analytics.k8s_bindings.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.k8s_bindings.namespace IS 'Namespace of the service account.';
COMMENT ON COLUMN workflow_analytics.k8s_bindings.service_account IS 'Name of the service account.';
COMMENT ON COLUMN workflow_analytics.k8s_bindings.created_at IS 'When the binding was created.';

CREATE VIEW workflow_analytics.analyst_apps WITH (security_invoker = true) AS
SELECT m.role_name, m.app_id, m.granted_at FROM workflow.analyst_apps m;
COMMENT ON VIEW workflow_analytics.analyst_apps IS
  'The mappings that give the querying analyst its apps (all mappings for pgw_analyst_all and the owner).';
COMMENT ON COLUMN workflow_analytics.analyst_apps.role_name IS 'The mapped role (the analyst or a group it belongs to).';
COMMENT ON COLUMN workflow_analytics.analyst_apps.app_id IS 'The app it may read.';
COMMENT ON COLUMN workflow_analytics.analyst_apps.granted_at IS 'When the mapping was added.';

-- Summaries ----------------------------------------------------------------
CREATE VIEW workflow_analytics.workflow_stats WITH (security_invoker = true) AS
SELECT r.app_id, r.workflow_name,
       count(*) AS runs,
       count(*) FILTER (WHERE r.status IN ('pending', 'running')) AS active_runs,
       count(*) FILTER (WHERE r.status = 'completed') AS completed_runs,
       count(*) FILTER (WHERE r.status = 'failed') AS failed_runs,
       count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled_runs,
       (count(*) FILTER (WHERE r.status = 'failed'))::double precision
         / nullif(count(*) FILTER (WHERE r.status IN ('completed', 'failed')), 0) AS failure_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.completed_at - r.created_at))
         FILTER (WHERE r.status IN ('completed', 'failed')) AS p50_duration_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.completed_at - r.created_at))
         FILTER (WHERE r.status IN ('completed', 'failed')) AS p95_duration_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM r.completed_at - r.created_at))
         FILTER (WHERE r.status IN ('completed', 'failed')) AS p99_duration_seconds,
       min(r.created_at) AS first_run_at,
       max(r.created_at) AS last_run_at
  FROM workflow.runs r
 GROUP BY r.app_id, r.workflow_name;
COMMENT ON VIEW workflow_analytics.workflow_stats IS
  'Per app and workflow: run counts by outcome, failure rate and run duration percentiles, over the runs still '
  'stored (terminal runs are purged after their retention). Filter workflow_analytics.runs for a time window.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.workflow_name IS 'Machine name of the workflow.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.runs IS 'Runs stored.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.active_runs IS 'Runs pending or running.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.completed_runs IS 'Runs completed.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.failed_runs IS 'Runs failed.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.cancelled_runs IS 'Runs cancelled.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.failure_rate IS
  'failed / (completed + failed), 0..1; cancelled runs count as neither; NULL before any run finished.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.p50_duration_seconds IS
  'Median created → finished time of completed and failed runs, in seconds (continuous percentile).';
COMMENT ON COLUMN workflow_analytics.workflow_stats.p95_duration_seconds IS '95th percentile of the same durations.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.p99_duration_seconds IS '99th percentile of the same durations.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.first_run_at IS 'Creation of the oldest stored run.';
COMMENT ON COLUMN workflow_analytics.workflow_stats.last_run_at IS 'Creation of the newest run.';

CREATE VIEW workflow_analytics.step_stats WITH (security_invoker = true) AS
SELECT s.app_id, s.step_name,
       count(*) AS steps,
       count(*) FILTER (WHERE s.status IN ('pending', 'running')) AS active_steps,
       count(*) FILTER (WHERE s.status = 'completed') AS completed_steps,
       count(*) FILTER (WHERE s.status = 'failed') AS failed_steps,
       (count(*) FILTER (WHERE s.status = 'failed'))::double precision
         / nullif(count(*) FILTER (WHERE s.status IN ('completed', 'failed')), 0) AS failure_rate,
       count(*) FILTER (WHERE s.attempt > 1) AS retried_steps,
       sum(s.attempt) AS attempts,
       avg(s.attempt) FILTER (WHERE s.attempt > 0)::double precision AS avg_attempts,
       max(s.attempt) AS max_attempts,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.completed_at - s.started_at))
         FILTER (WHERE s.status = 'completed') AS p50_duration_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM s.completed_at - s.started_at))
         FILTER (WHERE s.status = 'completed') AS p95_duration_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.completed_at - s.started_at))
         FILTER (WHERE s.status = 'completed') AS p99_duration_seconds
  FROM workflow.steps s
 GROUP BY s.app_id, s.step_name;
COMMENT ON VIEW workflow_analytics.step_stats IS
  'Per app and step name: step counts by outcome, failure rate, attempts (retries) and duration percentiles of '
  'completed steps, over the steps still stored.';
COMMENT ON COLUMN workflow_analytics.step_stats.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.step_stats.step_name IS 'Machine name of the step.';
COMMENT ON COLUMN workflow_analytics.step_stats.steps IS 'Steps stored.';
COMMENT ON COLUMN workflow_analytics.step_stats.active_steps IS 'Steps pending (possibly between retries) or running.';
COMMENT ON COLUMN workflow_analytics.step_stats.completed_steps IS 'Steps completed.';
COMMENT ON COLUMN workflow_analytics.step_stats.failed_steps IS 'Steps failed for good.';
COMMENT ON COLUMN workflow_analytics.step_stats.failure_rate IS 'failed / (completed + failed), 0..1; NULL before any finished.';
COMMENT ON COLUMN workflow_analytics.step_stats.retried_steps IS 'Steps started more than once.';
COMMENT ON COLUMN workflow_analytics.step_stats.attempts IS 'Starts of all its steps together.';
COMMENT ON COLUMN workflow_analytics.step_stats.avg_attempts IS 'Mean starts per started step.';
COMMENT ON COLUMN workflow_analytics.step_stats.max_attempts IS 'Most starts of one step.';
COMMENT ON COLUMN workflow_analytics.step_stats.p50_duration_seconds IS
  'Median first start → completion of completed steps, in seconds (retries included).';
COMMENT ON COLUMN workflow_analytics.step_stats.p95_duration_seconds IS '95th percentile of the same durations.';
COMMENT ON COLUMN workflow_analytics.step_stats.p99_duration_seconds IS '99th percentile of the same durations.';

CREATE VIEW workflow_analytics.queue_stats WITH (security_invoker = true) AS
SELECT m.app_id, m.queue_name, min(m.kind) AS kind,
       count(*) FILTER (WHERE m.status = 'queued') AS queued,
       count(*) FILTER (WHERE m.status IN ('queued', 'held') AND m.due_at <= now()) AS due,
       count(*) FILTER (WHERE m.status = 'held') AS held,
       count(*) FILTER (WHERE m.status = 'claimed') AS in_flight,
       count(*) FILTER (WHERE m.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE m.status = 'dead') AS dead_letters,
       extract(epoch FROM now() - min(m.due_at) FILTER (
         WHERE m.status IN ('queued', 'held') AND m.due_at <= now()))::double precision AS max_lag_seconds,
       max(m.attempt) FILTER (WHERE m.status IN ('queued', 'held', 'claimed')) AS max_attempt,
       max(m.dead_at) AS last_dead_at
  FROM workflow.messages m
 GROUP BY m.app_id, m.queue_name;
COMMENT ON VIEW workflow_analytics.queue_stats IS
  'Per app and queue: messages by state, how late the oldest due message is (queue lag) and dead letters. '
  'Times are relative to the query''s transaction start (now()).';
COMMENT ON COLUMN workflow_analytics.queue_stats.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.queue_stats.queue_name IS 'DevKit queue name.';
COMMENT ON COLUMN workflow_analytics.queue_stats.kind IS 'workflow | step.';
COMMENT ON COLUMN workflow_analytics.queue_stats.queued IS 'Messages waiting for their due time or a dispatcher.';
COMMENT ON COLUMN workflow_analytics.queue_stats.due IS 'Queued or held messages whose due time has passed (the backlog).';
COMMENT ON COLUMN workflow_analytics.queue_stats.held IS 'Messages whose version has no live handler.';
COMMENT ON COLUMN workflow_analytics.queue_stats.in_flight IS 'Messages claimed by a dispatcher (being delivered).';
COMMENT ON COLUMN workflow_analytics.queue_stats.delivered IS 'Delivered messages still kept for idempotency.';
COMMENT ON COLUMN workflow_analytics.queue_stats.dead_letters IS 'Dead letters.';
COMMENT ON COLUMN workflow_analytics.queue_stats.max_lag_seconds IS
  'Seconds the oldest due, undelivered (queued or held) message has waited past its due time; NULL when none.';
COMMENT ON COLUMN workflow_analytics.queue_stats.max_attempt IS 'Highest attempt among undelivered messages.';
COMMENT ON COLUMN workflow_analytics.queue_stats.last_dead_at IS 'When the latest dead letter died.';

CREATE VIEW workflow_analytics.deployment_stats WITH (security_invoker = true) AS
WITH r AS (
  SELECT app_id, deployment_id, count(*) AS runs,
         count(*) FILTER (WHERE status IN ('pending', 'running')) AS active_runs, max(created_at) AS last_run_at
    FROM workflow.runs GROUP BY app_id, deployment_id
), h AS (
  SELECT r.app_id, r.deployment_id, count(*) AS live_hooks
    FROM workflow.hooks h JOIN workflow.runs r ON r.app_id = h.app_id AND r.run_id = h.run_id
   WHERE h.disposed_at IS NULL GROUP BY r.app_id, r.deployment_id
), w AS (
  SELECT r.app_id, r.deployment_id, count(*) AS waiting_waits
    FROM workflow.waits w JOIN workflow.runs r ON r.app_id = w.app_id AND r.run_id = w.run_id
   WHERE w.status = 'waiting' GROUP BY r.app_id, r.deployment_id
), m AS (
  SELECT app_id, deployment_id,
         count(*) FILTER (WHERE status IN ('queued', 'held', 'claimed')) AS queued_messages,
         count(*) FILTER (WHERE status = 'dead') AS dead_letters
    FROM workflow.messages GROUP BY app_id, deployment_id
), hd AS (
  SELECT app_id, deployment_version AS deployment_id, count(*) AS handlers
    FROM workflow.handlers GROUP BY app_id, deployment_version
), k AS (
  SELECT app_id, deployment_id FROM r
  UNION SELECT app_id, deployment_id FROM workflow.deployment_versions
  UNION SELECT app_id, deployment_id FROM m
  UNION SELECT app_id, deployment_id FROM hd
)
SELECT k.app_id, k.deployment_id, v.expired_at,
       coalesce(r.runs, 0) AS runs, coalesce(r.active_runs, 0) AS active_runs,
       coalesce(h.live_hooks, 0) AS live_hooks, coalesce(w.waiting_waits, 0) AS waiting_waits,
       coalesce(m.queued_messages, 0) AS queued_messages, coalesce(m.dead_letters, 0) AS dead_letters,
       coalesce(hd.handlers, 0) AS handlers, r.last_run_at
  FROM k
  LEFT JOIN workflow.deployment_versions v ON v.app_id = k.app_id AND v.deployment_id = k.deployment_id
  LEFT JOIN r ON r.app_id = k.app_id AND r.deployment_id = k.deployment_id
  LEFT JOIN h ON h.app_id = k.app_id AND h.deployment_id = k.deployment_id
  LEFT JOIN w ON w.app_id = k.app_id AND w.deployment_id = k.deployment_id
  LEFT JOIN m ON m.app_id = k.app_id AND m.deployment_id IS NOT DISTINCT FROM k.deployment_id
  LEFT JOIN hd ON hd.app_id = k.app_id AND hd.deployment_id IS NOT DISTINCT FROM k.deployment_id;
COMMENT ON VIEW workflow_analytics.deployment_stats IS
  'Per app and deployment version: runs and active runs, live hooks and waiting waits of its runs, undelivered '
  'messages and dead letters, registered handlers — what must drain before a version can be retired.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.app_id IS 'The app.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.deployment_id IS
  'Deployment version (NULL: messages and handlers without a version).';
COMMENT ON COLUMN workflow_analytics.deployment_stats.expired_at IS 'When the version was expired; NULL while active.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.runs IS 'Runs of the version still stored.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.active_runs IS 'Runs pending or running.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.live_hooks IS 'Hooks of its runs not yet disposed.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.waiting_waits IS 'Waits of its runs still waiting.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.queued_messages IS 'Messages queued, held or in flight.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.dead_letters IS 'Dead letters.';
COMMENT ON COLUMN workflow_analytics.deployment_stats.handlers IS 'Registered handlers (pods).';
COMMENT ON COLUMN workflow_analytics.deployment_stats.last_run_at IS 'Creation of its newest run.';

GRANT SELECT ON workflow_analytics.apps, workflow_analytics.analyst_apps, workflow_analytics.runs, workflow_analytics.steps, workflow_analytics.events,
                workflow_analytics.hooks, workflow_analytics.waits, workflow_analytics.messages,
                workflow_analytics.deployment_versions, workflow_analytics.handlers, workflow_analytics.k8s_bindings,
                workflow_analytics.workflow_stats, workflow_analytics.step_stats, workflow_analytics.queue_stats,
                workflow_analytics.deployment_stats
   TO pgw_analyst;

COMMIT;
