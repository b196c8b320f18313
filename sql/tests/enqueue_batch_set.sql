-- pgTAP: change enqueue_batch_set — a batch that cannot merge wake-ups is one
-- INSERT (answers, kinds, deployments, expired versions, repeated keys as
-- enqueue), the rate quota counted for every entry, the byte quotas refused
-- for the whole batch, counters equal to the stored bytes; the insert trigger
-- is per statement and refuses the row a row trigger would have refused.
BEGIN;
SELECT plan(32);

SELECT is((SELECT (tgtype::integer & 1) = 1 FROM pg_trigger
            WHERE tgrelid = 'workflow.messages'::regclass AND tgname = 'messages_queued_bytes_insert'),
          true, 'inserts are counted by the row trigger');
SELECT ok(to_regprocedure('workflow.count_inserted_bytes(bigint[])') IS NOT NULL,
          'and a batch by count_inserted_bytes');

SELECT workflow.ensure_app('ebs');
SELECT set_config('workflow.app_id', 'ebs', true);
SELECT workflow.enqueue('ebs', '__wkf_step_s', '{"workflowRunId":"wrun_old"}', 'v1', 'old') ->> 'messageId' AS old
\gset ebs_
SELECT sum(enqueued) AS rate FROM workflow.queue_rate WHERE app_id = 'ebs' \gset ebs_

SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
  jsonb_build_object('queueName', '__wkf_workflow_w', 'message', jsonb_build_object('runId', 'wrun_A', 'stepId', 's1')),
  jsonb_build_object('queueName', '__wkf_step_s', 'message', jsonb_build_object('workflowRunId', 'wrun_B'),
                     'idempotencyKey', 'k1', 'deploymentId', 'v1', 'delaySeconds', 30),
  jsonb_build_object('queueName', '__wkf_step_s', 'message', jsonb_build_object('workflowRunId', 'wrun_C'),
                     'idempotencyKey', 'old'),
  jsonb_build_object('queueName', '__wkf_workflow_w', 'message', jsonb_build_object('runId', 'wrun_D'),
                     'idempotencyKey', 'k1'),
  jsonb_build_object('queueName', '__ns_wkf_workflow_w', 'message', jsonb_build_object('runId', 'wrun_E'),
                     'idempotencyKey', 'k2'))) -> 'results' AS res
\gset ebs_
SELECT is(ARRAY(SELECT r ->> 'created' FROM jsonb_array_elements(:'ebs_res'::jsonb) r),
          ARRAY['true', 'true', 'false', 'false', 'true'], 'answers in input order, created for the inserted ones');
SELECT is(coalesce(current_setting('workflow.batch_insert', true), ''), '',
          'the batch turns the statement trigger''s setting off again');
SELECT is(:'ebs_res'::jsonb #>> '{2,messageId}', :'ebs_old', 'a key stored before answers its message');
SELECT is(:'ebs_res'::jsonb #>> '{3,messageId}', :'ebs_res'::jsonb #>> '{1,messageId}',
          'a key repeated in the batch answers the first one');
SELECT is((SELECT array_agg(m.message_id ORDER BY m.message_seq) FROM workflow.messages m
            WHERE m.app_id = 'ebs' AND m.message_id <> :'ebs_old'),
          ARRAY[:'ebs_res'::jsonb #>> '{0,messageId}', :'ebs_res'::jsonb #>> '{1,messageId}',
                :'ebs_res'::jsonb #>> '{4,messageId}'], 'stored in input order under the answered ids');
SELECT ok((SELECT bool_and(m.message_id ~ '^msg_[0-7][0-9A-HJKMNP-TV-Z]{25}$'
                           AND workflow.ulid_time(substr(m.message_id, 5)) = date_trunc('milliseconds', m.created_at))
             FROM workflow.messages m WHERE m.app_id = 'ebs'), 'message ids are msg_ + a ULID of the enqueue time');
SELECT is((SELECT array_agg(kind || '/' || run_id || '/' || deployment_id || '/' || status ORDER BY message_seq)
             FROM workflow.messages WHERE app_id = 'ebs' AND message_id <> :'ebs_old'),
          ARRAY['step/wrun_A/local/queued', 'step/wrun_B/v1/queued', 'workflow/wrun_E/local/queued'],
          'a DevKit 5 step is a step of runId, a step queue''s of workflowRunId; no deploymentId: local');
SELECT is((SELECT round(extract(epoch FROM due_at - created_at)) FROM workflow.messages
            WHERE message_id = :'ebs_res'::jsonb #>> '{1,messageId}'), 30::numeric, 'delaySeconds sets due_at');
SELECT is((SELECT sum(enqueued) FROM workflow.queue_rate WHERE app_id = 'ebs') - :ebs_rate, 5::bigint,
          'every entry counts against the rate quota, repeated keys too');
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs'),
          'the byte counter equals the stored undelivered bytes');

-- A versionless handler: no deploymentId stays NULL, as in enqueue; an expired version's message is dead.
SELECT workflow.register_handler('ebs', 'pod', NULL, 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step');
SELECT workflow.expire_version('ebs', 'v0');
SELECT workflow.enqueue_batch('ebs', '[{"queueName":"__wkf_step_s","message":{"workflowRunId":"wrun_F"},"idempotencyKey":"k3"},
  {"queueName":"__wkf_step_s","message":{"workflowRunId":"wrun_G"},"idempotencyKey":"k4","deploymentId":"v0"}]') -> 'results'
  AS res2 \gset ebs_
SELECT is((SELECT deployment_id IS NULL AND status = 'queued' FROM workflow.messages
            WHERE message_id = :'ebs_res2'::jsonb #>> '{0,messageId}'), true,
          'no deploymentId with a versionless handler: deployment NULL');
SELECT is((SELECT status || '/' || last_error || '/' || (dead_at = created_at) FROM workflow.messages
            WHERE message_id = :'ebs_res2'::jsonb #>> '{1,messageId}'), 'dead/deployment expired/true',
          'an expired version''s message is dead at once');
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs' AND status <> 'dead'),
          'a dead message is not counted');

-- A batch with a keyless workflow wake-up still goes entry by entry: it merges into the pending one.
SELECT workflow.enqueue('ebs', '__wkf_workflow_w', '{"runId":"wrun_W","a":1}', 'v1') ->> 'messageId' AS wake \gset ebs_
SELECT is(workflow.enqueue_batch('ebs', '[{"queueName":"__wkf_workflow_w","message":{"runId":"wrun_W","b":2},"deploymentId":"v1"},
  {"queueName":"__wkf_step_s","message":{"workflowRunId":"wrun_W"},"idempotencyKey":"k5"}]') #>> '{results,0}',
          jsonb_build_object('messageId', :'ebs_wake', 'created', false)::text, 'a mergeable wake-up still merges');
SELECT is((SELECT payload FROM workflow.messages WHERE message_id = :'ebs_wake'), '{"runId":"wrun_W","a":1,"b":2}'::jsonb,
          'into the pending one');

-- Quotas refuse the whole batch, with the refusal of the entry that enqueue by enqueue would have refused.
SELECT count(*) AS n FROM workflow.messages WHERE app_id = 'ebs' \gset ebs_
SELECT workflow.set_quotas('ebs', '{"maxMessageBytes": 200}');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
                      '{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q1"}'::jsonb,
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q2',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 300))))) $$,
                 'PW413', format('quota maxMessageBytes exceeded: the message has %s bytes, app ebs may enqueue at most 200',
                                 octet_length(jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 300))::text)),
                 'an oversized entry refuses the batch (413, naming its bytes)');
SELECT workflow.set_quotas('ebs', format('{"maxMessageBytes": 100000, "maxQueuedBytes": %s}',
                                         (SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t) + 100)::jsonb);
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q3',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 60))),
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q4',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 60))))) $$,
                 'PW429', 'quota maxQueuedBytes exceeded: app ebs may have ' ||
                          ((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t) + 100) || ' bytes of undelivered messages',
                 'entries that together pass maxQueuedBytes refuse the batch (429)');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q5',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 150))),
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q6',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 200000))))) $$,
                 'PW429', NULL, 'the first entry past maxQueuedBytes is refused before a later oversized one');
SELECT workflow.set_quotas('ebs', '{"maxQueuedBytes": 100000000}');
SELECT workflow.set_quotas('ebs', format('{"maxQueuePerMinute": %s}',
         (SELECT sum(enqueued) FROM workflow.queue_rate WHERE app_id = 'ebs'
             AND minute = date_trunc('minute', clock_timestamp())) + 2)::jsonb);
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs',
                      '[{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"old"},
                        {"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q7"},
                        {"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q8"}]') $$,
                 'PW429', 'quota maxQueuePerMinute exceeded: app ebs may enqueue '
                          || (SELECT max_queue_per_minute FROM workflow.apps WHERE app_id = 'ebs') || ' messages per minute',
                 'past maxQueuePerMinute (a repeated key counted) the batch is refused (429)');
SELECT workflow.set_quotas('ebs', '{"maxMessageBytes": 100}');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
                      '{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q9"}'::jsonb,
                      '{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q10"}'::jsonb,
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q11',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 300))))) $$,
                 'PW429', NULL, 'an entry past the rate quota is refused before a later oversized one');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('ebs', jsonb_build_array(
                      jsonb_build_object('queueName', '__wkf_step_s', 'idempotencyKey', 'q12',
                                         'message', jsonb_build_object('workflowRunId', 'r', 'pad', repeat('x', 300))),
                      '{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q13"}'::jsonb,
                      '{"queueName":"__wkf_step_s","message":{"workflowRunId":"r"},"idempotencyKey":"q14"}'::jsonb)) $$,
                 'PW413', NULL, 'an oversized entry is refused before a later one past the rate quota');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'ebs'), :ebs_n::bigint, 'refused batches stored nothing');
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs' AND status <> 'dead'),
          'nor counted anything');

-- count_enqueue(app, now, n): counts n, returns how many fit.
SELECT workflow.set_quotas('ebs', format('{"maxQueuePerMinute": %s}',
         (SELECT sum(enqueued) FROM workflow.queue_rate WHERE app_id = 'ebs'
             AND minute = date_trunc('minute', clock_timestamp())) + 2)::jsonb);
SELECT is(workflow.count_enqueue((SELECT a FROM workflow.apps a WHERE app_id = 'ebs'), clock_timestamp(), 5), 2,
          'count_enqueue(app, now, n) counts n and answers how many of them fit');

-- count_inserted_bytes over rows inserted while the row trigger stood aside: counted once; the row-order refusal.
SELECT workflow.set_quotas('ebs', '{"maxMessageBytes": 1000, "maxQueuedBytes": 100000000}');
SELECT set_config('workflow.batch_insert', 'on', true);
CREATE TEMP TABLE aside AS
  WITH ins AS (INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, run_id, payload, status,
                                              due_at, created_at, updated_at)
               SELECT 'ebs', 'msg_t' || g, '__wkf_step_s', 'step', 'r', jsonb_build_object('n', g), 'queued',
                      now(), now(), now() FROM generate_series(1, 3) g RETURNING message_seq)
  SELECT array_agg(message_seq) AS seqs FROM ins;
SELECT set_config('workflow.batch_insert', '', true);
SELECT isnt((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
            (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs' AND status <> 'dead'),
            'with workflow.batch_insert on, the row trigger stands aside');
SELECT lives_ok($$ SELECT workflow.count_inserted_bytes((SELECT seqs FROM aside)) $$, 'count_inserted_bytes counts them');
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs' AND status <> 'dead'),
          'every row of them, once');
SELECT set_config('workflow.batch_insert', 'on', true);
CREATE TEMP TABLE aside2 AS
  WITH ins AS (INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, run_id, payload, status,
                                              due_at, created_at, updated_at)
               SELECT 'ebs', 'msg_u' || g, '__wkf_step_s', 'step', 'r',
                      jsonb_build_object('pad', repeat('x', 100 * g)), 'queued', now(), now(), now()
                 FROM generate_series(1, 12) g ORDER BY g RETURNING message_seq)
  SELECT array_agg(message_seq) AS seqs FROM ins;
SELECT set_config('workflow.batch_insert', '', true);
SELECT throws_ok($$ SELECT workflow.count_inserted_bytes((SELECT seqs FROM aside2)) $$,
                 'PW413', format('quota maxMessageBytes exceeded: the message has %s bytes, app ebs may enqueue at most 1000',
                                 octet_length(jsonb_build_object('pad', repeat('x', 1000))::text)),
                 'the first oversized row (in insertion order) is named, as the row trigger would');
-- A single enqueue clears a setting made before it: its message is counted.
SELECT workflow.set_quotas('ebs', '{"maxMessageBytes": 1048576, "maxQueuePerMinute": 100000}');
SELECT set_config('workflow.batch_insert', 'on', true);
SELECT lives_ok($$ SELECT workflow.enqueue('ebs', '__wkf_step_s', '{"workflowRunId":"wrun_single"}', 'v1') $$,
                'an enqueue with the setting on');
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('ebs') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'ebs' AND status <> 'dead'
              AND message_seq <> ALL ((SELECT seqs FROM aside2)::bigint[])),
          'is counted all the same');
SELECT * FROM finish();
ROLLBACK;
