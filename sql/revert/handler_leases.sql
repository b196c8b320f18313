-- Revert pg-workflow:handler_leases
BEGIN;
DROP FUNCTION workflow.register_handler(text, text, text, text, text, text, text, text[], numeric);
ALTER TABLE workflow.handlers DROP COLUMN expires_at;
COMMIT;
