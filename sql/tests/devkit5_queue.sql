-- pgTAP: DevKit 5 steps on the workflow queue are step-kind messages of their run (parallel, never coalesced,
-- sent to the step URL); DevKit 4 messages unchanged; enqueue_batch (queueBatch) (change devkit5_queue).
BEGIN;
SELECT plan(28);

SELECT workflow.ensure_app('dq5'), workflow.ensure_app('dq5b');
SELECT set_config('workflow.app_id', 'dq5', true);
-- A DevKit 5 pod (no step URL: the flow URL takes steps) and a DevKit 4 pod.
SELECT workflow.register_handler('dq5', 'pod-5', 'v5', 'http://10.0.0.5/flow', NULL, NULL, '10.0.0.5');
SELECT workflow.register_handler('dq5', 'pod-4', 'v4', 'http://10.0.0.4/flow', 'http://10.0.0.4/step', NULL, NULL);
CREATE FUNCTION pg_temp.step5(run text, step text, key text DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
  SELECT workflow.enqueue('dq5', '__wkf_workflow_order', jsonb_build_object(
           'runId', run, 'stepId', step, 'stepName', 'step//charge',
           'runContext', jsonb_build_object('deploymentId', 'v5', 'specVersion', 7)), 'v5', key, NULL) ->> 'messageId'
$$;
CREATE FUNCTION pg_temp.msg(id text) RETURNS workflow.messages
LANGUAGE sql AS $$ SELECT * FROM workflow.messages WHERE message_id = id $$;

-- A run's wake-up, then three of its steps (two without a key: nothing may merge them).
SELECT workflow.enqueue('dq5', '__wkf_workflow_order', '{"runId":"wrun_A"}', 'v5', NULL, NULL) ->> 'messageId' AS wake
\gset
SELECT pg_temp.step5('wrun_A', 'step_1') AS s1, pg_temp.step5('wrun_A', 'step_2') AS s2,
       pg_temp.step5('wrun_A', 'step_3', 'step_3:abc') AS s3
\gset
SELECT is((pg_temp.msg(:'s1')).kind, 'step', 'a DevKit 5 step on a workflow queue is a step-kind message');
SELECT is((pg_temp.msg(:'s1')).run_id, 'wrun_A', 'of its run (payload.runId)');
SELECT is((pg_temp.msg(:'s1')).queue_name, '__wkf_workflow_order', 'keeping its queue name');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'dq5' AND run_id = 'wrun_A'), 4::bigint,
          'the wake-up and three steps are four messages: no step merged into the wake-up or another step');
SELECT is((pg_temp.msg(:'wake')).kind, 'workflow', 'the run''s own wake-up stays a workflow message');
SELECT is((pg_temp.msg(:'wake')).payload, '{"runId":"wrun_A"}'::jsonb, 'and took no step''s members');
SELECT is(workflow.enqueue('dq5', '__wkf_workflow_order', '{"runId":"wrun_A","n":2}', 'v5', NULL, NULL)
            ->> 'messageId', :'wake', 'a second wake-up still merges into the pending one');
SELECT is(workflow.enqueue('dq5', '__wkf_workflow_order', '{"runId":"wrun_A","stepId":"step_3"}', 'v5',
                           'step_3:abc', NULL) ->> 'created', 'false', 'a step''s repeated key answers its message');

-- All four are claimed at once: the steps run in parallel with each other and with the run's orchestration.
CREATE TEMP TABLE claimed AS
  SELECT d ->> 'messageId' AS id, d ->> 'url' AS url
    FROM jsonb_array_elements(workflow.claim_messages(10, 30, 60) -> 'deliveries') d;
SELECT is((SELECT count(*) FROM claimed WHERE id IN (:'wake', :'s1', :'s2', :'s3')), 4::bigint,
          'the wake-up and the three steps are claimed together');
SELECT is((SELECT url FROM claimed WHERE id = :'s2'), 'http://10.0.0.5/flow',
          'a step goes to the step URL, the flow route of a DevKit 5 pod');
SELECT is((SELECT url FROM claimed WHERE id = :'wake'), 'http://10.0.0.5/flow', 'the wake-up to the flow route');
-- A further wake-up while the run's wake-up is in flight waits for it; a further step does not.
SELECT workflow.enqueue('dq5', '__wkf_workflow_order', '{"runId":"wrun_A"}', 'v5', NULL, NULL) ->> 'messageId' AS wake2
\gset
SELECT pg_temp.step5('wrun_A', 'step_4') AS s4
\gset
SELECT is((SELECT array_agg(d ->> 'messageId')
             FROM jsonb_array_elements(workflow.claim_messages(10, 30, 60) -> 'deliveries') d),
          ARRAY[:'s4'], 'with the wake-up in flight, a new step is claimed and the new wake-up waits');
-- A step that fails goes back to the queue without absorbing the run's pending wake-up.
SELECT workflow.ack_messages(jsonb_build_array(jsonb_build_object(
         'seq', m.message_seq, 'attempt', m.attempt, 'podId', m.pod_id, 'outcome', 'failed', 'error', 'boom')),
         3, 10, 60, 5, 60, 3600)
  FROM workflow.messages m WHERE m.message_id = :'s1';
SELECT is((pg_temp.msg(:'s1')).status, 'queued', 'a failed step is queued again');
SELECT is((pg_temp.msg(:'wake2')).status, 'queued', 'the pending wake-up is still its own message');

-- DevKit 4 messages are stored exactly as before.
SELECT workflow.enqueue('dq5', '__wkf_workflow_order', '{"runId":"wrun_B","traceCarrier":{}}', 'v4', NULL, NULL)
         ->> 'messageId' AS w4
\gset
SELECT workflow.enqueue('dq5', '__wkf_step_charge', '{"workflowRunId":"wrun_B","stepId":"step_9"}', 'v4', 'k9', NULL)
         ->> 'messageId' AS st4
\gset
SELECT is(ARRAY[(pg_temp.msg(:'w4')).kind, (pg_temp.msg(:'w4')).run_id], ARRAY['workflow', 'wrun_B'],
          'a 4.x workflow message: kind workflow of payload.runId');
SELECT is(ARRAY[(pg_temp.msg(:'st4')).kind, (pg_temp.msg(:'st4')).run_id], ARRAY['step', 'wrun_B'],
          'a 4.x step message: kind step of payload.workflowRunId');
SELECT is((pg_temp.msg(pg_temp.step5('wrun_C', NULL))).kind, 'workflow', 'a null stepId is no step');
SELECT throws_ok($$ INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, payload, status, due_at,
                                                   created_at, updated_at)
                    VALUES ('dq5', 'msg_x', '__wkf_workflow_w', 'step', '{"runId":"r"}', 'queued', now(), now(), now()) $$,
                 '23514', NULL, 'a workflow-queue message without stepId cannot be a step');

-- enqueue_batch: in order, each as enqueue would, one transaction.
SELECT workflow.enqueue_batch('dq5', jsonb_build_array(
         jsonb_build_object('queueName', '__wkf_workflow_order', 'message',
                            jsonb_build_object('runId', 'wrun_D', 'stepId', 'b1'), 'deploymentId', 'v5',
                            'idempotencyKey', 'b1:k'),
         jsonb_build_object('queueName', '__wkf_workflow_order', 'message',
                            jsonb_build_object('runId', 'wrun_D', 'stepId', 'b2'), 'deploymentId', 'v5',
                            'idempotencyKey', 'b2:k', 'delaySeconds', 5),
         jsonb_build_object('queueName', '__wkf_workflow_order', 'message',
                            jsonb_build_object('runId', 'wrun_D', 'stepId', 'b1'), 'deploymentId', 'v5',
                            'idempotencyKey', 'b1:k'))) AS batch
\gset
SELECT is(jsonb_array_length(:'batch'::jsonb -> 'results'), 3, 'one result per message');
SELECT is(ARRAY(SELECT r ->> 'created' FROM jsonb_array_elements(:'batch'::jsonb -> 'results') r),
          ARRAY['true', 'true', 'false'], 'a repeated key in the batch answers the first message');
SELECT is(:'batch'::jsonb #>> '{results,2,messageId}', :'batch'::jsonb #>> '{results,0,messageId}',
          'with its id');
SELECT is((SELECT array_agg(kind || '/' || run_id || '/' || (due_at > created_at + interval '4 s') ORDER BY message_seq)
             FROM workflow.messages WHERE app_id = 'dq5' AND run_id = 'wrun_D'),
          ARRAY['step/wrun_D/false', 'step/wrun_D/true'], 'stored as enqueue stores them, delay included');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('dq5', '[{"queueName":"__wkf_workflow_w","message":{"runId":"r1"}},
                                                          {"queueName":"nope","message":{}}]') $$,
                 'PW400', 'messages[1].queueName must be __wkf_workflow_<name> or __wkf_step_<name> (optionally __<namespace>_wkf_...)',
                 'a bad entry is named by its index');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'dq5' AND run_id = 'r1'), 0::bigint,
          'and nothing of the batch is stored');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('dq5', '[{"queueName":"__wkf_step_s","message":{},"delaySeconds":-1}]') $$,
                 'PW400', 'messages[0].delaySeconds must be a number between 0 and 315360000', 'delays are checked');
SELECT throws_ok($$ SELECT workflow.enqueue_batch('dq5', '[]') $$, 'PW400',
                 'messages must hold 1 to 1000 entries, not 0', 'an empty batch is refused');
-- A quota refusal of any entry queues none of them.
UPDATE workflow.apps SET max_queue_per_minute = 2 WHERE app_id = 'dq5b';
SELECT set_config('workflow.app_id', 'dq5b', true);
SELECT throws_ok($$ SELECT workflow.enqueue_batch('dq5b', '[{"queueName":"__wkf_step_s","message":{"n":1}},
                      {"queueName":"__wkf_step_s","message":{"n":2}},{"queueName":"__wkf_step_s","message":{"n":3}}]') $$,
                 'PW429', NULL, 'over the rate quota: refused');
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'dq5b'), 0::bigint, 'and nothing stored');

SELECT * FROM finish();
ROLLBACK;
