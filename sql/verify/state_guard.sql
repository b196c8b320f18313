-- Verify pg-workflow:state_guard
BEGIN;
SELECT 'workflow.create_event(text, text, text, text, jsonb, integer, text, bigint)'::regprocedure,
       'workflow.create_event(text, text, text, text, jsonb, integer, text)'::regprocedure;
SELECT state_updated_at FROM workflow.runs WHERE false;
DO $$
BEGIN
  ASSERT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'workflow.steps'::regclass
           AND conname IN ('steps_output_only_completed', 'steps_started_iff_attempted')) = 2,
         'steps_output_only_completed / steps_started_iff_attempted missing';
  ASSERT (SELECT pg_get_constraintdef(oid) NOT LIKE '%cancelled%' FROM pg_constraint
           WHERE conrelid = 'workflow.steps'::regclass AND conname = 'steps_status_check'),
         'steps_status_check still allows cancelled';
END $$;
ROLLBACK;
