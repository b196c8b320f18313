-- Verify pg-workflow:handler_policy
BEGIN;
SELECT 'workflow.register_handler(text, text, text, text, text, text, text)'::regprocedure,
       'workflow.handler_url_problem(text)'::regprocedure;
SELECT source_address FROM workflow.handlers WHERE false;
-- the URL rule really refuses what it must
SELECT 1 / (workflow.handler_url_problem('http://user@host/x') IS NOT NULL
            AND workflow.handler_url_problem(E'http://h/x\r\nX: y') IS NOT NULL
            AND workflow.handler_url_problem('http://10.1.2.3:3000/.well-known/workflow/v1/flow') IS NULL)::int;
SELECT 1 / (pg_get_functiondef('workflow.route_messages(bigint[], numeric, numeric)'::regprocedure)
            LIKE '%sourceAddress%')::int;
ROLLBACK;
