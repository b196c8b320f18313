-- pgTAP: workflow deliveries carry the run's run_started answer for pods that
-- registered the feature run-started (change run_snapshots).
BEGIN;
SELECT plan(13);

SELECT workflow.ensure_app('rs');
SELECT workflow.ensure_app('rs_other');
SELECT set_config('workflow.app_id', 'rs', true);
SELECT workflow.register_handler('rs', 'pod-new', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step', NULL, NULL,
                                 ARRAY['run-started']);
SELECT workflow.register_handler('rs', 'pod-old', 'v2', 'http://127.0.0.1:8/flow', 'http://127.0.0.1:8/step', NULL, NULL);
SELECT is((SELECT array_agg(features::text ORDER BY pod_id) FROM workflow.handlers WHERE app_id = 'rs'),
          ARRAY['{run-started}', '{}'], 'features are recorded; none without the argument');
SELECT throws_ok($$SELECT workflow.register_handler('rs', 'pod-x', 'v1', 'http://127.0.0.1:9/flow',
                     'http://127.0.0.1:9/step', NULL, NULL, ARRAY['teleport'])$$, 'PW400', NULL, 'an unknown feature is refused');
SELECT throws_ok($$SELECT workflow.register_handler('rs_other', 'pod-x', 'v1', 'http://127.0.0.1:9/flow',
                     'http://127.0.0.1:9/step', NULL, NULL, ARRAY['run-started'])$$, 'PW403', NULL, 'another app is refused');

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5K00'''
SELECT workflow.create_event('rs', :run, 'run_created', NULL, '{"deploymentId":"v1","workflowName":"w","input":null}', 3, 'all');
SELECT is(workflow.run_started_snapshot('rs', :run), NULL, 'a pending run has no snapshot');
SELECT workflow.create_event('rs', :run, 'run_started', NULL, NULL, 3, 'all');
SELECT workflow.create_event('rs', :run, 'step_created', 's1', '{"stepName":"add","input":[1]}', 3, 'all');
SELECT is(workflow.run_started_snapshot('rs', :run)::jsonb,
          workflow.create_event('rs', :run, 'run_started', NULL, NULL, 3, 'all')::jsonb,
          'a running run''s snapshot is create_event''s answer to run_started');
SELECT is(workflow.run_started_snapshot('rs', 'wrun_missing'), NULL, 'an unknown run has none');

-- Claims: a workflow message to a pod with the feature carries runStarted.
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('rs:1', 0, clock_timestamp());
CREATE FUNCTION pg_temp.claim() RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions), 100, 300, 60) -> 'deliveries' $$;
SELECT workflow.enqueue('rs', '__wkf_workflow_w', jsonb_build_object('runId', :run), 'v1');
SELECT workflow.enqueue('rs', '__wkf_step_add', jsonb_build_object('workflowRunId', :run, 'stepId', 's1'), 'v1');
CREATE TEMP TABLE c AS SELECT d FROM jsonb_array_elements(pg_temp.claim()) d;
SELECT is((SELECT count(*) FROM c), 2::bigint, 'both claimed');
SELECT is((SELECT (d ->> 'runStarted')::jsonb FROM c WHERE d ->> 'podId' = 'pod-new' AND d ->> 'queueName' = '__wkf_workflow_w'),
          workflow.run_started_snapshot('rs', :run)::jsonb, 'the workflow message carries the run''s snapshot');
SELECT is((SELECT d ? 'runStarted' FROM c WHERE d ->> 'queueName' = '__wkf_step_add'), false, 'a step message does not');
UPDATE workflow.messages SET status = 'delivered', delivered_at = clock_timestamp(), lease_until = NULL
 WHERE app_id = 'rs' AND status = 'claimed';
SELECT workflow.enqueue('rs', '__wkf_workflow_w', jsonb_build_object('runId', :run), 'v2', 'to-old-pod');
SELECT is((SELECT array_agg(d ? 'runStarted') FROM jsonb_array_elements(pg_temp.claim()) d), ARRAY[false],
          'nor a workflow message to a pod without the feature');

-- A pending run's wake-up carries none (its run_started is a state change).
\set run2 '''wrun_01ARZ3NDEKTSV4RRFFQ69G5K01'''
SELECT workflow.create_event('rs', :run2, 'run_created', NULL, '{"deploymentId":"v1","workflowName":"w","input":null}', 3, 'all');
SELECT workflow.enqueue('rs', '__wkf_workflow_w', jsonb_build_object('runId', :run2), 'v1');
SELECT is((SELECT d ? 'runStarted' FROM jsonb_array_elements(pg_temp.claim()) d), false, 'a pending run''s message has none');

SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.with_run_snapshots(jsonb)', 'EXECUTE'),
          'tenants cannot call with_run_snapshots');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.run_started_snapshot(text, text)', 'EXECUTE'),
          'nor run_started_snapshot');

SELECT * FROM finish();
ROLLBACK;
