-- Verify pg-workflow:queue_claims
BEGIN;
SELECT 'workflow.claim_messages(integer, numeric, numeric)'::regprocedure,
       'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric)'::regprocedure,
       'workflow.release_messages(jsonb)'::regprocedure,
       'workflow.route_messages(bigint[], numeric, numeric)'::regprocedure,
       'workflow.next_due_in()'::regprocedure,
       'workflow.retry_delay(integer, numeric, numeric)'::regprocedure;
ROLLBACK;
