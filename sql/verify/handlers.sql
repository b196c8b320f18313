-- Verify pg-workflow:handlers
BEGIN;
SELECT 'workflow.register_handler(text, text, text, text, text, text)'::regprocedure,
       'workflow.unregister_handler(text, text)'::regprocedure,
       'workflow.expire_version(text, text)'::regprocedure,
       'workflow.lock_version(text, text)'::regprocedure;
ROLLBACK;
