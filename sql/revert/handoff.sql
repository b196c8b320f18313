-- Revert pg-workflow:handoff
BEGIN;
DROP FUNCTION workflow.enqueue_handoff(text, text, jsonb, text, text, numeric, integer, numeric, numeric);
DROP FUNCTION workflow.create_event_handoff(text, text, text, text, jsonb, integer, text, bigint, jsonb, integer, numeric, numeric);
DROP FUNCTION workflow.handoff_message(text, text, integer, numeric, numeric);

CREATE OR REPLACE FUNCTION workflow.notify_queue(p_due timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_due IS NOT NULL THEN
    PERFORM pg_notify('workflow_queue',
                      greatest(0, ceil(extract(epoch FROM p_due - clock_timestamp()) * 1000))::bigint::text);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.notify_queue(timestamptz) IS
  'NOTIFY workflow_queue with the milliseconds until p_due (0: due now); nothing when p_due is NULL. Call once per transaction.';
SELECT workflow.expose_internal('workflow.notify_queue(timestamptz)');

SELECT workflow.expose_service('workflow.route_messages(bigint[], numeric, numeric, integer)');

REVOKE SELECT ON workflow.dispatcher_sessions FROM pgw_api;
DROP POLICY api_reads_sessions ON workflow.dispatcher_sessions;
COMMIT;
