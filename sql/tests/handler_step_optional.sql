-- pgTAP: a handler may register without a step URL (DevKit 5); its flow URL then takes step-kind messages
-- (change handler_step_optional).
BEGIN;
SELECT plan(8);

SELECT workflow.ensure_app('hso');
SELECT set_config('workflow.app_id', 'hso', true);

SELECT is(workflow.register_handler('hso', 'pod-5', 'v5', 'http://10.0.0.5/flow', NULL, NULL, '10.0.0.5'),
          '{"registered": true}'::jsonb, 'no step URL: registered');
SELECT is((SELECT step_url FROM workflow.handlers WHERE app_id = 'hso' AND pod_id = 'pod-5'), 'http://10.0.0.5/flow',
          'the flow URL is stored for step-kind messages');
SELECT is(workflow.register_handler('hso', 'pod-5b', 'v5', 'http://10.0.0.6/flow', NULL, NULL, '10.0.0.6',
                                    ARRAY[]::text[]) ->> 'registered', 'true', 'the 8-argument signature too');
SELECT throws_ok($$ SELECT workflow.register_handler('hso', 'p', 'v5', NULL, NULL, NULL, '10.0.0.5') $$,
                 'PW400', NULL, 'the flow URL is still required');
SELECT throws_ok($$ SELECT workflow.register_handler('hso', 'p', 'v5', 'http://h/f', E'http://h/s\n', NULL, NULL) $$,
                 'PW400', 'endpoints.step must be printable ASCII without spaces or control characters',
                 'a step URL that is given is still checked');
SELECT workflow.register_handler('hso', 'pod-4', 'v4', 'http://10.0.0.4/flow', 'http://10.0.0.4/step', NULL, NULL);
SELECT is((SELECT step_url FROM workflow.handlers WHERE app_id = 'hso' AND pod_id = 'pod-4'), 'http://10.0.0.4/step',
          'a DevKit 4 registration keeps its step URL');

-- Routing is unchanged: a step-kind message to a version whose pods have no step route goes to the flow route.
DELETE FROM workflow.handlers WHERE app_id = 'hso' AND pod_id = 'pod-5b';
SELECT workflow.enqueue('hso', '__wkf_step_charge', '{"workflowRunId":"wrun_x","stepId":"s"}', 'v5', NULL, NULL);
SELECT workflow.enqueue('hso', '__wkf_step_charge', '{"workflowRunId":"wrun_y","stepId":"s"}', 'v4', NULL, NULL);
CREATE TEMP TABLE claimed AS
  SELECT d ->> 'queueName' AS queue_name, d ->> 'url' AS url
    FROM jsonb_array_elements(workflow.claim_messages(10, 30, 60) -> 'deliveries') d;
SELECT is((SELECT array_agg(url ORDER BY url) FROM claimed WHERE queue_name = '__wkf_step_charge'),
          ARRAY['http://10.0.0.4/step', 'http://10.0.0.5/flow'], 'each step message goes to its version''s step URL');
SELECT is((SELECT count(*) FROM claimed WHERE url IS NULL), 0::bigint, 'no claim without an address');

SELECT * FROM finish();
ROLLBACK;
