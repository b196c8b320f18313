-- pgTAP: event_run_spec keeps its answers as PL/pgSQL (change event_routing_cost).
BEGIN;
SELECT plan(6);

SELECT workflow.ensure_app('ers');
INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, spec_version, input,
                           created_at, updated_at)
VALUES ('ers', 'wrun_v4', 'pending', 'v1', 'wf', 3, '[]', now(), now()),
       ('ers', 'wrun_v5', 'pending', 'v1', 'wf', 7, '[]', now(), now());

SELECT is(workflow.event_run_spec('ers', 'wrun_new', 'run_created', 7), 7, 'run_created follows its own spec');
SELECT is(workflow.event_run_spec('ers', 'wrun_v4', 'step_created', 7), 3, 'other events follow the run''s stamp');
SELECT is(workflow.event_run_spec('ers', 'wrun_v5', 'step_created', 3), 7, 'a DevKit 5 run stays DevKit 5');
SELECT is(workflow.event_run_spec('ers', 'wrun_gone', 'run_started', 7), 7, 'a run_started finding no run: its own');
SELECT is(workflow.event_run_spec('ers', 'wrun_gone', 'step_created', 7), NULL::integer, 'any other event finding no run: none');
SELECT is((SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'workflow.event_run_spec(text, text, text, integer)'::regprocedure), 'plpgsql',
          'PL/pgSQL: its plan is kept across calls');

SELECT * FROM finish();
ROLLBACK;
