-- pgTAP: replay of a DevKit 5 run (change replay_attributes) — the new run
-- starts with the attributes the replayed run was created with and names the
-- run it replays; DevKit 4 replays are unchanged.
BEGIN;
SELECT set_config('workflow.app_id', 'tap_rpl', false);
SELECT plan(13);
SELECT workflow.ensure_app('tap_rpl');

CREATE FUNCTION pg_temp.ev(r text, t text, c text, d jsonb, spec integer DEFAULT 7) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_rpl', r, t, c, d, spec)::jsonb $$;
CREATE FUNCTION pg_temp.created(extra jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('deploymentId', 'dep1', 'workflowName', 'workflow//./src/w//order',
           'input', '{"__type":"Uint8Array","data":"AAE="}'::jsonb,
           'executionContext', '{"traceCarrier":{"traceparent":"00-ab-cd-01"},"workflowCoreVersion":"5.0.0-beta.55"}'::jsonb)
      || extra
$$;
CREATE FUNCTION pg_temp.run(r text) RETURNS workflow.runs
LANGUAGE sql AS $$ SELECT * FROM workflow.runs WHERE app_id = 'tap_rpl' AND run_id = r $$;
CREATE FUNCTION pg_temp.created_data(r text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT event_data FROM workflow.events WHERE app_id = 'tap_rpl' AND run_id = r AND event_type = 'run_created' $$;
CREATE FUNCTION pg_temp.message(r text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT payload FROM workflow.messages WHERE app_id = 'tap_rpl' AND run_id = r $$;

-- A child run of a DevKit 5 app: caller attributes and lineage, then attr_set while it runs.
SELECT pg_temp.ev(NULL, 'run_created', NULL, pg_temp.created(
         '{"attributes":{"customer":"acme","$rootRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5R00","$parentRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5R00"},"allowReservedAttributes":true}'))
       #>> '{run,runId}' AS src \gset
SELECT pg_temp.ev(:'src', 'run_started', NULL, NULL);
SELECT pg_temp.ev(:'src', 'attr_set', NULL, '{"changes":[{"key":"stage","value":"charged"},{"key":"customer","value":"acme-2"}],"writer":{"type":"workflow"}}');
SELECT pg_temp.ev(:'src', 'run_completed', NULL, '{"output":null}');

SELECT workflow.replay_run('tap_rpl', :'src') ->> 'runId' AS copy \gset
SELECT is((pg_temp.run(:'copy')).attributes,
          '{"customer":"acme","$rootRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5R00","$parentRunId":"wrun_01ARZ3NDEKTSV4RRFFQ69G5R00"}'::jsonb,
          'the replay starts with the attributes the run was created with, lineage included');
SELECT is((pg_temp.run(:'src')).attributes ->> 'stage', 'charged', '(the source run''s own attr_set stays its own)');
SELECT is(workflow.get_run('tap_rpl', :'copy') -> 'attributes' ->> '$parentRunId', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5R00',
          'the run entity shows them');
SELECT is(pg_temp.created_data(:'copy') -> 'allowReservedAttributes', 'true'::jsonb,
          'its run_created carries them with allowReservedAttributes, as start() writes a child run''s');
SELECT is((pg_temp.run(:'copy')).execution_context,
          '{"traceCarrier":{"traceparent":"00-ab-cd-01"},"workflowCoreVersion":"5.0.0-beta.55"}'::jsonb
            || jsonb_build_object('replayedFromRunId', :'src'),
          'its executionContext is the source''s plus replayedFromRunId');
SELECT is((pg_temp.run(:'copy')).spec_version, 7, 'and it follows the source''s protocol');
SELECT is(pg_temp.message(:'copy') -> 'runInput' -> 'attributes', pg_temp.created_data(:'copy') -> 'attributes',
          'the queued message''s runInput carries the same attributes (a resilient start creates the same run)');
SELECT is(pg_temp.message(:'copy') #> '{runInput,allowReservedAttributes}', 'true'::jsonb, 'and allowReservedAttributes');

-- A DevKit 5 run created without attributes.
SELECT pg_temp.ev(NULL, 'run_created', NULL, pg_temp.created('{}')) #>> '{run,runId}' AS plain \gset
SELECT workflow.replay_run('tap_rpl', :'plain') ->> 'runId' AS plain_copy \gset
SELECT is(pg_temp.created_data(:'plain_copy') ?| ARRAY['attributes', 'allowReservedAttributes'], false,
          'a run created without attributes is replayed without them');

-- A DevKit 4 run: replayed exactly as before.
SELECT pg_temp.ev(NULL, 'run_created', NULL, pg_temp.created('{}'), 3) #>> '{run,runId}' AS old \gset
SELECT workflow.replay_run('tap_rpl', :'old') ->> 'runId' AS old_copy \gset
SELECT is((pg_temp.run(:'old_copy')).execution_context, (pg_temp.run(:'old')).execution_context,
          'a DevKit 4 replay copies the executionContext unchanged');
SELECT is(pg_temp.message(:'old_copy') -> 'runInput' ?| ARRAY['attributes', 'allowReservedAttributes'], false,
          'and queues the message it always did');

-- An encrypted run (either line) cannot be replayed here: its input is bound to its run's key.
SELECT pg_temp.ev(NULL, 'run_created', NULL, pg_temp.created(jsonb_build_object('input',
         jsonb_build_object('__type', 'Uint8Array', 'data', encode(convert_to('encr', 'UTF8') || '\x0102030405'::bytea, 'base64')))))
       #>> '{run,runId}' AS sealed \gset
SELECT throws_ok(format('SELECT workflow.replay_run(%L, %L)', 'tap_rpl', :'sealed'), 'PW409', NULL,
                 'an encrypted run''s replay is refused (the runtime''s own replay re-encrypts it)');
SELECT pg_temp.ev(NULL, 'run_created', NULL, pg_temp.created(jsonb_build_object('input',
         jsonb_build_object('__type', 'Uint8Array', 'data', encode(convert_to('encp', 'UTF8') || '\x01'::bytea, 'base64')))), 3)
       #>> '{run,runId}' AS sealed4 \gset
SELECT throws_ok(format('SELECT workflow.replay_run(%L, %L)', 'tap_rpl', :'sealed4'), 'PW409', NULL,
                 'a DevKit 4 run sealed to its key too');

SELECT * FROM finish();
ROLLBACK;
