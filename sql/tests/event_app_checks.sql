-- pgTAP: change event_app_checks — create_event's routing wrappers no longer
-- check the app themselves; every path still refuses another app (403) and an
-- unknown one (404) before writing, on both protocols.
BEGIN;
SELECT plan(9);

SELECT workflow.ensure_app(a) FROM unnest(ARRAY['eac_a', 'eac_b']) a;
SELECT set_config('workflow.app_id', 'eac_a', true);
SELECT workflow.create_event('eac_a', NULL, 'run_created', NULL,
         '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 3)::jsonb #>> '{run,runId}' AS run4 \gset eac_
SELECT workflow.create_event('eac_a', NULL, 'run_created', NULL,
         '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 7)::jsonb #>> '{run,runId}' AS run6 \gset eac_
SELECT is((SELECT count(*) FROM workflow.runs WHERE app_id = 'eac_a'), 2::bigint, 'both protocols create runs');
SELECT is((workflow.create_event('eac_a', :'eac_run4', 'run_started', NULL, NULL, 3, 'all', NULL, NULL, NULL)::jsonb
          #>> '{run,status}'), 'running', 'the ten-argument form acts for its own app (DevKit 4)');
SELECT is((workflow.create_event('eac_a', :'eac_run6', 'run_started', NULL, NULL, 7, 'all', NULL, NULL,
                                 '{"eventCount": 1}')::jsonb #>> '{run,status}'), 'running',
          'and with DevKit 5 options');

-- Acting for app B while the request is app A's.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM workflow.events;
SELECT throws_ok($$ SELECT workflow.create_event('eac_b', NULL, 'run_created', NULL,
                      '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 3, 'all', NULL, NULL, NULL) $$,
                 'PW403', NULL, 'ten arguments, DevKit 4: another app is refused');
SELECT throws_ok($$ SELECT workflow.create_event('eac_b', NULL, 'run_created', NULL,
                      '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 7, 'all', NULL, NULL,
                      '{"eventCount": 0}') $$,
                 'PW403', NULL, 'ten arguments, DevKit 5 options: refused');
SELECT throws_ok($$ SELECT workflow.create_event('eac_b', NULL, 'run_created', NULL,
                      '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 3, 'all', NULL) $$,
                 'PW403', NULL, 'eight arguments, DevKit 4: refused');
SELECT throws_ok($$ SELECT workflow.create_event('eac_b', NULL, 'run_created', NULL,
                      '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 7, 'all', NULL) $$,
                 'PW403', NULL, 'eight arguments, DevKit 5: refused');
SELECT is((SELECT count(*) FROM workflow.events), (SELECT n FROM before), 'nothing was written');

-- An app that does not exist, named by the request itself.
SELECT set_config('workflow.app_id', 'eac_none', true);
SELECT throws_ok($$ SELECT workflow.create_event('eac_none', NULL, 'run_created', NULL,
                      '{"deploymentId":"v1","workflowName":"w","input":[]}'::jsonb, 3, 'all', NULL, NULL, NULL) $$,
                 'PW404', NULL, 'an unknown app is a 404');

SELECT * FROM finish();
ROLLBACK;
