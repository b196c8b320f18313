-- pgTAP: the queue — enqueue, claim, lease, ack (complete / timeout / retry /
-- dead letter / refused), per-run serialisation, coalescing, handlers,
-- version expiry, dead letters, tenant isolation.
BEGIN;
SELECT plan(74);

SELECT workflow.ensure_app('qa'), workflow.ensure_app('qb');
-- API functions act for the request's app only: qa unless a helper says otherwise.
SELECT set_config('workflow.app_id', 'qa', true);
-- Helpers for this file only (rolled back with it).
CREATE FUNCTION pg_temp.enq(queue text, message jsonb, deployment text DEFAULT 'v1', key text DEFAULT NULL,
                            delay numeric DEFAULT NULL, app text DEFAULT 'qa') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  id text;
BEGIN
  PERFORM set_config('workflow.app_id', app, true);
  id := workflow.enqueue(app, queue, message, deployment, key, delay) ->> 'messageId';
  PERFORM set_config('workflow.app_id', 'qa', true);
  RETURN id;
END $$;
CREATE FUNCTION pg_temp.msg(id text) RETURNS workflow.messages
LANGUAGE sql AS $$ SELECT * FROM workflow.messages WHERE message_id = id $$;
CREATE FUNCTION pg_temp.claim(lim integer DEFAULT 100) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.claim_messages(lim, 30, 60) -> 'deliveries' $$;
CREATE FUNCTION pg_temp.claimed_ids(deliveries jsonb) RETURNS text[]
LANGUAGE sql AS $$ SELECT coalesce(array_agg(d ->> 'messageId' ORDER BY d ->> 'messageId'), '{}') FROM jsonb_array_elements(deliveries) d $$;
CREATE FUNCTION pg_temp.ack(id text, outcome text, extra jsonb DEFAULT '{}', max_attempts integer DEFAULT 3) RETURNS integer
LANGUAGE sql AS $$
  SELECT workflow.ack_messages(jsonb_build_array(jsonb_build_object(
           'seq', m.message_seq, 'attempt', m.attempt, 'podId', m.pod_id, 'outcome', outcome) || extra),
         max_attempts, 10, 60, 5, 60, 3600)
    FROM workflow.messages m WHERE m.message_id = id
$$;
CREATE FUNCTION pg_temp.settle_all() RETURNS void  -- acknowledges every claim as done
LANGUAGE sql AS $$
  SELECT workflow.ack_messages(coalesce(jsonb_agg(jsonb_build_object(
           'seq', message_seq, 'attempt', attempt, 'podId', pod_id, 'outcome', 'done')), '[]'))
    FROM workflow.messages WHERE status = 'claimed'
$$;

-- Storage
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
            WHERE oid IN ('workflow.messages'::regclass, 'workflow.handlers'::regclass,
                          'workflow.deployment_versions'::regclass, 'workflow.queue_rate'::regclass)),
          'every queue table has row-level security');
SELECT has_index('workflow', 'messages', 'messages_run_in_flight', 'one claimed workflow message per run (unique index)');
SELECT has_index('workflow', 'messages', 'messages_run_wakeup', 'one pending wake-up per run (unique index)');

-- Enqueue: validation
SELECT throws_ok($$ SELECT pg_temp.enq('orders', '{}') $$, 'PW400', NULL, 'a queue name without the wkf prefix is refused');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_', '{}') $$, 'PW400', NULL, 'a queue name needs a name after the prefix');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_x', '[1]') $$, 'PW400', 'message must be a JSON object', 'the message must be an object');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_x', '{}', delay => -0.5) $$, 'PW400', NULL, 'negative delays are refused');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_x', '{}', delay => 'NaN') $$, 'PW400', NULL, 'NaN delays are refused');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_x', '{}', deployment => '') $$, 'PW400', NULL, 'an empty deploymentId is refused');
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_x', '{}', app => 'nope') $$, 'PW404', NULL, 'an unknown app is refused');
SELECT is((SELECT count(*) FROM workflow.messages), 0::bigint, 'refused enqueues wrote nothing');

-- Enqueue: ids, kinds, runs, default deployment
SELECT matches(pg_temp.enq('__wkf_step_x', '{"workflowRunId":"wrun_A","stepId":"s"}'), '^msg_[0-9A-HJKMNP-TV-Z]{26}$',
               'message ids are msg_ + ULID');
SELECT is((SELECT (kind, run_id, status, attempt)::text FROM workflow.messages WHERE queue_name = '__wkf_step_x'),
          '(step,wrun_A,queued,0)', 'a step message belongs to message.workflowRunId');
SELECT is((pg_temp.msg(pg_temp.enq('__ns_wkf_workflow_w', '{"runId":"wrun_B"}'))).run_id, 'wrun_B',
          'a (namespaced) workflow message belongs to message.runId');
SELECT is((pg_temp.msg(pg_temp.enq('__wkf_step_y', '{}', deployment => NULL))).deployment_id, 'local',
          'no deploymentId and no versionless handler: deployment local');
DELETE FROM workflow.messages;

-- Idempotency keys (per app)
SELECT is(workflow.enqueue('qa', '__wkf_step_s', '{"n":1}', 'v1', 'k1') ->> 'created', 'true', 'a new key creates a message');
SELECT is(workflow.enqueue('qa', '__wkf_step_s', '{"n":2}', 'v1', 'k1'),
          jsonb_build_object('messageId', (SELECT message_id FROM workflow.messages WHERE idempotency_key = 'k1'), 'created', false),
          'a repeated key answers the existing message');
SELECT isnt(pg_temp.enq('__wkf_step_s', '{}', key => 'k1', app => 'qb'),
            (SELECT message_id FROM workflow.messages WHERE idempotency_key = 'k1' AND app_id = 'qa'),
            'keys are per app');
DELETE FROM workflow.messages;

-- Coalescing of workflow wake-ups
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_C","runInput":{"x":1}}', delay => 60);
SELECT is(workflow.enqueue('qa', '__wkf_workflow_w', '{"runId":"wrun_C","n":2}', 'v1'),
          jsonb_build_object('messageId', (SELECT message_id FROM workflow.messages WHERE run_id = 'wrun_C'), 'created', false),
          'a second wake-up for a run with one pending merges into it');
SELECT is((SELECT (count(*), min(payload::text))::text FROM workflow.messages WHERE run_id = 'wrun_C'),
          '(1,"{""n"": 2, ""runId"": ""wrun_C"", ""runInput"": {""x"": 1}}")', 'one message, payloads merged');
SELECT ok((SELECT due_at < clock_timestamp() + interval '1 second' FROM workflow.messages WHERE run_id = 'wrun_C'),
          'the merged wake-up is due at the earlier time');
SELECT isnt(pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_C"}', key => 'kc'),
            (SELECT message_id FROM workflow.messages WHERE run_id = 'wrun_C' AND idempotency_key IS NULL),
            'a keyed wake-up does not merge');
DELETE FROM workflow.messages;

-- Quota: maxQueuePerMinute, counted in the database
SELECT workflow.ensure_app('qc');
UPDATE workflow.apps SET max_queue_per_minute = 3 WHERE app_id = 'qc';
SELECT pg_temp.enq('__wkf_step_s', '{}', app => 'qc') FROM generate_series(1, 3);
SELECT throws_ok($$ SELECT pg_temp.enq('__wkf_step_s', '{}', app => 'qc') $$, 'PW429',
                 'quota maxQueuePerMinute exceeded: app qc may enqueue 3 messages per minute',
                 'the per-minute quota refuses the message that exceeds it (and names the quota)');
SELECT is((SELECT sum(enqueued) FROM workflow.queue_rate WHERE app_id = 'qc'), 3::bigint, 'a refusal is not counted');
DELETE FROM workflow.messages;

-- Handlers and claims
SELECT throws_ok($$ SELECT workflow.register_handler('qa', 'p', 'v1', 'ftp://x', 'http://x/s') $$, 'PW400', NULL,
                 'handler endpoints must be http(s) URLs');
SELECT is(workflow.register_handler('qa', 'pod-a', 'v1', 'http://a/flow', 'http://a/step', 'http://a/hook'),
          '{"registered": true}', 'registering answers {registered: true}');
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_D"}');
SELECT pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_D","stepId":"s1"}');
SELECT results_eq($$ SELECT d ->> 'url', d ->> 'attempt', d ->> 'podId' FROM jsonb_array_elements(pg_temp.claim()) d ORDER BY 1 $$,
                  $$ VALUES ('http://a/flow', '1', 'pod-a'), ('http://a/step', '1', 'pod-a') $$,
                  'claims route workflow messages to the flow endpoint and step messages to the step endpoint');
SELECT ok((SELECT bool_and(status = 'claimed' AND lease_until > clock_timestamp() + interval '25 seconds')
             FROM workflow.messages), 'claimed messages carry a lease');
SELECT is(pg_temp.claim(), '[]', 'claimed messages are not claimed again while leased');
SELECT pg_temp.settle_all();
SELECT is((SELECT array_agg(DISTINCT status) FROM workflow.messages), '{delivered}', 'done ⇒ delivered');

-- Rotation over a version's pods
SELECT workflow.register_handler('qa', 'pod-b', 'v1', 'http://b/flow', 'http://b/step');
SELECT pg_temp.enq('__wkf_step_s', format('{"i":%s}', i)::jsonb) FROM generate_series(1, 6) i;
SELECT is((SELECT array_agg(n ORDER BY pod) FROM (SELECT d ->> 'podId' AS pod, count(*) AS n
                                                    FROM jsonb_array_elements(pg_temp.claim()) d GROUP BY 1) x),
          '{3,3}'::bigint[], 'deliveries spread over the version''s pods');
SELECT pg_temp.settle_all();

-- No handler: held without burning attempts; registration wakes
SELECT pg_temp.enq('__wkf_step_s', '{"n":"held"}', deployment => 'v2');
SELECT is(pg_temp.claim(), '[]', 'a message of a version without handlers is not delivered');
SELECT is((SELECT (status, attempt)::text FROM workflow.messages WHERE deployment_id = 'v2'), '(held,0)',
          'it is held, attempt unchanged');
SELECT is(workflow.next_due_in(), NULL, 'a held message is not due');
SELECT workflow.register_handler('qa', 'pod-v2', 'v2', 'http://v2/flow', 'http://v2/step');
SELECT is((SELECT status FROM workflow.messages WHERE deployment_id = 'v2'), 'queued', 'registering its version wakes it');
SELECT is(pg_temp.claimed_ids(pg_temp.claim()), ARRAY[(SELECT message_id FROM workflow.messages WHERE deployment_id = 'v2')],
          'and it is delivered');
SELECT pg_temp.settle_all();

-- Workflow messages of one run are never in flight together
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_E","i":1}', key => 'e1');
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_E","i":2}', key => 'e2');
SELECT pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_E","i":3}');
SELECT pg_temp.enq('__wkf_step_s', '{"workflowRunId":"wrun_E","i":4}');
SELECT is((SELECT array_agg((d ->> 'body')::jsonb ->> 'i' ORDER BY (d ->> 'seq')::bigint) FROM jsonb_array_elements(pg_temp.claim()) d),
          '{1,3,4}', 'one workflow message of the run is claimed; its step messages go in parallel');
SELECT is(pg_temp.claim(), '[]', 'the run''s next workflow message waits while one is in flight');
SELECT ok(workflow.next_due_in() > 20, 'a waiting message is not reported as due');
SELECT pg_temp.ack(message_id, 'done') FROM workflow.messages WHERE idempotency_key = 'e1';
SELECT is(pg_temp.claimed_ids(pg_temp.claim()), ARRAY[(SELECT message_id FROM workflow.messages WHERE idempotency_key = 'e2')],
          'settling it releases the next');
SELECT pg_temp.settle_all();
DELETE FROM workflow.messages;

-- Ack outcomes
SELECT pg_temp.enq('__wkf_step_s', '{"n":"t"}', key => 't');
SELECT pg_temp.claim();
SELECT is(pg_temp.ack((SELECT message_id FROM workflow.messages WHERE idempotency_key = 't'), 'timeout', '{"timeoutSeconds":5}'),
          1, 'a timeout is settled');
SELECT ok((SELECT status = 'queued' AND attempt = 1 AND failures = 0
                  AND due_at BETWEEN clock_timestamp() + interval '4.5 seconds' AND clock_timestamp() + interval '5.5 seconds'
             FROM workflow.messages WHERE idempotency_key = 't'), 'timeoutSeconds ⇒ the same message, due after n seconds');
UPDATE workflow.messages SET due_at = clock_timestamp() WHERE idempotency_key = 't';
SELECT is((SELECT (d ->> 'attempt')::int FROM jsonb_array_elements(pg_temp.claim()) d), 2, 'the redelivery is attempt 2');
SELECT is(pg_temp.ack((SELECT message_id FROM workflow.messages WHERE idempotency_key = 't'), 'failed', '{"error":"HTTP 500"}'),
          1, 'a failure is settled');
SELECT ok((SELECT status = 'queued' AND failures = 1 AND last_error = 'HTTP 500'
                  AND due_at BETWEEN clock_timestamp() + interval '7 seconds' AND clock_timestamp() + interval '13 seconds'
             FROM workflow.messages WHERE idempotency_key = 't'), 'failure ⇒ retried after the backoff (base 10 s ± 20%)');
UPDATE workflow.messages SET due_at = clock_timestamp(), failures = 2 WHERE idempotency_key = 't';
SELECT pg_temp.claim();
SELECT pg_temp.ack((SELECT message_id FROM workflow.messages WHERE idempotency_key = 't'), 'failed', '{"error":"HTTP 502"}');
SELECT is((SELECT (status, failures, attempt, dead_at IS NOT NULL)::text FROM workflow.messages WHERE idempotency_key = 't'),
          '(dead,3,3,t)', 'the third failure (maximum 3) dead-letters it');
SELECT is(pg_temp.claim(), '[]', 'a dead letter is not delivered');

-- Dead letters
SELECT is((workflow.list_dead_letters('qa') -> 'data' -> 0 ->> 'lastError'), 'HTTP 502', 'dead letters are listed with their last error');
SELECT is((workflow.retry_dead_letter('qa', (SELECT message_id FROM workflow.messages WHERE idempotency_key = 't'))
            - 'dueAt' - 'createdAt' - 'updatedAt' - 'messageId' - 'lastError' - 'message'),
          '{"status":"queued","attempt":0,"failures":0,"deploymentId":"v1","idempotencyKey":"t","queueName":"__wkf_step_s"}'::jsonb,
          'retrying a dead letter requeues it with its attempt count reset');
SELECT throws_ok($$ SELECT workflow.retry_dead_letter('qa', (SELECT message_id FROM workflow.messages WHERE idempotency_key = 't')) $$,
                 'PW409', NULL, 'only dead letters can be retried');
SELECT throws_ok($$ SELECT workflow.retry_dead_letter('qa', 'msg_nope') $$, 'PW404', NULL, 'unknown message');

-- Refused connections: not an attempt, the pod cools down
SELECT pg_temp.claim();
CREATE TEMP TABLE refusing AS SELECT pod_id FROM workflow.messages WHERE idempotency_key = 't';
SELECT pg_temp.ack((SELECT message_id FROM workflow.messages WHERE idempotency_key = 't'), 'refused', '{"error":"refused"}');
SELECT is((SELECT (status, attempt, failures)::text FROM workflow.messages WHERE idempotency_key = 't'), '(queued,0,0)',
          'a refused connection is neither an attempt nor a failure');
SELECT ok((SELECT refused_since IS NOT NULL AND cooldown_until > clock_timestamp()
             FROM workflow.handlers JOIN refusing USING (pod_id) WHERE app_id = 'qa'),
          'the refusing pod cools down');
SELECT is((SELECT d ->> 'podId' FROM jsonb_array_elements(pg_temp.claim()) d) IN (SELECT pod_id FROM refusing), false,
          'the next delivery goes to another pod');

-- A version whose only pod cools down: its messages wait for the cool-down, not held
SELECT workflow.register_handler('qa', 'pod-solo', 'v5', 'http://solo/flow', 'http://solo/step');
SELECT pg_temp.enq('__wkf_step_s', '{"n":"solo"}', deployment => 'v5', key => 'solo');
SELECT pg_temp.claim();
SELECT pg_temp.ack((SELECT message_id FROM workflow.messages WHERE idempotency_key = 'solo'), 'refused', '{"error":"refused"}');
SELECT is(pg_temp.claim(), '[]', 'no pod ready: nothing is claimed');
SELECT ok((SELECT m.status = 'queued' AND m.due_at = h.cooldown_until
             FROM workflow.messages m, workflow.handlers h WHERE m.idempotency_key = 'solo' AND h.pod_id = 'pod-solo'),
          'the message waits (queued, not held) until the pod''s cool-down ends');

-- Lost leases and stale acks
DELETE FROM workflow.messages;
UPDATE workflow.handlers SET refused_since = NULL, cooldown_until = NULL;
SELECT pg_temp.enq('__wkf_step_s', '{"n":"lease"}', key => 'l');
SELECT pg_temp.claim();
CREATE TEMP TABLE first_claim AS SELECT message_seq, attempt, pod_id FROM workflow.messages WHERE idempotency_key = 'l';
UPDATE workflow.messages SET lease_until = clock_timestamp() - interval '1 second' WHERE idempotency_key = 'l';
SELECT is((SELECT (d ->> 'attempt')::int FROM jsonb_array_elements(pg_temp.claim()) d), 2,
          'a claim whose lease ended is redelivered (attempt + 1)');
SELECT is((SELECT workflow.ack_messages(jsonb_agg(jsonb_build_object('seq', message_seq, 'attempt', attempt, 'podId', pod_id,
                                                                  'outcome', 'done'))) FROM first_claim),
          0, 'the settlement of a lost claim is ignored');

-- A workflow message re-entering the queue absorbs the run's pending wake-up
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_F","v":1}');
SELECT pg_temp.claim();
SELECT pg_temp.enq('__wkf_workflow_w', '{"runId":"wrun_F","v":2,"late":true}');
SELECT pg_temp.ack((SELECT message_id FROM workflow.messages WHERE run_id = 'wrun_F' AND status = 'claimed'), 'timeout',
                   '{"timeoutSeconds":60}');
SELECT is((SELECT count(*) FROM workflow.messages WHERE run_id = 'wrun_F'), 1::bigint,
          'the requeued message and the pending wake-up became one');
SELECT ok((SELECT attempt = 1 AND payload = '{"v":2,"late":true,"runId":"wrun_F"}' AND due_at < clock_timestamp() + interval '1 second'
             FROM workflow.messages WHERE run_id = 'wrun_F'),
          'it keeps its id and attempt, takes the newer payload and the earlier due time');

-- Backoff
SELECT ok((SELECT bool_and(workflow.retry_delay(1, 1, 300) BETWEEN 0.8 AND 1.2) FROM generate_series(1, 50)),
          'first retry after base ± 20%');
SELECT ok((SELECT bool_and(workflow.retry_delay(n, 1, 300) <= 360) FROM generate_series(1, 100) n), 'backoff is capped');
SELECT ok(workflow.retry_delay(4, 1, 300) BETWEEN 6.4 AND 9.6, 'backoff doubles');

-- Releasing claims on shutdown
DELETE FROM workflow.messages;
SELECT pg_temp.enq('__wkf_step_s', '{"n":"release"}', key => 'r');
SELECT pg_temp.claim();
SELECT is(workflow.release_messages((SELECT jsonb_agg(jsonb_build_object('seq', message_seq, 'attempt', attempt))
                                       FROM workflow.messages WHERE idempotency_key = 'r')), 1, 'claims can be given back');
SELECT is((SELECT status FROM workflow.messages WHERE idempotency_key = 'r'), 'queued', 'and are due at once');

-- Version expiry
SELECT pg_temp.enq('__wkf_step_s', '{"n":"x1"}', deployment => 'v9');
SELECT pg_temp.claim();
SELECT workflow.register_handler('qa', 'pod-v9', 'v9', 'http://v9/flow', 'http://v9/step');
SELECT is(workflow.expire_version('qa', 'v9'), '{"cancelledRuns": 0, "removedHandlers": 1, "deadLetteredMessages": 1}',
          'expiring a version removes its handlers and dead-letters its messages');
SELECT is((pg_temp.msg(pg_temp.enq('__wkf_step_s', '{"n":"x2"}', deployment => 'v9'))).status, 'dead',
          'a message for an expired version is dead on arrival');
SELECT throws_ok($$ SELECT workflow.register_handler('qa', 'pod-v9', 'v9', 'http://v9/flow', 'http://v9/step') $$,
                 'PW410', NULL, 'an expired version cannot register handlers');
SELECT pg_temp.enq('__wkf_step_s', '{"n":"x3"}', deployment => 'v8');
INSERT INTO workflow.deployment_versions VALUES ('qa', 'v8', clock_timestamp(), clock_timestamp());
SELECT pg_temp.claim();
SELECT is((SELECT last_error FROM workflow.messages WHERE payload ->> 'n' = 'x3'), 'deployment expired',
          'a claim dead-letters messages of an expired version');
SELECT pg_temp.settle_all();
SELECT is(workflow.next_due_in(), NULL, 'nothing left to do');

-- Tenants: isolation, and no dispatcher functions
SELECT pg_temp.enq('__wkf_step_s', '{}', app => 'qb', deployment => 'v1');
SET LOCAL ROLE pgw_tenant;
SELECT set_config('workflow.app_id', 'qa', true);
SELECT is((SELECT count(*) FROM workflow.messages WHERE app_id = 'qb'), 0::bigint, 'an app sees none of another''s messages');
SELECT throws_ok($$ SELECT workflow.enqueue('qb', '__wkf_step_s', '{}') $$, 'PW403', NULL, 'nor can it enqueue for it');
SELECT throws_ok($$ SELECT workflow.claim_messages(1, 1, 1) $$, '42501', NULL, 'tenants cannot claim');
SELECT throws_ok($$ SELECT workflow.expire_version('qa', 'v1') $$, '42501', NULL, 'tenants cannot expire versions');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
