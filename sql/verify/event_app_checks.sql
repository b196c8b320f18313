-- Verify pg-workflow:event_app_checks
BEGIN;
SELECT 1/(position('v_app workflow.apps := workflow.require_app' IN pg_get_functiondef('workflow.create_event(text, text, text, text, jsonb, integer, text, bigint, jsonb, jsonb)'::regprocedure)) = 0)::integer;
ROLLBACK;
