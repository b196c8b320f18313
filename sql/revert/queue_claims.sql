-- Revert pg-workflow:queue_claims
BEGIN;
DROP FUNCTION workflow.release_messages(jsonb);
DROP FUNCTION workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric);
DROP FUNCTION workflow.claim_messages(integer, numeric, numeric);
DROP FUNCTION workflow.route_messages(bigint[], numeric, numeric);
DROP FUNCTION workflow.retry_delay(integer, numeric, numeric);
DROP FUNCTION workflow.next_due_in();
COMMIT;
