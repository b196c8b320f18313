-- Verify pg-workflow:settle_and_claim
BEGIN;
SELECT 'workflow.settle_and_claim(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric, integer, '
       'integer, numeric, integer, bigint, bigint, boolean)'::text::regprocedure;
ROLLBACK;
