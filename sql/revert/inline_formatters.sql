-- Revert pg-workflow:inline_formatters
BEGIN;
ALTER FUNCTION workflow.iso(timestamptz) IMMUTABLE;
ALTER FUNCTION workflow.epoch_ms(timestamptz) IMMUTABLE;
COMMIT;
