-- Revert pg-workflow:entity_json
BEGIN;
DROP FUNCTION workflow.check_resolve_data(text);
DROP FUNCTION workflow.event_json(workflow.events, text);
DROP FUNCTION workflow.event_payload_fields(text);
DROP FUNCTION workflow.wait_json(workflow.waits);
DROP FUNCTION workflow.hook_json(workflow.hooks, text);
DROP FUNCTION workflow.step_json(workflow.steps, text);
DROP FUNCTION workflow.run_json(workflow.runs, text);
COMMIT;
