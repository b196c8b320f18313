-- Deploy pg-workflow:event_log
-- The event log and the entities projected from it. Rows change only through
-- workflow.create_event (and the run actions built on it); the CHECK
-- constraints restate the state machines of docs/state-machines.md.
BEGIN;

CREATE TABLE workflow.runs (
  app_id            text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  run_id            text NOT NULL,
  run_seq           bigint GENERATED ALWAYS AS IDENTITY,
  status            text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  deployment_id     text NOT NULL,
  workflow_name     text NOT NULL,
  spec_version      integer,
  execution_context jsonb,
  input             jsonb,
  output            jsonb,
  error             jsonb,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  started_at        timestamptz,
  completed_at      timestamptz,
  expired_at        timestamptz,
  PRIMARY KEY (app_id, run_id),
  UNIQUE (run_seq),
  CONSTRAINT runs_finished_iff_terminal CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
  CONSTRAINT runs_running_was_started CHECK (status <> 'running' OR started_at IS NOT NULL),
  CONSTRAINT runs_output_only_completed CHECK (output IS NULL OR status = 'completed'),
  CONSTRAINT runs_error_only_failed CHECK (error IS NULL OR status = 'failed')
);
CREATE INDEX runs_by_app_seq ON workflow.runs (app_id, run_seq);
CREATE INDEX runs_by_workflow ON workflow.runs (app_id, workflow_name, run_seq);
CREATE INDEX runs_active ON workflow.runs (app_id, deployment_id) WHERE status IN ('pending', 'running');
COMMENT ON TABLE workflow.runs IS 'Workflow runs, one row per run, projected from its events. status: pending → running → completed | failed | cancelled.';
COMMENT ON COLUMN workflow.runs.run_seq IS 'Insertion order; the list cursor.';
COMMENT ON COLUMN workflow.runs.deployment_id IS 'Deployment version the run belongs to; its queue messages go to that version''s handlers.';
COMMENT ON COLUMN workflow.runs.workflow_name IS 'Machine name of the workflow function, e.g. workflow//./src/workflows/order//processOrder.';
COMMENT ON COLUMN workflow.runs.input IS 'Serialized input: {"__type":"Uint8Array","data":base64} for spec >= 2, any JSON for spec 1.';
COMMENT ON COLUMN workflow.runs.output IS 'Serialized output of a completed run.';
COMMENT ON COLUMN workflow.runs.error IS 'Error of a failed run: {message, stack?, code?}.';

CREATE TABLE workflow.steps (
  app_id       text NOT NULL,
  run_id       text NOT NULL,
  step_id      text NOT NULL,
  step_seq     bigint GENERATED ALWAYS AS IDENTITY,
  step_name    text NOT NULL,
  status       text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  attempt      integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  input        jsonb,
  output       jsonb,
  error        jsonb,
  retry_after  timestamptz,
  spec_version integer,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  started_at   timestamptz,
  completed_at timestamptz,
  PRIMARY KEY (app_id, run_id, step_id),
  FOREIGN KEY (app_id, run_id) REFERENCES workflow.runs ON DELETE CASCADE,
  CONSTRAINT steps_finished_iff_terminal CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
  CONSTRAINT steps_running_was_started CHECK (status <> 'running' OR (started_at IS NOT NULL AND attempt > 0)),
  CONSTRAINT steps_retry_only_pending CHECK (retry_after IS NULL OR status = 'pending')
);
-- No other index starts with (app_id, run_id): lookups by step must use the primary key
-- even before statistics exist (listing a run's steps sorts the few rows it has).
COMMENT ON TABLE workflow.steps IS 'Steps of runs (stepId = the events'' correlationId). status: pending → running → completed | failed, running → pending on retry.';
COMMENT ON COLUMN workflow.steps.attempt IS 'Times the step was started (step_started increments it).';
COMMENT ON COLUMN workflow.steps.retry_after IS 'A retrying step may not start before this time (425 Too Early).';

CREATE SEQUENCE workflow.event_seq;
COMMENT ON SEQUENCE workflow.event_seq IS 'Global event order. Events of one run are appended under the run''s row lock, so within a run sequence order is commit order.';

CREATE TABLE workflow.events (
  event_seq      bigint PRIMARY KEY DEFAULT nextval('workflow.event_seq'),
  app_id         text NOT NULL,
  run_id         text NOT NULL,
  run_ordinal    integer NOT NULL CHECK (run_ordinal > 0),
  event_id       text NOT NULL,
  event_type     text NOT NULL CHECK (event_type IN (
                   'run_created', 'run_started', 'run_completed', 'run_failed', 'run_cancelled',
                   'step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying',
                   'hook_created', 'hook_received', 'hook_disposed', 'hook_conflict',
                   'wait_created', 'wait_completed')),
  correlation_id text,
  event_data     jsonb,
  spec_version   integer,
  created_at     timestamptz NOT NULL,
  event_json     text NOT NULL,
  FOREIGN KEY (app_id, run_id) REFERENCES workflow.runs ON DELETE CASCADE
);
ALTER SEQUENCE workflow.event_seq OWNED BY workflow.events.event_seq;
CREATE UNIQUE INDEX events_by_id ON workflow.events (app_id, event_id);
CREATE UNIQUE INDEX events_by_run ON workflow.events (app_id, run_id, run_ordinal);
CREATE INDEX events_by_correlation ON workflow.events (app_id, correlation_id, event_seq) WHERE correlation_id IS NOT NULL;
COMMENT ON TABLE workflow.events IS 'The append-only event log of every run; runs, steps, hooks and waits are projections of it.';
COMMENT ON COLUMN workflow.events.event_id IS 'Public id: wevt_ + ULID of (created_at, event_seq), so ids sort like the log.';
COMMENT ON COLUMN workflow.events.run_ordinal IS 'Position of the event in its run''s log (1, 2, ...): the order and cursor of a run''s log; the quota max_events_per_run caps it.';
COMMENT ON COLUMN workflow.events.correlation_id IS 'The step, hook or wait the event is about.';
COMMENT ON COLUMN workflow.events.event_data IS 'Event payload as sent by the runtime (binary values as {"__type":"Uint8Array","data":base64}).';
COMMENT ON COLUMN workflow.events.event_json IS
  'The event as the API returns it, written once at append: every replay reads the whole log, and joining stored '
  'text is several times faster than rebuilding JSON per event (at the cost of storing eventData twice).';

CREATE TABLE workflow.hooks (
  app_id       text NOT NULL,
  run_id       text NOT NULL,
  hook_id      text NOT NULL,
  hook_seq     bigint GENERATED ALWAYS AS IDENTITY,
  token        text NOT NULL,
  metadata     jsonb,
  is_webhook   boolean NOT NULL DEFAULT true,
  spec_version integer,
  created_at   timestamptz NOT NULL,
  disposed_at  timestamptz,
  PRIMARY KEY (app_id, run_id, hook_id),
  FOREIGN KEY (app_id, run_id) REFERENCES workflow.runs ON DELETE CASCADE
);
CREATE UNIQUE INDEX hooks_live_token ON workflow.hooks (app_id, token) WHERE disposed_at IS NULL;
CREATE INDEX hooks_by_id ON workflow.hooks (app_id, hook_id);
COMMENT ON TABLE workflow.hooks IS 'Hooks waiting for external payloads. A live hook (disposed_at NULL) holds its token exclusively within its app.';
COMMENT ON COLUMN workflow.hooks.disposed_at IS 'When the hook was disposed (explicitly or by the run ending); its token is then free.';

CREATE TABLE workflow.waits (
  app_id       text NOT NULL,
  run_id       text NOT NULL,
  wait_id      text NOT NULL,
  status       text NOT NULL CHECK (status IN ('waiting', 'completed')),
  resume_at    timestamptz,
  spec_version integer,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  completed_at timestamptz,
  PRIMARY KEY (app_id, run_id, wait_id),
  FOREIGN KEY (app_id, run_id) REFERENCES workflow.runs ON DELETE CASCADE,
  CONSTRAINT waits_completed_iff_finished CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX waits_waiting ON workflow.waits (app_id, run_id) WHERE status = 'waiting';
COMMENT ON TABLE workflow.waits IS 'sleep() waits of runs (waitId = the events'' correlationId). status: waiting → completed.';

DO $$ BEGIN
  PERFORM workflow.enable_tenant_rls(t)
     FROM unnest(ARRAY['workflow.runs', 'workflow.steps', 'workflow.events', 'workflow.hooks', 'workflow.waits']::regclass[]) t;
END $$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA workflow TO pgw_tenant;

COMMIT;
