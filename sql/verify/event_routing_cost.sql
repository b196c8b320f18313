-- Verify pg-workflow:event_routing_cost
BEGIN;
SELECT 1/(SELECT count(*)::integer FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
           WHERE p.oid = 'workflow.event_run_spec(text, text, text, integer)'::regprocedure AND l.lanname = 'plpgsql');
ROLLBACK;
