-- pgTAP: the workflow template's order follows the seed's rule (change
-- template_order): a step that overlaps the steps before it joins their
-- parallelGroup and keeps their order; only a step that starts after every
-- earlier one ended takes the next order.
BEGIN;
SELECT plan(4);

SELECT workflow.ensure_app('to');
SELECT set_config('workflow.app_id', 'to', false);
CREATE FUNCTION pg_temp.ev(r text, t text, c text DEFAULT NULL, d jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('to', r, t, c, d, 3)::jsonb $$;
CREATE FUNCTION pg_temp.new_run(wf text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  id text;
BEGIN
  id := pg_temp.ev(NULL, 'run_created', NULL, jsonb_build_object('deploymentId', 'dep1', 'workflowName', wf,
                                                                  'input', 1)) #>> '{run,runId}';
  PERFORM pg_temp.ev(id, 'run_started');
  RETURN id;
END $$;
-- created(s, name) / done(s): a step's creation and its end (started + completed).
CREATE FUNCTION pg_temp.created(r text, s text, name text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_temp.ev(r, 'step_created', s, jsonb_build_object('stepName', name)) $$;
CREATE FUNCTION pg_temp.done(r text, s text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_temp.ev(r, 'step_started', s); SELECT pg_temp.ev(r, 'step_completed', s, '{"result":1}') $$;

-- a; then b and c overlap; d starts while c still runs (b ended): it overlaps c, so it joins their group and
-- order; e starts after all ended: next order, alone; f and g overlap: the order after e, a new parallelGroup.
SELECT pg_temp.new_run('workflow//w//chain') AS run \gset
SELECT pg_temp.created(:'run', 'a', 'step//a');
SELECT pg_temp.done(:'run', 'a');
SELECT pg_temp.created(:'run', 'b', 'step//b');
SELECT pg_temp.created(:'run', 'c', 'step//c');
SELECT pg_temp.done(:'run', 'b');
SELECT pg_temp.created(:'run', 'd', 'step//d');
SELECT pg_temp.done(:'run', 'c');
SELECT pg_temp.done(:'run', 'd');
SELECT pg_temp.created(:'run', 'e', 'step//e');
SELECT pg_temp.done(:'run', 'e');
SELECT pg_temp.created(:'run', 'f', 'step//f');
SELECT pg_temp.created(:'run', 'g', 'step//g');
SELECT pg_temp.done(:'run', 'g');
SELECT pg_temp.done(:'run', 'f');
SELECT pg_temp.ev(:'run', 'run_completed', NULL, '{"output":1}');

SELECT is(workflow.get_workflow_template('to', 'workflow//w//chain') -> 'steps',
          '[{"stepName":"step//a","order":1},
            {"stepName":"step//b","order":2,"parallelGroup":1},
            {"stepName":"step//c","order":2,"parallelGroup":1},
            {"stepName":"step//d","order":2,"parallelGroup":1},
            {"stepName":"step//e","order":3},
            {"stepName":"step//f","order":4,"parallelGroup":2},
            {"stepName":"step//g","order":4,"parallelGroup":2}]'::jsonb,
          'overlapping steps share the order of the group they join; a step after them all takes the next order');
SELECT is((SELECT array_agg(DISTINCT (s ->> 'order')::int ORDER BY (s ->> 'order')::int)
             FROM jsonb_array_elements(workflow.get_workflow_template('to', 'workflow//w//chain') -> 'steps') s),
          ARRAY[1, 2, 3, 4], 'orders are dense from 1');

-- Strictly sequential steps: every step its own order, no parallelGroup.
SELECT pg_temp.new_run('workflow//w//seq') AS run \gset seq_
SELECT pg_temp.created(:'seq_run', x, 'step//' || x), pg_temp.done(:'seq_run', x) FROM unnest(ARRAY['x', 'y', 'z']) x;
SELECT pg_temp.ev(:'seq_run', 'run_completed', NULL, '{"output":1}');
SELECT is(workflow.get_workflow_template('to', 'workflow//w//seq') -> 'steps',
          '[{"stepName":"step//x","order":1},{"stepName":"step//y","order":2},{"stepName":"step//z","order":3}]'::jsonb,
          'sequential steps: one order each');
-- All at once: one order, one group.
SELECT pg_temp.new_run('workflow//w//fan') AS run \gset fan_
SELECT pg_temp.created(:'fan_run', x, 'step//' || x) FROM unnest(ARRAY['p', 'q']) x;
SELECT pg_temp.done(:'fan_run', x) FROM unnest(ARRAY['p', 'q']) x;
SELECT pg_temp.ev(:'fan_run', 'run_completed', NULL, '{"output":1}');
SELECT is(workflow.get_workflow_template('to', 'workflow//w//fan') -> 'steps',
          '[{"stepName":"step//p","order":1,"parallelGroup":1},{"stepName":"step//q","order":1,"parallelGroup":1}]'::jsonb,
          'a fan-out: one order, one parallelGroup');

SELECT * FROM finish();
ROLLBACK;
