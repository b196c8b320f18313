-- pgTAP: workflow.create_event — every transition and refusal of SPEC section 4.
BEGIN;
SELECT plan(78);

SELECT workflow.ensure_app('tap');
-- API functions act for the request's app only.
SELECT set_config('workflow.app_id', 'tap', true);
-- ev(run, type, correlation, data): create_event for app 'tap', spec 3.
CREATE FUNCTION pg_temp.ev(r text, t text, c text DEFAULT NULL, d jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap', r, t, c, d, 3)::jsonb $$;
CREATE FUNCTION pg_temp.ev_sql(r text, t text, c text DEFAULT NULL, d jsonb DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.ev(%L, %L, %L, %L)', r, t, c, d) $$;
CREATE FUNCTION pg_temp.events_of(r text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM workflow.events WHERE app_id = 'tap' AND run_id = r $$;

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV'''
\set input '''{"deploymentId":"dep1","workflowName":"wf//order","input":{"__type":"Uint8Array","data":"ZGV2bAABAg=="},"executionContext":{"k":1}}'''

-- run_created
SELECT is((pg_temp.ev(:run, 'run_created', NULL, :input::jsonb)) #>> '{run,status}', 'pending', 'run_created inserts a pending run');
SELECT is((SELECT input FROM workflow.runs WHERE run_id = :run), '{"__type":"Uint8Array","data":"ZGV2bAABAg=="}'::jsonb, 'run input is kept as sent');
SELECT is((SELECT execution_context FROM workflow.runs WHERE run_id = :run), '{"k":1}'::jsonb, 'executionContext is kept');
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_created', NULL, :input::jsonb), 'PW409', NULL, 'run_created twice: 409');
SELECT is(pg_temp.events_of(:run), 1::bigint, 'the refused duplicate appended nothing');
SELECT throws_ok(pg_temp.ev_sql('wrun_short', 'run_created', NULL, :input::jsonb), 'PW400', NULL, 'malformed runId: 400');
SELECT throws_ok(pg_temp.ev_sql(NULL, 'run_created', NULL, '{"workflowName":"x","input":null}'), 'PW400', NULL, 'run_created without deploymentId: 400');
SELECT matches(pg_temp.ev(NULL, 'run_created', NULL, :input::jsonb) #>> '{run,runId}', '^wrun_[0-9A-HJKMNP-TV-Z]{26}$', 'a null runId gets a server-made wrun_ ULID');
SELECT throws_ok(pg_temp.ev_sql(:run, 'bogus_event'), 'PW400', NULL, 'unknown eventType: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_conflict', 'h1', '{"token":"t"}'), 'PW400', NULL, 'hook_conflict is not creatable: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', NULL, '{"stepName":"s"}'), 'PW400', NULL, 'step event without correlationId: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_completed', NULL, '[1,2]'), 'PW400', NULL, 'eventData that is not an object: 400');
SELECT throws_ok(pg_temp.ev_sql('wrun_01ARZ3NDEKTSV4RRFFQ69G5FAA', 'run_started'), 'PW404', NULL, 'run_started on a missing run without data: 404');
SELECT throws_ok($$ SELECT set_config('workflow.app_id', 'nope', true), workflow.create_event('nope', NULL, 'run_created', NULL, '{}', 3) $$,
                 'PW404', NULL, 'unknown app: 404');

-- run_started returns the run and the whole log
SELECT is(pg_temp.ev(:run, 'run_started') #>> '{run,status}', 'running', 'run_started: running');
SELECT is((SELECT count(*) FROM workflow.runs WHERE run_id = :run AND started_at IS NOT NULL), 1::bigint, 'startedAt set');
SELECT is(jsonb_array_length(pg_temp.ev(:run, 'run_started') -> 'events'), 2, 'run_started again returns the log (2 events)');
SELECT is(pg_temp.events_of(:run), 2::bigint, 'run_started on a running run appends nothing');
SELECT is(pg_temp.ev(:run, 'run_started') -> 'hasMore', 'false'::jsonb, 'run_started says hasMore false');
SELECT ok(NOT (pg_temp.ev(:run, 'run_started') ? 'event'), 'a repeated run_started returns no event');

-- resilient start
\set rrun '''wrun_01ARZ3NDEKTSV4RRFFQ69G5FB0'''
SELECT is(pg_temp.ev(:rrun, 'run_started', NULL, :input::jsonb) #>> '{run,status}', 'running', 'resilient start creates and starts a missing run');
SELECT is((SELECT array_agg(event_type ORDER BY event_seq) FROM workflow.events WHERE run_id = :rrun), ARRAY['run_created', 'run_started'], 'resilient start logs run_created then run_started');
SELECT is((SELECT event_data FROM workflow.events WHERE run_id = :rrun AND event_type = 'run_started'), NULL, 'run_started keeps no eventData');

-- steps
SELECT is(pg_temp.ev(:run, 'step_created', 'step_1', '{"stepName":"step//add","input":{"__type":"Uint8Array","data":"AAA="}}') #>> '{step,status}', 'pending', 'step_created: pending');
SELECT is((SELECT attempt FROM workflow.steps WHERE step_id = 'step_1'), 0, 'attempt starts at 0');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 'step_1', '{"stepName":"step//add"}'), 'PW409', NULL, 'duplicate step: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 'step_x', '{}'), 'PW400', NULL, 'step_created without stepName: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 'missing'), 'PW404', NULL, 'step_started on a missing step: 404');
SELECT is(pg_temp.ev(:run, 'step_started', 'step_1') #>> '{step,attempt}', '1', 'step_started: attempt 1');
SELECT is((SELECT status FROM workflow.steps WHERE step_id = 'step_1'), 'running', 'step running');
SELECT is(pg_temp.ev(:run, 'step_retrying', 'step_1', $${"error":{"message":"boom","stack":"at x"},"retryAfter":"2999-01-01T00:00:00Z"}$$) #>> '{step,status}', 'pending', 'step_retrying: pending again');
SELECT is((SELECT error FROM workflow.steps WHERE step_id = 'step_1'), '{"message":"boom","stack":"at x"}'::jsonb, 'step_retrying records the error');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 'step_1'), 'PW425', NULL, 'step_started before retryAfter: 425');
SELECT is((SELECT attempt FROM workflow.steps WHERE step_id = 'step_1'), 1, 'the early start changed nothing');
UPDATE workflow.steps SET retry_after = clock_timestamp() - interval '1 second' WHERE step_id = 'step_1';
SELECT is(pg_temp.ev(:run, 'step_started', 'step_1') #>> '{step,attempt}', '2', 'step_started after retryAfter: attempt 2');
SELECT is((SELECT retry_after FROM workflow.steps WHERE step_id = 'step_1'), NULL, 'retryAfter cleared on start');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_retrying', 'step_1', '{"error":"x","retryAfter":"not a time"}'), 'PW400', NULL, 'malformed retryAfter: 400');
SELECT is(pg_temp.ev(:run, 'step_completed', 'step_1', '{"result":{"__type":"Uint8Array","data":"AAE="}}') #>> '{step,status}', 'completed', 'step_completed');
SELECT is((SELECT output FROM workflow.steps WHERE step_id = 'step_1'), '{"__type":"Uint8Array","data":"AAE="}'::jsonb, 'step output = result');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_completed', 'step_1', '{"result":1}'), 'PW409', NULL, 'step_completed on a completed step: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_failed', 'step_1', '{"error":"x"}'), 'PW409', NULL, 'step_failed on a completed step: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 'step_1'), 'PW409', NULL, 'step_started on a completed step: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_retrying', 'step_1', '{"error":"x"}'), 'PW409', NULL, 'step_retrying on a completed step: 409');
SELECT ok(pg_temp.ev(:run, 'step_created', 'step_2', '{"stepName":"s2"}') IS NOT NULL, 'second step');
SELECT ok(pg_temp.ev(:run, 'step_started', 'step_2') IS NOT NULL, 'second step started');
SELECT is(pg_temp.ev(:run, 'step_failed', 'step_2', '{"error":{"message":"bad"},"stack":"s"}') #>> '{step,error,message}', 'bad', 'step_failed keeps the message');
SELECT is((SELECT status FROM workflow.steps WHERE step_id = 'step_2'), 'failed', 'step failed');

-- hooks
SELECT is(pg_temp.ev(:run, 'hook_created', 'hook_1', '{"token":"tok-1","metadata":{"a":1}}') #>> '{hook,token}', 'tok-1', 'hook_created');
SELECT is((SELECT is_webhook FROM workflow.hooks WHERE hook_id = 'hook_1'), true, 'isWebhook defaults to true');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_created', 'hook_1', '{"token":"tok-other"}'), 'PW409', NULL, 'duplicate hook: 409');
SELECT is(pg_temp.ev(:rrun, 'hook_created', 'hook_9', '{"token":"tok-1"}') #>> '{event,eventType}', 'hook_conflict', 'a live token held by another run: hook_conflict');
SELECT is((SELECT event_data ->> 'conflictingRunId' FROM workflow.events WHERE run_id = :rrun AND event_type = 'hook_conflict'), :run, 'the conflict names the holding run');
SELECT is((SELECT count(*) FROM workflow.hooks WHERE hook_id = 'hook_9'), 0::bigint, 'no hook row for the conflict');
SELECT is(pg_temp.ev(:run, 'hook_received', 'hook_1', '{"payload":{"__type":"Uint8Array","data":"AA=="}}') #>> '{event,eventType}', 'hook_received', 'hook_received appends');
SELECT is(pg_temp.ev(:run, 'hook_received', 'hook_1', '{"payload":2}') #>> '{event,eventData,payload}', '2', 'hook_received again');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_received', 'nohook', '{"payload":1}'), 'PW404', NULL, 'hook_received on a missing hook: 404');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_disposed', 'nohook'), 'PW404', NULL, 'hook_disposed on a missing hook: 404');
SELECT ok(pg_temp.ev(:run, 'hook_disposed', 'hook_1') IS NOT NULL, 'hook_disposed');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_disposed', 'hook_1'), 'PW409', NULL, 'hook_disposed twice: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_received', 'hook_1', '{"payload":1}'), 'PW404', NULL, 'hook_received on a disposed hook: 404');
SELECT is(pg_temp.ev(:rrun, 'hook_created', 'hook_10', '{"token":"tok-1"}') #>> '{hook,token}', 'tok-1', 'a disposed hook frees its token');

-- waits
SELECT is(pg_temp.ev(:run, 'wait_created', 'wait_1', '{"resumeAt":"2030-01-01T00:00:00.000Z"}') #>> '{wait,status}', 'waiting', 'wait_created');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'wait_1', '{"resumeAt":"2030-01-01T00:00:00.000Z"}'), 'PW409', NULL, 'duplicate wait: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'wait_2', '{}'), 'PW400', NULL, 'wait_created without resumeAt: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_completed', 'nowait'), 'PW404', NULL, 'wait_completed on a missing wait: 404');
SELECT is(pg_temp.ev(:run, 'wait_completed', 'wait_1') #>> '{wait,status}', 'completed', 'wait_completed');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_completed', 'wait_1'), 'PW409', NULL, 'wait_completed twice: 409');

-- ending the run
SELECT ok(pg_temp.ev(:run, 'hook_created', 'hook_2', '{"token":"tok-2"}') IS NOT NULL, 'a live hook before the end');
SELECT ok(pg_temp.ev(:run, 'wait_created', 'wait_3', '{"resumeAt":"2030-01-01T00:00:00Z"}') IS NOT NULL, 'a waiting wait before the end');
SELECT ok(pg_temp.ev(:run, 'step_created', 'step_3', '{"stepName":"s3"}') IS NOT NULL, 'a pending step before the end');
SELECT is(pg_temp.ev(:run, 'run_completed', NULL, '{"output":{"__type":"Uint8Array","data":"AQ=="}}') #>> '{run,status}', 'completed', 'run_completed');
SELECT is((SELECT count(*) FROM workflow.hooks WHERE run_id = :run AND disposed_at IS NULL), 0::bigint, 'the ended run''s hooks are disposed');
SELECT is((SELECT count(*) FROM workflow.waits WHERE run_id = :run AND status = 'waiting'), 0::bigint, 'the ended run''s waits are completed');
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_completed', NULL, '{}'), 'PW409', NULL, 'run_completed on a terminal run: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_started'), 'PW410', NULL, 'run_started on a terminal run: 410');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 'step_3'), 'PW410', NULL, 'step_started on a pending step of an ended run: 410');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_created', 'step_4', '{"stepName":"s4"}'), 'PW409', NULL, 'step_created on an ended run: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'run_cancelled'), 'PW409', NULL, 'run_cancelled on a completed run: 409');

SELECT * FROM finish();
ROLLBACK;
