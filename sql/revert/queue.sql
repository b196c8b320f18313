-- Revert pg-workflow:queue
BEGIN;
DROP FUNCTION workflow.enqueue(text, text, jsonb, text, text, numeric);
DROP FUNCTION workflow.count_enqueue(workflow.apps, timestamptz);
DROP TABLE workflow.queue_rate, workflow.messages, workflow.handlers, workflow.deployment_versions;
DROP FUNCTION workflow.absorb_pending_wakeup();
DROP FUNCTION workflow.notify_queue(timestamptz);
DROP FUNCTION workflow.lock_run(text, text);
DROP FUNCTION workflow.run_lock_key(text, text);
COMMIT;
