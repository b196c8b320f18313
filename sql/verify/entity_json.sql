-- Verify pg-workflow:entity_json
BEGIN;
SELECT 'workflow.run_json(workflow.runs, text)'::regprocedure, 'workflow.step_json(workflow.steps, text)'::regprocedure,
       'workflow.hook_json(workflow.hooks, text)'::regprocedure, 'workflow.wait_json(workflow.waits)'::regprocedure,
       'workflow.event_json(workflow.events, text)'::regprocedure, 'workflow.check_resolve_data(text)'::regprocedure;
SELECT 1 / (workflow.event_payload_fields('step_completed') = ARRAY['result'])::int;
ROLLBACK;
