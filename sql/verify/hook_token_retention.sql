-- Verify pg-workflow:hook_token_retention
BEGIN;
SELECT 'workflow.hook_token_released(text, timestamptz, timestamptz)'::regprocedure,
       'workflow.release_hook_token(text, text, timestamptz)'::regprocedure,
       'workflow.release_kept_hooks(integer)'::regprocedure,
       'workflow.hooks_kept'::regclass;
DO $$
BEGIN
  ASSERT (SELECT prosrc LIKE '%release_hook_token%' FROM pg_proc
           WHERE oid = 'workflow.create_event_v4(text, text, text, text, jsonb, integer, text, bigint)'::regprocedure),
         'create_event_v4 does not release expired kept tokens';
END $$;
ROLLBACK;
