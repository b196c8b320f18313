-- Deploy pg-workflow:column_comments
-- Documents every column the earlier changes left without a COMMENT, so that
-- `\d+ workflow.<table>` explains every column to people querying directly
-- (SPEC §10). sql/tests/catalog_comments.sql fails on any undocumented
-- table, view or column, including ones added later.
-- API: none. SERVICE: none. INTERNAL: none.
BEGIN;

COMMENT ON COLUMN workflow.apps.created_at IS 'When the app was created (POST /api/v1/apps, or at start for the implicit app).';

COMMENT ON COLUMN workflow.deployment_versions.app_id IS 'The app the version belongs to.';
COMMENT ON COLUMN workflow.deployment_versions.deployment_id IS 'Deployment version id (the DevKit deploymentId / handler deploymentVersion).';
COMMENT ON COLUMN workflow.deployment_versions.created_at IS 'When a handler first registered for the version (or it was expired before that).';

COMMENT ON COLUMN workflow.events.event_seq IS 'Global append order (sequence workflow.event_seq); within one run it is commit order.';
COMMENT ON COLUMN workflow.events.app_id IS 'The app the event belongs to.';
COMMENT ON COLUMN workflow.events.run_id IS 'The run whose log the event is part of.';
COMMENT ON COLUMN workflow.events.event_type IS 'run_created, run_started, run_completed, run_failed, run_cancelled, step_*, hook_*, wait_*: see docs/state-machines.md.';
COMMENT ON COLUMN workflow.events.spec_version IS 'DevKit spec version the runtime wrote the event with.';
COMMENT ON COLUMN workflow.events.created_at IS 'When the event was appended (database clock).';

COMMENT ON COLUMN workflow.handlers.app_id IS 'The app whose messages the pod takes.';
COMMENT ON COLUMN workflow.handlers.pod_id IS 'The registering process (podId or machineId); unique within the app.';
COMMENT ON COLUMN workflow.handlers.workflow_url IS 'Endpoint for *wkf_workflow_* messages (the app''s /.well-known/workflow/v1/flow).';
COMMENT ON COLUMN workflow.handlers.step_url IS 'Endpoint for *wkf_step_* messages (the app''s /.well-known/workflow/v1/step).';
COMMENT ON COLUMN workflow.handlers.webhook_url IS 'The app''s webhook endpoint, as registered (informational).';
COMMENT ON COLUMN workflow.handlers.registered_at IS 'First registration of this pod.';

COMMENT ON COLUMN workflow.hooks.app_id IS 'The app the hook belongs to.';
COMMENT ON COLUMN workflow.hooks.run_id IS 'The run that created the hook.';
COMMENT ON COLUMN workflow.hooks.hook_id IS 'Hook id (the hook_created event''s correlationId).';
COMMENT ON COLUMN workflow.hooks.hook_seq IS 'Insertion order; the list cursor.';
COMMENT ON COLUMN workflow.hooks.token IS 'Token external callers resume the hook with; a live hook holds it exclusively within its app.';
COMMENT ON COLUMN workflow.hooks.metadata IS 'Serialized hook metadata as sent by the runtime.';
COMMENT ON COLUMN workflow.hooks.is_webhook IS 'Whether the hook is reachable as a webhook (default true).';
COMMENT ON COLUMN workflow.hooks.spec_version IS 'DevKit spec version of the hook_created event.';
COMMENT ON COLUMN workflow.hooks.created_at IS 'When the hook was created.';

COMMENT ON COLUMN workflow.messages.message_seq IS 'Enqueue order; claims and dead-letter lists page on it.';
COMMENT ON COLUMN workflow.messages.app_id IS 'The app that enqueued the message.';
COMMENT ON COLUMN workflow.messages.queue_name IS 'DevKit queue name: __wkf_workflow_<workflow> or __wkf_step_<step> (optionally with a prefix).';
COMMENT ON COLUMN workflow.messages.idempotency_key IS 'Caller''s idempotency key: a repeated key returns this message instead of a new one.';
COMMENT ON COLUMN workflow.messages.payload IS 'The message JSON, delivered as the request body.';
COMMENT ON COLUMN workflow.messages.status IS 'queued | held | claimed | delivered | dead (see the table comment).';
COMMENT ON COLUMN workflow.messages.last_error IS 'Short sanitised reason of the latest failed delivery (or why it is dead).';
COMMENT ON COLUMN workflow.messages.created_at IS 'When the message was enqueued.';
COMMENT ON COLUMN workflow.messages.updated_at IS 'Last state change.';
COMMENT ON COLUMN workflow.messages.delivered_at IS 'When a handler answered 2xx without timeoutSeconds (status delivered).';
COMMENT ON COLUMN workflow.messages.dead_at IS 'When the message became a dead letter.';
COMMENT ON COLUMN workflow.messages.next_at IS 'When a dispatcher must next look at it: due_at if queued, lease_until if claimed (generated).';

COMMENT ON COLUMN workflow.queue_rate.app_id IS 'The app whose enqueues are counted.';
COMMENT ON COLUMN workflow.queue_rate.minute IS 'The minute counted (truncated time).';
COMMENT ON COLUMN workflow.queue_rate.slot IS 'Counter slot within the minute (spreads concurrent enqueues over rows).';
COMMENT ON COLUMN workflow.queue_rate.enqueued IS 'Messages enqueued in this slot and minute.';

COMMENT ON COLUMN workflow.runs.app_id IS 'The app the run belongs to.';
COMMENT ON COLUMN workflow.runs.run_id IS 'Run id, wrun_ + ULID; unique within the app.';
COMMENT ON COLUMN workflow.runs.status IS 'pending | running | completed | failed | cancelled.';
COMMENT ON COLUMN workflow.runs.spec_version IS 'DevKit spec version the run was created with.';
COMMENT ON COLUMN workflow.runs.execution_context IS 'Runtime execution context passed with run_created.';
COMMENT ON COLUMN workflow.runs.created_at IS 'When the run was created (run_created).';
COMMENT ON COLUMN workflow.runs.updated_at IS 'Last change of the run row.';
COMMENT ON COLUMN workflow.runs.started_at IS 'First run_started.';
COMMENT ON COLUMN workflow.runs.completed_at IS 'When the run reached a terminal status (completed, failed or cancelled).';
COMMENT ON COLUMN workflow.runs.expired_at IS 'When the run was expired with its deployment version.';

COMMENT ON COLUMN workflow.steps.app_id IS 'The app the step belongs to.';
COMMENT ON COLUMN workflow.steps.run_id IS 'The run the step belongs to.';
COMMENT ON COLUMN workflow.steps.step_id IS 'Step id (the step events'' correlationId); unique within the run.';
COMMENT ON COLUMN workflow.steps.step_seq IS 'Insertion order; the list cursor.';
COMMENT ON COLUMN workflow.steps.step_name IS 'Machine name of the step function, e.g. step//./src/workflows/order//chargeCard.';
COMMENT ON COLUMN workflow.steps.status IS 'pending | running | completed | failed | cancelled.';
COMMENT ON COLUMN workflow.steps.input IS 'Serialized step input (binary JSON form for spec >= 2).';
COMMENT ON COLUMN workflow.steps.output IS 'Serialized result of a completed step.';
COMMENT ON COLUMN workflow.steps.error IS 'Error of the latest failure or retry: {message, stack?, code?}.';
COMMENT ON COLUMN workflow.steps.spec_version IS 'DevKit spec version of the step_created event.';
COMMENT ON COLUMN workflow.steps.created_at IS 'When the step was created (step_created).';
COMMENT ON COLUMN workflow.steps.updated_at IS 'Last change of the step row.';
COMMENT ON COLUMN workflow.steps.started_at IS 'First step_started (kept across retries).';
COMMENT ON COLUMN workflow.steps.completed_at IS 'When the step reached a terminal status.';

COMMENT ON COLUMN workflow.stream_chunks.app_id IS 'The app the stream belongs to.';
COMMENT ON COLUMN workflow.stream_chunks.name IS 'The stream the chunk belongs to.';
COMMENT ON COLUMN workflow.stream_chunks.chunk_index IS 'Dense position of the chunk in its stream, from 0.';

COMMENT ON COLUMN workflow.streams.app_id IS 'The app the stream belongs to.';
COMMENT ON COLUMN workflow.streams.stream_seq IS 'Creation order; the list cursor of a run''s streams.';
COMMENT ON COLUMN workflow.streams.created_at IS 'First write.';
COMMENT ON COLUMN workflow.streams.updated_at IS 'Latest write or close.';

COMMENT ON COLUMN workflow.waits.app_id IS 'The app the wait belongs to.';
COMMENT ON COLUMN workflow.waits.run_id IS 'The run that sleeps.';
COMMENT ON COLUMN workflow.waits.wait_id IS 'Wait id (the wait events'' correlationId); unique within the run.';
COMMENT ON COLUMN workflow.waits.status IS 'waiting | completed.';
COMMENT ON COLUMN workflow.waits.resume_at IS 'When the sleep ends (the workflow message is deferred until then).';
COMMENT ON COLUMN workflow.waits.spec_version IS 'DevKit spec version of the wait_created event.';
COMMENT ON COLUMN workflow.waits.created_at IS 'When the wait was created.';
COMMENT ON COLUMN workflow.waits.updated_at IS 'Last change of the wait row.';
COMMENT ON COLUMN workflow.waits.completed_at IS 'When the wait completed (wait_completed or wake-up).';

COMMIT;
