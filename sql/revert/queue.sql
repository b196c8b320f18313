-- Revert pg-workflow:queue
BEGIN;
DROP FUNCTION workflow.enqueue(text, text, jsonb, text, text, numeric);
DROP FUNCTION workflow.count_enqueue(workflow.apps, timestamptz);
DROP TABLE workflow.queue_rate, workflow.messages, workflow.handlers, workflow.deployment_versions;
DROP FUNCTION workflow.absorb_pending_wakeup();
DROP FUNCTION workflow.notify_queue(timestamptz);
DROP FUNCTION workflow.lock_run(text, text);
DROP FUNCTION workflow.run_lock_key(text, text);
-- The deploy's GRANT USAGE ON ALL SEQUENCES also reached the streams change's
-- sequence, which had no grant before (identity columns need none).
DO $$ BEGIN
  IF to_regclass('workflow.streams_stream_seq_seq') IS NOT NULL THEN
    REVOKE USAGE ON SEQUENCE workflow.streams_stream_seq_seq FROM pgw_tenant;
  END IF;
END $$;
COMMIT;
