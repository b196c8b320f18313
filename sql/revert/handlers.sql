-- Revert pg-workflow:handlers
BEGIN;
DROP FUNCTION workflow.expire_version(text, text);
DROP FUNCTION workflow.unregister_handler(text, text);
DROP FUNCTION workflow.register_handler(text, text, text, text, text, text);
DROP FUNCTION workflow.lock_version(text, text);
COMMIT;
