-- Revert pg-workflow:claim_snapshot_plans
BEGIN;

CREATE OR REPLACE FUNCTION workflow.run_snapshot_bytes(p_app_id text, p_run_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
  -- octet_length of a stored text reads its size from the TOAST header: the
  -- log is measured without being read. The run's own fields count as stored.
  SELECT coalesce((SELECT sum(octet_length(e.event_json)) FROM workflow.events e
                    WHERE e.app_id = p_app_id AND e.run_id = p_run_id), 0)
       + coalesce((SELECT coalesce(pg_column_size(r.input), 0) + coalesce(pg_column_size(r.output), 0)
                        + coalesce(pg_column_size(r.error), 0) + coalesce(pg_column_size(r.execution_context), 0)
                     FROM workflow.runs r WHERE r.app_id = p_app_id AND r.run_id = p_run_id), 0)
       + 1024
$$;

CREATE OR REPLACE FUNCTION workflow.count_queued_bytes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_total bigint;
BEGIN
  SELECT * INTO a FROM workflow.apps WHERE app_id = NEW.app_id;
  IF NEW.payload_bytes > a.max_message_bytes THEN
    PERFORM workflow.refuse('PW413', 'WF_PAYLOAD_TOO_LARGE',
      format('quota maxMessageBytes exceeded: the message has %s bytes, app %s may enqueue at most %s',
             NEW.payload_bytes, NEW.app_id, a.max_message_bytes),
      jsonb_build_object('quota', 'maxMessageBytes', 'limit', a.max_message_bytes, 'bytes', NEW.payload_bytes));
  END IF;
  IF NEW.status IN ('queued', 'held', 'claimed') THEN
    SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(NEW.app_id, NEW.payload_bytes, 0) t;
    IF v_total > a.max_queued_bytes THEN
      PERFORM workflow.check_queued_bytes(a, v_total);
    END IF;
  END IF;
  RETURN NULL;
END $$;

COMMIT;
