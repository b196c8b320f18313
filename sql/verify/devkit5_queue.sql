-- Verify pg-workflow:devkit5_queue
BEGIN;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant', 'workflow.enqueue_batch(text, jsonb)', 'EXECUTE'),
         'pgw_tenant cannot execute enqueue_batch';
  ASSERT (SELECT prosrc LIKE '%p_message -> ''stepId''%' FROM pg_proc
           WHERE oid = 'workflow.enqueue(text, text, jsonb, text, text, numeric)'::regprocedure),
         'enqueue does not detect DevKit 5 steps';
END $$;
ROLLBACK;
