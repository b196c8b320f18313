-- Verify pg-workflow:dead_letters
BEGIN;
SELECT 'workflow.list_dead_letters(text, integer, text, text)'::regprocedure,
       'workflow.retry_dead_letter(text, text)'::regprocedure,
       'workflow.message_json(workflow.messages)'::regprocedure;
ROLLBACK;
