-- Revert pg-workflow:events
BEGIN;
DROP FUNCTION workflow.create_event(text, text, text, text, jsonb, integer, text);
DROP FUNCTION workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz);
DROP FUNCTION workflow.append_event(workflow.apps, text, text, text, jsonb, integer, timestamptz);
DROP FUNCTION workflow.error_json(jsonb, jsonb, jsonb);
DROP FUNCTION workflow.event_time(jsonb, text, boolean);
COMMIT;
