-- Verify pg-workflow:claim_fairness
BEGIN;
SELECT 'workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)'::regprocedure,
       'workflow.with_run_snapshots(jsonb, bigint, bigint)'::regprocedure,
       'workflow.run_snapshot_bytes(text, text)'::regprocedure, 'workflow.next_due_in(text[])'::regprocedure,
       'workflow.messages_app_next'::regclass;
DO $$
BEGIN
  ASSERT NOT has_function_privilege('pgw_tenant',
           'workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)', 'EXECUTE'),
         'pgw_tenant may execute claim_messages';
END $$;
ROLLBACK;
