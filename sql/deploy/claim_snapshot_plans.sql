-- Deploy pg-workflow:claim_snapshot_plans
-- Two costs of the queue hop found by timing every function per DevKit step
-- (bench.devkit_workloads --only profile, track_functions):
--   * run_snapshot_bytes, which every workflow delivery to a "run-started"
--     handler calls before building the run's snapshot, was a SQL function
--     with sub-selects called from PL/pgSQL: not inlined there, so planned
--     again on every call (~0.3 ms per delivery, as event_run_spec was before
--     event_routing_cost). Now PL/pgSQL, whose statements are planned once per
--     connection. Same result.
--   * The enqueue trigger counted a message's bytes through add_app_bytes (a
--     function call, and both totals summed). It now updates this backend's
--     counter row itself and sums only the queued bytes; add_app_bytes stays
--     for the first row of a backend. Same counts, same checks.
-- INTERNAL: run_snapshot_bytes(text, text), count_queued_bytes() (replaced)
BEGIN;

CREATE OR REPLACE FUNCTION workflow.run_snapshot_bytes(p_app_id text, p_run_id text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_events bigint;
  v_fields bigint;
BEGIN
  -- octet_length of a stored text reads its size from the TOAST header: the
  -- log is measured without being read. The run's own fields count as stored.
  SELECT coalesce(sum(octet_length(e.event_json)), 0) INTO v_events
    FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = p_run_id;
  SELECT coalesce(pg_column_size(r.input), 0) + coalesce(pg_column_size(r.output), 0)
         + coalesce(pg_column_size(r.error), 0) + coalesce(pg_column_size(r.execution_context), 0)
    INTO v_fields
    FROM workflow.runs r WHERE r.app_id = p_app_id AND r.run_id = p_run_id;
  RETURN v_events + coalesce(v_fields, 0) + 1024;
END $$;

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
    -- This backend's row, whose RETURNING sums the app's rows as they were
    -- before it (so the total adds this message once).
    UPDATE workflow.app_byte_usage AS u SET queued_bytes = u.queued_bytes + NEW.payload_bytes
     WHERE u.app_id = NEW.app_id AND u.backend_pid = pg_backend_pid()
    RETURNING (SELECT sum(t.queued_bytes) FROM workflow.app_byte_usage t WHERE t.app_id = NEW.app_id)
              + NEW.payload_bytes
      INTO v_total;
    IF NOT FOUND THEN  -- this backend's first message of the app
      SELECT t.queued_bytes INTO v_total FROM workflow.add_app_bytes(NEW.app_id, NEW.payload_bytes, 0) t;
    END IF;
    IF v_total > a.max_queued_bytes THEN
      PERFORM workflow.check_queued_bytes(a, v_total);
    END IF;
  END IF;
  RETURN NULL;
END $$;

COMMIT;
