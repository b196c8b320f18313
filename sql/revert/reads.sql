-- Revert pg-workflow:reads
BEGIN;
DROP FUNCTION workflow.get_hook_by_token(text, text, text);
DROP FUNCTION workflow.get_hook(text, text, text);
DROP FUNCTION workflow.list_hooks(text, text, integer, text, text, text);
DROP FUNCTION workflow.list_steps(text, text, integer, text, text, text);
DROP FUNCTION workflow.get_step(text, text, text, text);
DROP FUNCTION workflow.get_event(text, text, text, text);
DROP FUNCTION workflow.list_events(text, text, text, integer, text, text, text);
DROP FUNCTION workflow.list_runs(text, text, text, text, integer, text, text, text);
DROP FUNCTION workflow.get_run(text, text, text);
DROP FUNCTION workflow.page_clause(text, bigint, text, integer);
DROP FUNCTION workflow.page_of_text(text, integer, text);
DROP FUNCTION workflow.page_of(text, integer, text);
DROP FUNCTION workflow.check_cursor(text);
DROP FUNCTION workflow.check_sort(text, text);
DROP FUNCTION workflow.check_limit(integer, integer);
COMMIT;
