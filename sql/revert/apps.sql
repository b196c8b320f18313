-- Revert pg-workflow:apps
BEGIN;
DROP FUNCTION workflow.require_app(text);
DROP FUNCTION workflow.ensure_app(text);
DROP TABLE workflow.apps;
COMMIT;
