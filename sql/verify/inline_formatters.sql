-- Verify pg-workflow:inline_formatters
BEGIN;
DO $$
BEGIN
  ASSERT (SELECT provolatile FROM pg_proc WHERE oid = 'workflow.iso(timestamptz)'::regprocedure) = 's',
         'workflow.iso is not STABLE';
  ASSERT (SELECT provolatile FROM pg_proc WHERE oid = 'workflow.epoch_ms(timestamptz)'::regprocedure) = 's',
         'workflow.epoch_ms is not STABLE';
END $$;
ROLLBACK;
