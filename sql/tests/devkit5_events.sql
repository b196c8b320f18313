-- pgTAP: the DevKit 5 (spec >= 6) event log beside the DevKit 4 one
-- (change devkit5_events): slot ids, bump-and-report, lazy step start, error
-- bytes, attributes, 5.x hook and run members, event-id cursors.
BEGIN;
SELECT set_config('workflow.app_id', 'tap_dk5', false);
SELECT plan(66);
SELECT workflow.ensure_app('tap_dk5');

-- ev(run, type, correlation, data, options): a spec-7 write through the service's entry point.
CREATE FUNCTION pg_temp.ev(r text, t text, c text, d jsonb, o jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_dk5', r, t, c, d, 7, 'all', NULL, NULL, o)::jsonb $$;
CREATE FUNCTION pg_temp.ev_sql(r text, t text, c text, d jsonb, o jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT pg_temp.ev(%L, %L, %L, %L, %L)', r, t, c, d, o) $$;
CREATE FUNCTION pg_temp.ids(r text) RETURNS text[]
LANGUAGE sql AS $$ SELECT array_agg(event_id ORDER BY run_ordinal) FROM workflow.events WHERE app_id = 'tap_dk5' AND run_id = r $$;
CREATE FUNCTION pg_temp.bytes(b text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('__type', 'Uint8Array', 'data', b) $$;
CREATE FUNCTION pg_temp.created(attrs jsonb, allow boolean DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('deploymentId', 'dep1', 'workflowName', 'w', 'input', pg_temp.bytes('AA=='))
      || CASE WHEN attrs IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('attributes', attrs) END
      || CASE WHEN allow IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('allowReservedAttributes', allow) END
$$;

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5D01'''
\set run2 '''wrun_01ARZ3NDEKTSV4RRFFQ69G5D02'''
\set old '''wrun_01ARZ3NDEKTSV4RRFFQ69G5D03'''

-- Slot ids ---------------------------------------------------------------------
SELECT is(pg_temp.ev(:run, 'run_created', NULL, pg_temp.created('{"team":"a"}')) #>> '{event,eventId}',
          'evnt_00000000000000000000000001', 'run_created of a spec-7 run takes slot 1');
SELECT is(pg_temp.ev(:run, 'run_started', NULL, NULL, '{"eventCount":1}') #>> '{event,eventId}',
          'evnt_00000000000000000000000002', 'run_started takes slot 2');
SELECT is(pg_temp.ev(:run2, 'run_created', NULL, pg_temp.created(NULL)) #>> '{event,eventId}',
          'evnt_00000000000000000000000001', 'another run has its own slot 1: ids are unique per run');
SELECT workflow.create_event('tap_dk5', :old, 'run_created', NULL, '{"deploymentId":"dep1","workflowName":"w","input":null}', 3);
SELECT workflow.create_event('tap_dk5', :old, 'run_started', NULL, NULL, 3);
SELECT ok((pg_temp.ids(:old))[1] ~ '^wevt_[0-9A-HJKMNP-TV-Z]{26}$', 'a spec-3 run in the same app keeps wevt_ ULID ids');
SELECT is(workflow.run_json((SELECT r FROM workflow.runs r WHERE app_id = 'tap_dk5' AND run_id = :old)) ?| ARRAY['attributes', 'errorCode', 'encryptionPublicKey'],
          false, 'a spec-3 run''s JSON has none of the new members');
SELECT is(workflow.create_event('tap_dk5', :run, 'wait_created', 'w0', '{"resumeAt":"2999-01-01T00:00:00Z"}', 7)::jsonb #>> '{event,eventId}',
          'evnt_00000000000000000000000003', 'the seven-argument form routes a spec-7 run to slot ids too');

-- Bump and report ----------------------------------------------------------------
SELECT is(pg_temp.ev(:run, 'wait_created', 'w1', '{"resumeAt":"2999-01-01T00:00:00Z"}', '{"eventCount":3}') ?| ARRAY['events', 'cursor', 'hasMore'],
          false, 'an up-to-date eventCount: nothing to report');
SELECT pg_temp.ev(:run, 'wait_created', 'w2', '{"resumeAt":"2999-01-01T00:00:00Z"}', '{"eventCount":2}') AS bumped \gset
SELECT is(:'bumped'::jsonb #>> '{event,eventId}', 'evnt_00000000000000000000000005', 'a stale eventCount still lands in the next free slot');
SELECT is(jsonb_path_query_array(:'bumped'::jsonb, '$.events[*].eventId'),
          '["evnt_00000000000000000000000003", "evnt_00000000000000000000000004"]'::jsonb,
          'and the answer reports the skipped slots 3 and 4 in order');
SELECT is((:'bumped'::jsonb ->> 'cursor', :'bumped'::jsonb ->> 'hasMore'), ('4'::text, 'false'::text),
          'cursor is the last reported position, hasMore false');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'w3', '{"resumeAt":"2999-01-01T00:00:00Z"}', '{"eventCount":99}'),
                 'PW400', NULL, 'an eventCount beyond the log is refused (400)');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'w3', '{"resumeAt":"2999-01-01T00:00:00Z"}', '{"eventCount":-1}'),
                 'PW400', NULL, 'a negative eventCount is refused (400)');
SELECT throws_ok(pg_temp.ev_sql(:run, 'wait_created', 'w3', '{"resumeAt":"2999-01-01T00:00:00Z"}', '{"eventCount":"2"}'),
                 'PW400', NULL, 'a non-integer eventCount is refused (400)');
SELECT lives_ok(format('SELECT workflow.create_event(%L, %L, %L, %L, %L, 7, %L, 0::bigint)', 'tap_dk5', :run,
                       'wait_created', 'w3', '{"resumeAt":"2999-01-01T00:00:00Z"}', 'all'),
                'a stale stateUpdatedAt is no 412 for a spec-7 run');
SELECT is(jsonb_path_query_array(pg_temp.ev(:run, 'wait_completed', 'w3', NULL, '{"sinceCursor":"evnt_00000000000000000000000005"}'),
                                 '$.events[*].eventId'),
          '["evnt_00000000000000000000000006", "evnt_00000000000000000000000007"]'::jsonb,
          'sinceCursor answers every event after it, this write included');
SELECT is(pg_temp.ev(:run2, 'run_started', NULL, NULL, '{"skipPreload":true}') ? 'events', false,
          'skipPreload: run_started answers no log');
SELECT is(jsonb_array_length(pg_temp.ev(:run2, 'run_started', NULL, NULL) -> 'events'), 2,
          'without it, run_started answers the whole log');

-- Lazy step start --------------------------------------------------------------
SELECT pg_temp.ev(:run, 'step_started', 's1', jsonb_build_object('stepName', 'add', 'input', pg_temp.bytes('AQ=='))) AS lazy \gset
SELECT is(:'lazy'::jsonb -> 'stepCreated', 'true'::jsonb, 'step_started with stepName and input creates the step: stepCreated true');
SELECT is((:'lazy'::jsonb #>> '{step,status}', :'lazy'::jsonb #>> '{step,attempt}'), ('running'::text, '1'::text),
          'and starts it');
SELECT is((SELECT (event_type, event_data) FROM workflow.events WHERE app_id = 'tap_dk5' AND run_id = :run AND run_ordinal = 8),
          ROW('step_created'::text, jsonb_build_object('stepName', 'add', 'input', pg_temp.bytes('AQ=='))),
          'a synthetic step_created (name and input) takes the slot before the step_started');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 's1', jsonb_build_object('stepName', 'add', 'input', pg_temp.bytes('AQ=='))),
                 'PW409', NULL, 'a second lazy start of the same step loses: 409');
SELECT throws_ok(pg_temp.ev_sql(:run, 'step_started', 's2', '{}'), 'PW404', NULL,
                 'a bare step_started of a missing step is still 404');
SELECT is(pg_temp.ev(:run, 'step_started', 's1', '{}') ? 'stepCreated', false, 'a bare start of an existing step: no stepCreated');

-- Errors as bytes ------------------------------------------------------------------
SELECT is(pg_temp.ev(:run, 'step_retrying', 's1', jsonb_build_object('error', pg_temp.bytes('Ag=='))) #> '{step,error}',
          pg_temp.bytes('Ag=='), 'step_retrying keeps the error bytes as given');
SELECT pg_temp.ev(:run, 'step_created', 's2', jsonb_build_object('stepName', 'add', 'input', pg_temp.bytes('AQ==')));
SELECT is(pg_temp.ev(:run, 'step_failed', 's2', jsonb_build_object('error', pg_temp.bytes('Aw=='))) #> '{step,error}',
          pg_temp.bytes('Aw=='), 'step_failed keeps the error bytes as given');

-- Attributes -------------------------------------------------------------------------
SELECT is(pg_temp.ev(:run, 'attr_set', NULL, '{"changes":[{"key":"stage","value":"b"},{"key":"team","value":null}],"writer":{"type":"workflow"}}')
          #> '{run,attributes}', '{"stage":"b"}'::jsonb, 'attr_set merges: upsert one key, remove another');
SELECT is(pg_temp.ev(:run, 'attr_set', NULL,
            '{"changes":[{"key":"$x","value":"1"}],"writer":{"type":"step","stepId":"s1","attempt":1},"allowReservedAttributes":true}')
          #> '{run,attributes}', '{"stage":"b","$x":"1"}'::jsonb, 'a step writer with allowReservedAttributes may set a $ key');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL, '{"changes":[{"key":"$y","value":"1"}],"writer":{"type":"workflow"}}'),
                 'PW400', 'Attribute key "$y" starts with the reserved prefix "$", which belongs to framework code; such keys need allowReservedAttributes: true',
                 'a $ key without allowReservedAttributes: 400 naming the key');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL, '{"changes":[{"key":"a","value":"1"},{"key":"a","value":"2"}],"writer":{"type":"workflow"}}'),
                 'PW400', 'Attribute key "a" appears more than once in the same batch', 'a key twice in one batch: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL,
                   jsonb_build_object('changes', jsonb_build_array(jsonb_build_object('key', 'a', 'value', repeat('é', 129))),
                                      'writer', '{"type":"workflow"}'::jsonb)),
                 'PW400', 'Attribute value byte length 258 exceeds limit 256', 'a value over 256 UTF-8 bytes: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL,
                   jsonb_build_object('changes', jsonb_build_array(jsonb_build_object('key', repeat('k', 257), 'value', 'v')),
                                      'writer', '{"type":"workflow"}'::jsonb)),
                 'PW400', NULL, 'a key over 256 characters: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL,
                   jsonb_build_object('changes', (SELECT jsonb_agg(jsonb_build_object('key', 'k' || i, 'value', 'v')) FROM generate_series(1, 63) i),
                                      'writer', '{"type":"workflow"}'::jsonb)),
                 'PW400', 'Run attribute count would exceed limit 64 (post-merge 65)', 'more than 64 attributes after the merge: 400');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL, '{"changes":[{"key":"a","value":"1"}],"writer":{"type":"robot"}}'),
                 'PW400', NULL, 'an unknown writer: 400');
SELECT is((SELECT attributes FROM workflow.runs WHERE app_id = 'tap_dk5' AND run_id = :run), '{"stage":"b","$x":"1"}'::jsonb,
          'refused changes changed nothing');
SELECT throws_ok(pg_temp.ev_sql('wrun_01ARZ3NDEKTSV4RRFFQ69G5D04', 'run_created', NULL, pg_temp.created('{"$rootRunId":"wrun_1"}')),
                 'PW400', NULL, 'run_created with a $ attribute and no allowReservedAttributes: 400');
SELECT is(pg_temp.ev('wrun_01ARZ3NDEKTSV4RRFFQ69G5D04', 'run_created', NULL,
                     pg_temp.created(jsonb_build_object('$rootRunId', :run, '$parentRunId', :run), true)) #> '{run,attributes}',
          jsonb_build_object('$rootRunId', :run, '$parentRunId', :run), 'a child run carries $rootRunId and $parentRunId');
SELECT throws_ok(format('SELECT workflow.create_event(%L, %L, %L, NULL, %L, 3)', 'tap_dk5', :old, 'attr_set',
                        '{"changes":[],"writer":{"type":"workflow"}}'),
                 'PW400', NULL, 'a spec-3 run knows no attr_set (400, as before)');

-- Resilient start with attributes and key
SELECT pg_temp.ev('wrun_01ARZ3NDEKTSV4RRFFQ69G5D05', 'run_started', NULL,
                  pg_temp.created('{"k":"v"}') || '{"encryptionPublicKey":"cHVibGlj"}') AS resilient \gset
SELECT is((:'resilient'::jsonb #> '{run,attributes}', :'resilient'::jsonb #>> '{run,encryptionPublicKey}'),
          ('{"k":"v"}'::jsonb, 'cHVibGlj'::text), 'a resilient run_started creates the run with its attributes and key');
SELECT is(jsonb_path_query_array(:'resilient'::jsonb, '$.events[*].eventId'),
          '["evnt_00000000000000000000000001", "evnt_00000000000000000000000002"]'::jsonb,
          'with a synthetic run_created in slot 1');

-- Hooks -----------------------------------------------------------------------------
SELECT pg_temp.ev(:run, 'hook_created', 'h1', '{"token":"dk5-tok","isSystem":true,"tokenRetentionUntil":"2999-01-01T00:00:00Z"}') AS hook \gset
SELECT is((:'hook'::jsonb #>> '{hook,isSystem}', :'hook'::jsonb #>> '{hook,tokenRetentionUntil}'),
          ('true'::text, '2999-01-01T00:00:00.000Z'::text), 'hook_created keeps isSystem and tokenRetentionUntil');
SELECT is(:'hook'::jsonb #> '{hook,resumeContext}',
          jsonb_build_object('deploymentId', 'dep1', 'workflowName', 'w', 'runSpecVersion', 7),
          'and answers a resumeContext taken from its run');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_created', 'h2', '{"token":"t2","isSystem":"yes"}'), 'PW400', NULL,
                 'a non-boolean isSystem: 400');

-- Lazy hook resume: resumeId dedup, preloadEvents, resumeCapabilities
SELECT pg_temp.ev(:run, 'hook_received', 'h1', '{"payload":1}', '{"resumeId":"r1","resumePayloadDigest":"d1"}') AS resumed \gset
SELECT is(:'resumed'::jsonb #>> '{event,resumeId}', 'r1', 'hook_received keeps its resumeId');
SELECT is(pg_temp.ev(:run, 'hook_received', 'h1', '{"payload":1}', '{"resumeId":"r1","resumePayloadDigest":"d1"}') #>> '{event,eventId}',
          :'resumed'::jsonb #>> '{event,eventId}', 'the same resumeId again answers the same event');
SELECT is((SELECT count(*) FROM workflow.events WHERE app_id = 'tap_dk5' AND run_id = :run AND event_type = 'hook_received'),
          1::bigint, 'and appends nothing');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_received', 'h1', '{"payload":2}', '{"resumeId":"r1","resumePayloadDigest":"d2"}'),
                 'PW409', NULL, 'the same resumeId with another payload digest: 409');
SELECT pg_temp.ev(:run, 'hook_received', 'h1', '{"payload":3}', '{"resumeId":"r2","preloadEvents":true}') AS preload \gset
SELECT is((:'preload'::jsonb #>> '{run,runId}', :'preload'::jsonb ? 'maxEvents', :'preload'::jsonb ->> 'hasMore'),
          (:run::text, true, 'false'::text), 'preloadEvents answers the run, maxEvents and a complete log');
SELECT is(jsonb_array_length(:'preload'::jsonb -> 'events'),
          (SELECT count(*)::integer FROM workflow.events WHERE app_id = 'tap_dk5' AND run_id = :run),
          'the whole log, this event included');
SELECT is(workflow.get_hook_by_token('tap_dk5', 'dk5-tok') -> 'resumeCapabilities', '{"hookResumeDedupVersion": 1}'::jsonb,
          'a spec-7 hook looked up by token attests the resume dedup');
SELECT workflow.create_event('tap_dk5', :old, 'hook_created', 'h1', '{"token":"dk4-tok"}', 3);
SELECT is(workflow.get_hook_by_token('tap_dk5', 'dk4-tok') ? 'resumeCapabilities', false, 'a spec-3 hook does not');

-- Cursors ---------------------------------------------------------------------------
SELECT is(workflow.list_events('tap_dk5', :run, NULL, 2, 'evnt_00000000000000000000000003')::jsonb #>> '{data,0,eventId}',
          'evnt_00000000000000000000000004', 'a slot id is a cursor');
SELECT is(workflow.list_events('tap_dk5', :run, NULL, 2, 'eid:evnt_00000000000000000000000003')::jsonb #>> '{data,0,eventId}',
          'evnt_00000000000000000000000004', 'eid:<slot id> too');
SELECT is(workflow.list_events('tap_dk5', :old, NULL, 2, (pg_temp.ids(:old))[1])::jsonb #>> '{data,0,eventId}',
          (pg_temp.ids(:old))[2], 'a wevt_ id of the run is a cursor');
SELECT is(workflow.list_events('tap_dk5', :run, NULL, 2, '3')::jsonb #>> '{data,0,eventId}',
          'evnt_00000000000000000000000004', 'a position still is');
SELECT throws_ok(format('SELECT workflow.list_events(%L, %L, NULL, 2, %L)', 'tap_dk5', :run, (pg_temp.ids(:old))[1]),
                 'PW400', NULL, 'another run''s event id: 400');

-- Run ends ------------------------------------------------------------------------------
SELECT throws_ok(pg_temp.ev_sql(:run2, 'run_cancelled', NULL, jsonb_build_object('cancelReason', repeat('x', 513))),
                 'PW400', NULL, 'a cancelReason over 512 characters: 400');
SELECT is(pg_temp.ev(:run2, 'run_cancelled', NULL, '{"cancelReason":"no longer needed"}') #>> '{event,eventData,cancelReason}',
          'no longer needed', 'run_cancelled keeps its cancelReason in the event');
SELECT pg_temp.ev(:run, 'run_failed', NULL, jsonb_build_object('error', pg_temp.bytes('BA=='), 'errorCode', 'USER_ERROR')) AS failed \gset
SELECT is((:'failed'::jsonb #> '{run,error}', :'failed'::jsonb #>> '{run,errorCode}'), (pg_temp.bytes('BA=='), 'USER_ERROR'::text),
          'run_failed: error bytes as given and errorCode beside them');
SELECT is((SELECT (error_code, attributes, root_run_id) FROM workflow_analytics.runs WHERE app_id = 'tap_dk5' AND run_id = :run),
          ROW('USER_ERROR'::text, '{"stage":"b","$x":"1"}'::jsonb, NULL::text), 'workflow_analytics.runs shows errorCode and attributes');
SELECT is((SELECT parent_run_id FROM workflow_analytics.runs WHERE app_id = 'tap_dk5' AND run_id = 'wrun_01ARZ3NDEKTSV4RRFFQ69G5D04'),
          :run, 'and the parent of a child run');
SELECT throws_ok(pg_temp.ev_sql(:run, 'attr_set', NULL, '{"changes":[{"key":"a","value":"1"}],"writer":{"type":"workflow"}}'),
                 'PW409', NULL, 'attr_set on an ended run: 409');

-- Token retention: h1 (kept until 2999) outlives its run's end, readable but not resumable.
SELECT is(workflow.get_hook_by_token('tap_dk5', 'dk5-tok') ->> 'hookId', 'h1', 'a hook with tokenRetentionUntil stays readable after its run ends');
SELECT throws_ok(pg_temp.ev_sql(:run, 'hook_received', 'h1', '{"payload":9}'), 'PW404', NULL, 'but cannot be resumed');
SELECT pg_temp.ev('wrun_01ARZ3NDEKTSV4RRFFQ69G5D05', 'hook_created', 'hx', '{"token":"dk5-tok"}') AS taken \gset
SELECT is(:'taken'::jsonb #>> '{event,eventType}', 'hook_conflict', 'and its token is still held');
UPDATE workflow.hooks SET token_retention_until = now() - interval '1 second' WHERE app_id = 'tap_dk5' AND run_id = :run AND hook_id = 'h1';
SELECT is(pg_temp.ev('wrun_01ARZ3NDEKTSV4RRFFQ69G5D05', 'hook_created', 'hy', '{"token":"dk5-tok"}') #>> '{event,eventType}', 'hook_created',
          'once the retention is over, the next hook_created gets the token');
SELECT isnt((SELECT disposed_at FROM workflow.hooks WHERE app_id = 'tap_dk5' AND run_id = :run AND hook_id = 'h1'), NULL,
            'and the old hook is disposed');

SELECT * FROM finish();
ROLLBACK;
