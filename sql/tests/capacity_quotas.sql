-- pgTAP: capacity_quotas — the new quotas in the admin functions, message size
-- (413) and undelivered bytes (429) on every path that queues a message,
-- the byte counters following deliveries, purges and folds, stream storage
-- (413/429), bounded list_streams and template, the opaque NOTIFY key, and
-- two sessions enqueueing for one app without waiting for each other (dblink:
-- the sessions commit, their app is deleted at the end).
BEGIN;
SELECT plan(48);
CREATE EXTENSION IF NOT EXISTS dblink;

SELECT workflow.create_app('cap_a');
SELECT set_config('workflow.app_id', 'cap_a', true);
CREATE FUNCTION pg_temp.queued() RETURNS bigint LANGUAGE sql AS $$ SELECT (workflow.app_bytes('cap_a')).queued_bytes $$;
CREATE FUNCTION pg_temp.streamed() RETURNS bigint LANGUAGE sql AS $$ SELECT (workflow.app_bytes('cap_a')).stream_bytes $$;
CREATE FUNCTION pg_temp.step(n integer, pad integer DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.enqueue('cap_a', '__wkf_step_s', jsonb_build_object('workflowRunId', 'wrun_x', 'stepId', 'step_' || n,
                                                                      'pad', repeat('x', pad)))
$$;

-- Admin: defaults, subsets, validation
SELECT is(workflow.get_quotas('cap_a'),
          '{"maxRuns": 100000, "maxEventsPerRun": 100000, "maxQueuePerMinute": 600000, "maxMessageBytes": 262144,
            "maxQueuedBytes": 1073741824, "maxStreamBytes": 10737418240, "maxConcurrentRequests": 0}'::jsonb,
          'get_quotas lists every quota with its default');
SELECT is(workflow.set_quotas('cap_a', '{"maxMessageBytes": 1000, "maxConcurrentRequests": 3}') ->> 'maxQueuedBytes',
          '1073741824', 'set_quotas of a subset keeps the others');
SELECT is(workflow.request_caps() -> 'cap_a', '3'::jsonb, 'request_caps answers the apps'' maxConcurrentRequests');
SELECT is(workflow.request_caps() ? 'default', false, 'but not of apps with the replica default (0)');
SELECT throws_ok($$ SELECT workflow.set_quotas('cap_a', '{"maxQueuedBytes": 0}') $$, 'PW400',
                 'maxQueuedBytes must be an integer between 1 and 9007199254740991, not 0', 'byte quotas are positive');
SELECT throws_ok($$ SELECT workflow.set_quotas('cap_a', '{"maxConcurrentRequests": 100001}') $$, 'PW400', NULL,
                 'maxConcurrentRequests has an upper bound');
SELECT throws_ok($$ SELECT workflow.set_quotas('cap_a', '{"maxStreamBytes": 1.5}') $$, 'PW400', NULL,
                 'quotas are integers');
SELECT throws_ok($$ SELECT workflow.set_quotas('cap_a', '{"maxMessageBytes": 5, "maxBytes": 1}') $$, 'PW400', NULL,
                 'an unknown quota is refused');
SELECT is((SELECT max_message_bytes FROM workflow.apps WHERE app_id = 'cap_a'), 1000, 'and nothing changes');
SELECT lives_ok($$ SELECT workflow.set_quotas('cap_a', '{"maxConcurrentRequests": 0, "maxStreamBytes": 9007199254740991}') $$,
                '0 (the replica default) and 2^53-1 are accepted');

-- maxMessageBytes
SELECT is(pg_temp.queued(), 0::bigint, 'a new app has no queued bytes');
SELECT pg_temp.step(1);
SELECT is(pg_temp.queued(), (SELECT sum(octet_length(payload::text)) FROM workflow.messages WHERE app_id = 'cap_a')::bigint,
          'an enqueue counts its message''s JSON bytes');
SELECT throws_ok($$ SELECT pg_temp.step(2, 1000) $$, 'PW413',
                 NULL, 'a message over maxMessageBytes is refused 413');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'cap_a'), 1::bigint, 'and not stored');
SELECT throws_like($$ SELECT pg_temp.step(2, 1000) $$, 'quota maxMessageBytes exceeded: the message has % bytes, app cap_a may enqueue at most 1000',
                   'the refusal names the quota and its limit');
CREATE TEMP TABLE run AS
SELECT workflow.create_event('cap_a', NULL, 'run_created', NULL, '{"deploymentId":"d","workflowName":"w","input":null}', 3)::jsonb #>> '{run,runId}' AS id;
SELECT throws_ok(format($$ SELECT workflow.create_event('cap_a', %L, 'step_created', 'step_big',
                   '{"stepName":"s","input":null}', 3, NULL, NULL,
                   jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'step_big',
                     'message', jsonb_build_object('workflowRunId', %L, 'stepId', 'step_big', 'pad', repeat('x', 1000)))) $$,
                   (SELECT id FROM run), (SELECT id FROM run)), 'PW413', NULL,
                 'a message riding on an event is measured by the same rule (413: the event is refused too)');
SELECT is((SELECT count(*) FROM workflow.steps WHERE app_id = 'cap_a'), 0::bigint, 'nothing of it is stored');

SELECT workflow.enqueue('cap_a', '__wkf_workflow_w', jsonb_build_object('runId', 'wrun_merge', 'a', repeat('x', 600)));
SELECT throws_ok($$ SELECT workflow.enqueue('cap_a', '__wkf_workflow_w', jsonb_build_object('runId', 'wrun_merge', 'b', repeat('y', 600))) $$,
                 'PW413', NULL, 'a wake-up merged into a pending one is measured after the merge');
SELECT is(pg_temp.queued(), (SELECT sum(octet_length(payload::text)) FROM workflow.messages WHERE app_id = 'cap_a')::bigint,
          'the refused merge leaves the count as it was');
SELECT workflow.enqueue('cap_a', '__wkf_workflow_w', jsonb_build_object('runId', 'wrun_merge', 'c', 'z'));
SELECT is(pg_temp.queued(), (SELECT sum(octet_length(payload::text)) FROM workflow.messages WHERE app_id = 'cap_a')::bigint,
          'a merge within the limit is counted with its new size');
DELETE FROM workflow.messages WHERE app_id = 'cap_a' AND run_id = 'wrun_merge';

-- maxQueuedBytes
SELECT workflow.set_quotas('cap_a', format('{"maxQueuedBytes": %s}', pg_temp.queued() + 80)::jsonb);
SELECT lives_ok($$ SELECT pg_temp.step(3) $$, 'an enqueue within maxQueuedBytes passes');
SELECT throws_ok($$ SELECT pg_temp.step(4) $$, 'PW429', NULL, 'the enqueue beyond maxQueuedBytes is refused 429');
SELECT throws_like($$ SELECT pg_temp.step(4) $$, 'quota maxQueuedBytes exceeded%', 'naming the quota');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'cap_a'), 2::bigint, 'the refused message is not stored');
SELECT is(workflow.create_event('cap_a', (SELECT id FROM run), 'step_created', 'step_5', '{"stepName":"s","input":null}', 3,
            NULL, NULL, jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'step_5',
              'message', jsonb_build_object('workflowRunId', (SELECT id FROM run), 'stepId', 'step_5')))::jsonb ? 'queued',
          false, 'over maxQueuedBytes an event is still created, without its message (the HTTP queue() then gets the 429)');
-- Delivering gives bytes back.
UPDATE workflow.messages SET status = 'delivered', delivered_at = now()
 WHERE app_id = 'cap_a' AND message_id = (SELECT min(message_id) FROM workflow.messages WHERE app_id = 'cap_a');
SELECT is(pg_temp.queued(), (SELECT sum(octet_length(payload::text)) FROM workflow.messages
                              WHERE app_id = 'cap_a' AND status IN ('queued', 'held', 'claimed'))::bigint,
          'a delivered message no longer counts');
SELECT lives_ok($$ SELECT pg_temp.step(4) $$, 'so the next enqueue passes');
UPDATE workflow.messages SET status = 'claimed', lease_until = now() + interval '1 minute', pod_id = 'p'
 WHERE app_id = 'cap_a' AND status = 'queued';
SELECT is(pg_temp.queued(), (SELECT sum(octet_length(payload::text)) FROM workflow.messages
                              WHERE app_id = 'cap_a' AND status = 'claimed')::bigint, 'claimed messages still count');
UPDATE workflow.messages SET status = 'dead', dead_at = now(), lease_until = NULL, pod_id = NULL
 WHERE app_id = 'cap_a' AND status = 'claimed';
SELECT is(pg_temp.queued(), 0::bigint, 'dead letters do not count');
SELECT workflow.set_quotas('cap_a', '{"maxQueuedBytes": 10}');
SELECT throws_ok($$ SELECT workflow.retry_dead_letter('cap_a', (SELECT min(message_id) FROM workflow.messages
                                                                  WHERE app_id = 'cap_a' AND status = 'dead')) $$,
                 'PW429', NULL, 'retrying a dead letter counts against maxQueuedBytes');
SELECT workflow.set_quotas('cap_a', '{"maxQueuedBytes": 1000000}');
SELECT pg_temp.step(6);
DELETE FROM workflow.messages WHERE app_id = 'cap_a' AND status = 'queued';
SELECT is(pg_temp.queued(), 0::bigint, 'deleted messages give their bytes back');

-- Counter rows of ended backends are folded into a live one.
INSERT INTO workflow.app_byte_usage (app_id, backend_pid, queued_bytes, stream_bytes) VALUES ('cap_a', 0, 7, 0);
SELECT workflow.create_app('cap_fold');
INSERT INTO workflow.app_byte_usage (app_id, backend_pid, queued_bytes, stream_bytes) VALUES ('cap_fold', 0, 5, 9);
SELECT workflow.add_app_bytes('cap_fold', 1, 1);
SELECT results_eq($$ SELECT backend_pid, queued_bytes, stream_bytes FROM workflow.app_byte_usage WHERE app_id = 'cap_fold' $$,
                  $$ VALUES (pg_backend_pid(), 6::bigint, 10::bigint) $$,
                  'a backend''s first row for an app takes over the rows of ended backends');
DELETE FROM workflow.app_byte_usage WHERE app_id = 'cap_a' AND backend_pid = 0;

-- Streams
SELECT workflow.set_quotas('cap_a', '{"maxStreamBytes": 10}');
SELECT is(workflow.write_stream('cap_a', (SELECT id FROM run), 's1', ARRAY['\x0102030405'::bytea, '\x0607']) ->> 'written', '2',
          'writes within maxStreamBytes pass');
SELECT is(pg_temp.streamed(), 7::bigint, 'stored chunk bytes are counted');
SELECT throws_ok($$ SELECT workflow.write_stream('cap_a', (SELECT id FROM run), 's1', ARRAY['\x01020304'::bytea]) $$,
                 'PW429', NULL, 'the write beyond maxStreamBytes is refused 429');
SELECT throws_ok($$ SELECT workflow.write_stream('cap_a', (SELECT id FROM run), 's2', ARRAY['\x0102030405060708090a0b'::bytea]) $$,
                 'PW413', NULL, 'a single write larger than maxStreamBytes is refused 413');
SELECT is((SELECT count(*) FROM workflow.stream_chunks WHERE app_id = 'cap_a'), 2::bigint, 'refused chunks are not stored');
SELECT lives_ok($$ SELECT workflow.write_stream('cap_a', (SELECT id FROM run), 's1', '{}'::bytea[], true) $$,
                'closing a stream over its quota still works');
DELETE FROM workflow.streams WHERE app_id = 'cap_a' AND name = 's1';
SELECT is(pg_temp.streamed(), 0::bigint, 'purged streams give their bytes back');

-- Opaque NOTIFY key
SELECT matches(workflow.stream_wake_key('cap_a', 's1'), '^[0-9a-f]{32}$', 'the NOTIFY key is 32 hex digits');
SELECT isnt(workflow.stream_wake_key('cap_a', 's1'), workflow.stream_wake_key('cap_b', 's1'), 'one key per app and name');
SELECT is(workflow.stream_wake_key('cap_a', 's1'),
          encode(substring(sha256(decode(workflow.stream_notify_secret(), 'hex') || convert_to('cap_a/s1', 'UTF8')) FROM 1 FOR 16), 'hex'),
          'it is the keyed hash the service computes from stream_notify_secret');

-- Bounded reads
SELECT workflow.set_quotas('cap_a', '{"maxStreamBytes": 1000000}');
SELECT count(workflow.write_stream('cap_a', (SELECT id FROM run), 'many_' || n, ARRAY['\x00'::bytea])) FROM generate_series(1, 1001) n;
SELECT is(jsonb_array_length(workflow.list_streams('cap_a', (SELECT id FROM run))), 1000, 'list_streams names at most 1000 streams');
SELECT is(workflow.list_streams('cap_a', (SELECT id FROM run)) ->> 0, 'many_1', 'the oldest first');

DELETE FROM workflow.steps WHERE app_id = 'cap_a';
INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, created_at, updated_at, started_at, completed_at)
SELECT 'cap_a', (SELECT id FROM run), 'tpl_' || n, 'step' || n, 'completed', 1,
       now() + n * interval '1 second', now() + n * interval '1 second', now() + n * interval '1 second',
       now() + n * interval '1 second' + interval '0.5 second'
  FROM generate_series(1, 1001) n;
UPDATE workflow.runs SET status = 'completed', completed_at = now() WHERE app_id = 'cap_a' AND run_id = (SELECT id FROM run);
SELECT is(jsonb_array_length(workflow.get_workflow_template('cap_a', 'w') -> 'steps'), 1000,
          'a template describes at most the source run''s first 1000 steps');
SELECT is(workflow.get_workflow_template('cap_a', 'w') #> '{steps,999}', '{"order": 1000, "stepName": "step1000"}',
          'in order, the same shape');

-- Two sessions enqueue for one app at once: neither waits for the other.
CREATE FUNCTION pg_temp.race() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  -- lock_timeout: a wait on this transaction's locks fails instead of hanging (PostgreSQL cannot see it across dblink).
  conninfo text := format('host=%s port=%s dbname=%s user=%s options=''-c lock_timeout=10s -c statement_timeout=60s''',
                          coalesce(host(inet_server_addr()), '/var/run/postgresql'),
                          current_setting('port'), current_database(), current_user);
  s text;
  enqueue constant text := $q$
    SELECT workflow.enqueue('cap_race', '__wkf_step_s', jsonb_build_object('workflowRunId', 'r', 'stepId', %L))::text $q$;
BEGIN
  FOREACH s IN ARRAY ARRAY['cr_1', 'cr_2'] LOOP
    PERFORM dblink_connect(s, conninfo);
    PERFORM * FROM dblink(s, $q$ SELECT set_config('workflow.app_id', 'cap_race', false) || set_config('lock_timeout', '2s', false) $q$) AS t(r text);
  END LOOP;
  PERFORM * FROM dblink('cr_1', $q$ SELECT workflow.create_app('cap_race')::text $q$) AS t(r text);
  PERFORM * FROM dblink('cr_1', format(enqueue, 'a')) AS t(r text);
  PERFORM * FROM dblink('cr_2', format(enqueue, 'b')) AS t(r text);
  PERFORM dblink_exec('cr_1', 'BEGIN');
  PERFORM * FROM dblink('cr_1', format(enqueue, 'c')) AS t(r text);
  RETURN NEXT lives_ok(format('SELECT * FROM dblink(%L, %L) AS t(r text)', 'cr_2', format(enqueue, 'd')),
                       'while session 1''s enqueue is open, session 2 enqueues for the same app without waiting');
  PERFORM dblink_exec('cr_1', 'COMMIT');
  RETURN NEXT is((SELECT r FROM dblink('cr_1', $q$ SELECT (workflow.app_bytes('cap_race')).queued_bytes::text $q$) AS t(r text))::bigint,
                 (SELECT r FROM dblink('cr_1', $q$ SELECT sum(octet_length(payload::text))::text FROM workflow.messages
                                                   WHERE app_id = 'cap_race' $q$) AS t(r text))::bigint,
                 'the app''s bytes are the sum of both sessions'' rows');
  PERFORM * FROM dblink('cr_1', $q$ WITH gone AS (DELETE FROM workflow.apps WHERE app_id = 'cap_race' RETURNING 1) SELECT count(*)::text FROM gone $q$) AS t(r text);
  FOREACH s IN ARRAY ARRAY['cr_1', 'cr_2'] LOOP
    PERFORM dblink_disconnect(s);
  END LOOP;
END $$;
SELECT * FROM pg_temp.race();

SELECT * FROM finish();
ROLLBACK;
