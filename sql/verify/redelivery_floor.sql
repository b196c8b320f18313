-- Verify pg-workflow:redelivery_floor
BEGIN;
SELECT 'workflow.ack_messages(jsonb, integer, numeric, numeric, numeric, numeric, numeric, numeric)'::regprocedure,
       'workflow.charge_redeliveries(text, integer, timestamptz)'::regprocedure;
ROLLBACK;
