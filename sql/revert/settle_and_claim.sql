-- Revert pg-workflow:settle_and_claim
BEGIN;
DROP FUNCTION workflow.settle_and_claim(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric,
                                       integer, integer, numeric, integer, bigint, bigint, boolean);
COMMIT;
