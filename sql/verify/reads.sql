-- Verify pg-workflow:reads
BEGIN;
SELECT 'workflow.get_run(text, text, text)'::regprocedure,
       'workflow.list_runs(text, text, text, text, integer, text, text, text)'::regprocedure,
       'workflow.list_events(text, text, text, integer, text, text, text)'::regprocedure,
       'workflow.get_event(text, text, text, text)'::regprocedure,
       'workflow.get_step(text, text, text, text)'::regprocedure,
       'workflow.list_steps(text, text, integer, text, text, text)'::regprocedure,
       'workflow.list_hooks(text, text, integer, text, text, text)'::regprocedure,
       'workflow.get_hook(text, text, text)'::regprocedure,
       'workflow.get_hook_by_token(text, text, text)'::regprocedure;
ROLLBACK;
