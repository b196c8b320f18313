-- Verify pg-workflow:request_context
BEGIN;
SELECT 'workflow.request_context(text)'::regprocedure;
ROLLBACK;
