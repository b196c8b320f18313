-- Revert pg-workflow:metrics
BEGIN;
DROP FUNCTION workflow.metrics_snapshot();
DROP TRIGGER messages_count_dead_update ON workflow.messages;
DROP TRIGGER messages_count_dead_insert ON workflow.messages;
DROP FUNCTION workflow.count_dead_letter();
DROP SEQUENCE workflow.dead_lettered_count;
COMMIT;
