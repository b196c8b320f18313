-- Verify pg-workflow:route_by_app
BEGIN;
SELECT 1/(position('h.app_id = ANY (v_apps)' IN
              pg_get_functiondef('workflow.route_messages(bigint[], numeric, numeric, integer)'::regprocedure)) > 0)::integer;
ROLLBACK;
