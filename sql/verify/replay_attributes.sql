-- Verify pg-workflow:replay_attributes
BEGIN;
DO $$
BEGIN
  ASSERT (SELECT prosrc LIKE '%replayedFromRunId%' FROM pg_proc
           WHERE oid = 'workflow.replay_run(text, text, text)'::regprocedure),
         'replay_run does not carry a DevKit 5 run''s attributes';
END $$;
ROLLBACK;
