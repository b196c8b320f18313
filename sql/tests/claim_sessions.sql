-- pgTAP: claims belong to dispatcher sessions. A session whose lock nobody
-- holds is "gone": here such sessions are rows inserted without a lock (as a
-- killed dispatcher leaves them). A live session held by another connection
-- is checked through dblink when the cluster has it.
BEGIN;
SELECT plan(30);

SELECT workflow.ensure_app('cs');
SELECT set_config('workflow.app_id', 'cs', true);  -- API functions act for the request's app only
SELECT workflow.register_handler('cs', 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
CREATE FUNCTION pg_temp.ghost(name text DEFAULT 'ghost:1') RETURNS integer  -- a session whose process died
LANGUAGE sql AS $$
  INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES (name, 0, clock_timestamp())
  RETURNING session_id $$;
CREATE FUNCTION pg_temp.enq(n integer, prefix text DEFAULT 'r') RETURNS void
LANGUAGE sql AS $$
  SELECT workflow.enqueue('cs', '__wkf_step_s', jsonb_build_object('workflowRunId', prefix || i), 'v1')
    FROM generate_series(1, n) i $$;
CREATE FUNCTION pg_temp.claim(session integer) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.claim_messages(session, 100, 300, 60) -> 'deliveries' $$;
CREATE FUNCTION pg_temp.held_by(session integer) RETURNS bigint
LANGUAGE sql AS $$
  SELECT count(*) FROM workflow.messages
   WHERE status = 'claimed' AND claimed_by = session AND lease_until > clock_timestamp() $$;
CREATE TEMP TABLE s (label text PRIMARY KEY, id integer);

-- Claims record their session.
INSERT INTO s VALUES ('a', pg_temp.ghost());
SELECT pg_temp.enq(3);
CREATE TEMP TABLE first_claim AS SELECT pg_temp.claim((SELECT id FROM s WHERE label = 'a')) AS d;
SELECT is(jsonb_array_length((SELECT d FROM first_claim)), 3, 'a session claims');
SELECT is((SELECT array_agg(c ->> 'dueAt' ORDER BY c ->> 'messageId') FROM first_claim, jsonb_array_elements(d) c),
          (SELECT array_agg(workflow.iso(m.due_at) ORDER BY m.message_id) FROM workflow.messages m WHERE m.app_id = 'cs'),
          'each claim carries when its message became due (dueAt: the start of the dispatch latency)');
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'a')), 3::bigint, 'its claims carry its session id');
SELECT ok((SELECT bool_and(lease_until > clock_timestamp() + interval '250 seconds') FROM workflow.messages
            WHERE app_id = 'cs'), 'with the full lease');
SELECT throws_ok('SELECT workflow.claim_messages(-1, 10, 30, 60)', 'PW409', NULL,
                 'an unknown session cannot claim');

-- A gone session: first marked lost, reaped only after the grace period.
SELECT is(workflow.reap_dispatcher_sessions(60), 0, 'a session found gone is not reaped at once');
SELECT isnt((SELECT lost_at FROM workflow.dispatcher_sessions WHERE session_id = (SELECT id FROM s WHERE label = 'a')),
            NULL, 'it is marked lost');
SELECT throws_ok(format('SELECT workflow.claim_messages(%s, 10, 30, 60)', (SELECT id FROM s WHERE label = 'a')),
                 'PW409', NULL, 'a lost session cannot claim');
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'a')), 3::bigint, 'its claims stay leased meanwhile');
UPDATE workflow.dispatcher_sessions SET lost_at = lost_at - interval '61 seconds'
 WHERE session_id = (SELECT id FROM s WHERE label = 'a');
SELECT is(workflow.reap_dispatcher_sessions(60), 3, 'after the grace period its claims are handed back');
SELECT ok((SELECT bool_and(status = 'claimed' AND lease_until = due_at AND due_at <= clock_timestamp())
             FROM workflow.messages WHERE app_id = 'cs'),
          'their leases end at their due time: due at once, in their old place in the queue');
SELECT isnt((SELECT reaped_at FROM workflow.dispatcher_sessions WHERE session_id = (SELECT id FROM s WHERE label = 'a')),
            NULL, 'the session is marked reaped');
SELECT is(workflow.resume_dispatcher_session((SELECT id FROM s WHERE label = 'a')), false,
          'a reaped session cannot be resumed');
SELECT pg_advisory_unlock_all();

-- Another session redelivers them, attempt + 1.
INSERT INTO s VALUES ('b', pg_temp.ghost('other:1'));
SELECT is((SELECT array_agg(DISTINCT (d ->> 'attempt')::integer) FROM jsonb_array_elements(
             pg_temp.claim((SELECT id FROM s WHERE label = 'b'))) d), ARRAY[2], 'the next claim redelivers them');
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'b')), 3::bigint, 'now under the new session');
SELECT is(workflow.reap_dispatcher_sessions(3600), 0, 'a reaped session is reaped again (nothing left)');

-- A claim that raced with the reap is handed back on a later round.
UPDATE workflow.messages SET claimed_by = (SELECT id FROM s WHERE label = 'a')
 WHERE message_seq = (SELECT min(message_seq) FROM workflow.messages WHERE app_id = 'cs');
SELECT is(workflow.reap_dispatcher_sessions(3600), 1, 'a late claim of a reaped session is handed back too');
SELECT workflow.resume_dispatcher_session((SELECT id FROM s WHERE label = 'b'));  -- the reaps found b gone too
SELECT is(jsonb_array_length(pg_temp.claim((SELECT id FROM s WHERE label = 'b'))), 1, 'and b takes it again');
UPDATE workflow.dispatcher_sessions SET reaped_at = reaped_at - interval '2 minutes', lost_at = lost_at - interval '2 minutes'
 WHERE session_id = (SELECT id FROM s WHERE label = 'a');
SELECT workflow.reap_dispatcher_sessions(3600);
SELECT is((SELECT count(*) FROM workflow.dispatcher_sessions WHERE session_id = (SELECT id FROM s WHERE label = 'a')),
          0::bigint, 'a minute after the reap the session is forgotten');

-- Resuming a lost session keeps its claims.
INSERT INTO s VALUES ('c', pg_temp.ghost('c:1'));
SELECT pg_temp.enq(2, 'c');
SELECT is(jsonb_array_length(pg_temp.claim((SELECT id FROM s WHERE label = 'c'))), 2, 'c claims two');
SELECT workflow.reap_dispatcher_sessions(3600);  -- found gone: lost
SELECT is(workflow.resume_dispatcher_session((SELECT id FROM s WHERE label = 'c')), true,
          'the owner resumes its lost session after reconnecting');
SELECT is((SELECT lost_at FROM workflow.dispatcher_sessions WHERE session_id = (SELECT id FROM s WHERE label = 'c')),
          NULL, 'it is no longer lost');
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'c')), 2::bigint, 'and keeps its claims');
SELECT pg_advisory_unlock_all();

-- A restart under the same name takes the dead predecessor's claims at once.
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'b')), 3::bigint, 'b still holds three claims');
INSERT INTO s VALUES ('b2', workflow.open_dispatcher_session('other:1'));
SELECT is(pg_temp.held_by((SELECT id FROM s WHERE label = 'b')), 0::bigint,
          'opening a session under the same name hands back the dead one''s claims at once');
SELECT is((SELECT pid FROM workflow.dispatcher_sessions WHERE session_id = (SELECT id FROM s WHERE label = 'b2')),
          pg_backend_pid(), 'the new session records the connection that holds its lock');

-- Closing a session gives back what it still holds and forgets it.
SELECT is(jsonb_array_length(pg_temp.claim((SELECT id FROM s WHERE label = 'b2'))), 3, 'b2 claims the three');
SELECT is(workflow.close_dispatcher_session((SELECT id FROM s WHERE label = 'b2')), 3, 'closing hands back three');
SELECT pg_advisory_unlock_all();

-- Only the service runs these.
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.reap_dispatcher_sessions(numeric)', 'EXECUTE')
          AND NOT has_function_privilege('pgw_tenant', 'workflow.open_dispatcher_session(text)', 'EXECUTE'),
          'tenants cannot run the session functions');
SELECT ok(NOT has_table_privilege('pgw_tenant', 'workflow.dispatcher_sessions', 'SELECT')
          AND NOT has_table_privilege('pgw_tenant', 'workflow.dispatcher_sessions', 'UPDATE'),
          'tenants cannot see or touch the sessions');

SELECT * FROM finish();
ROLLBACK;
