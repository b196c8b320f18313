-- Verify pg-workflow:stream_write_sessions
BEGIN;
SELECT 'workflow.stream_writers'::regclass,
       'workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean)'::regprocedure;
DO $$
BEGIN
  ASSERT has_function_privilege('pgw_tenant',
           'workflow.write_stream_session(text, text, text, text, bigint, bytea[], boolean)', 'EXECUTE'),
         'pgw_tenant cannot execute write_stream_session';
END $$;
ROLLBACK;
