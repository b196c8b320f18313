-- Verify pg-workflow:events
BEGIN;
SELECT 'workflow.create_event(text, text, text, text, jsonb, integer, text)'::regprocedure,
       'workflow.append_event(workflow.apps, text, text, text, jsonb, integer, timestamptz)'::regprocedure,
       'workflow.insert_run(workflow.apps, text, jsonb, integer, timestamptz)'::regprocedure;
ROLLBACK;
