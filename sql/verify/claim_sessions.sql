-- Verify pg-workflow:claim_sessions
BEGIN;
SELECT session_id, name, pid, backend_start, opened_at, lost_at, reaped_at FROM workflow.dispatcher_sessions WHERE false;
SELECT claimed_by FROM workflow.messages WHERE false;
SELECT 'workflow.messages_claimed_by'::regclass,
       'workflow.session_lock_class()'::regprocedure,
       'workflow.session_gone(integer)'::regprocedure,
       'workflow.reap_session(integer, timestamptz)'::regprocedure,
       'workflow.open_dispatcher_session(text)'::regprocedure,
       'workflow.resume_dispatcher_session(integer)'::regprocedure,
       'workflow.close_dispatcher_session(integer)'::regprocedure,
       'workflow.reap_dispatcher_sessions(numeric)'::regprocedure,
       'workflow.route_messages(bigint[], numeric, numeric, integer)'::regprocedure,
       'workflow.claim_messages(integer, integer, numeric, numeric)'::regprocedure;
-- Only the service's own role may run them.
SELECT 1 / (NOT has_function_privilege('pgw_tenant', 'workflow.claim_messages(integer, integer, numeric, numeric)',
                                       'EXECUTE'))::integer;
ROLLBACK;
