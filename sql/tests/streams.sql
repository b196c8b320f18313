-- pgTAP: streams (index allocation, close, reads, health checks, tenancy).
BEGIN;
SELECT plan(32);

SELECT has_table('workflow', 'streams', 'streams table exists');
SELECT has_table('workflow', 'stream_chunks', 'stream_chunks table exists');
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
            WHERE oid IN ('workflow.streams'::regclass, 'workflow.stream_chunks'::regclass)),
          'row-level security is enabled on both stream tables');

SELECT workflow.ensure_app('tap_streams');
SELECT workflow.ensure_app('tap_other');
-- API functions act for the request's app only.
SELECT set_config('workflow.app_id', 'tap_streams', true);
CREATE TEMP TABLE r AS
SELECT workflow.create_event('tap_streams', NULL, 'run_created', NULL,
         '{"deploymentId":"d1","workflowName":"wf","input":{"__type":"Uint8Array","data":""}}', 2)::jsonb -> 'run' ->> 'runId' AS id
UNION ALL
SELECT workflow.create_event('tap_streams', NULL, 'run_created', NULL,
         '{"deploymentId":"d1","workflowName":"wf","input":{"__type":"Uint8Array","data":""}}', 2)::jsonb -> 'run' ->> 'runId';
CREATE FUNCTION pg_temp.run1() RETURNS text LANGUAGE sql AS $$ SELECT min(id) FROM r $$;
CREATE FUNCTION pg_temp.run2() RETURNS text LANGUAGE sql AS $$ SELECT max(id) FROM r $$;

-- Index allocation: dense, in write order, multi writes keep their order.
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', ARRAY['\x00'::bytea, '\x01']),
          '{"written": 2, "tailIndex": 1, "done": false}', 'a write of two chunks gets indexes 0 and 1');
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', ARRAY['\x02'::bytea, '\x03', '\x0400']) ->> 'tailIndex',
          '4', 'the next write continues at 2');
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', '{}'::bytea[]) ->> 'written', '0',
          'an empty write writes nothing');
SELECT results_eq($$ SELECT chunk_index, data FROM workflow.stream_chunks WHERE app_id = 'tap_streams' AND name = 's' ORDER BY 1 $$,
                  $$ VALUES (0, '\x00'::bytea), (1, '\x01'), (2, '\x02'), (3, '\x03'), (4, '\x0400') $$,
                  'chunks are stored byte-exact with dense indexes');
SELECT is(workflow.get_stream_info('tap_streams', pg_temp.run1(), 's'), '{"tailIndex": 4, "done": false}', 'info: tail 4, open');
SELECT is(workflow.list_streams('tap_streams', pg_temp.run1()), '["s"]', 'the run lists its stream');

-- Reads: positive and negative start indexes.
SELECT is((SELECT row(chunks, start_index, next_index, more, done)::text FROM workflow.read_stream('tap_streams', 's', 0)),
          row('\x000102030400'::bytea, 0, 5, false, false)::text, 'read from 0: every chunk, still open');
SELECT is((SELECT row(chunks, start_index, next_index)::text FROM workflow.read_stream('tap_streams', 's', 3)),
          row('\x030400'::bytea, 3, 5)::text, 'read from 3');
SELECT is((SELECT row(chunks, start_index, next_index)::text FROM workflow.read_stream('tap_streams', 's', -2)),
          row('\x030400'::bytea, 3, 5)::text, 'read from -2 starts two chunks before the end');
SELECT is((SELECT start_index FROM workflow.read_stream('tap_streams', 's', -100)), 0, 'a negative index past the start is clamped to 0');
SELECT is((SELECT row(chunks, next_index, more)::text FROM workflow.read_stream('tap_streams', 's', 1, 2)),
          row('\x0102'::bytea, 3, true)::text, 'a read is bounded by p_max_chunks and says more is waiting');
SELECT is((SELECT row(chunks, next_index, more, done)::text FROM workflow.read_stream('tap_streams', 'nothing-yet', -3)),
          row(''::bytea, 0, false, false)::text, 'a stream with no chunk reads as empty and open');
SELECT is(workflow.get_stream_info('tap_streams', pg_temp.run1(), 'nothing-yet'), '{"tailIndex": -1, "done": false}',
          'info of a stream with no chunk');

-- Pages of chunks.
SELECT is(workflow.get_stream_chunks('tap_streams', pg_temp.run1(), 's', 2, NULL) - 'data',
          '{"cursor": "2", "hasMore": true, "done": false}', 'first page has a cursor');
SELECT is(workflow.get_stream_chunks('tap_streams', pg_temp.run1(), 's', 2, '4'),
          '{"data": [{"index": 4, "data": {"__type": "Uint8Array", "data": "BAA="}}], "cursor": null, "hasMore": false, "done": false}',
          'last page: binary form, no cursor');

-- Close semantics.
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', ARRAY['\x05'::bytea], true),
          '{"written": 1, "tailIndex": 5, "done": true}', 'a write may carry the close');
CREATE TEMP TABLE closed AS SELECT closed_at FROM workflow.streams WHERE app_id = 'tap_streams' AND name = 's';
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', ARRAY['\x06'::bytea]),
          '{"written": 0, "tailIndex": 5, "done": true}', 'a write after the close is ignored');
SELECT is(workflow.write_stream('tap_streams', pg_temp.run1(), 's', '{}', true) ->> 'done', 'true', 'closing again succeeds');
SELECT is((SELECT count(*)::int FROM workflow.stream_chunks WHERE app_id = 'tap_streams' AND name = 's'), 6,
          'nothing was appended after the close');
SELECT is((SELECT closed_at FROM workflow.streams WHERE app_id = 'tap_streams' AND name = 's'), (SELECT closed_at FROM closed),
          'the first close time is kept');
SELECT is((SELECT row(start_index, next_index, done)::text FROM workflow.read_stream('tap_streams', 's', -1)),
          row(5, 6, true)::text, 'a closed stream read to its end is done');
SELECT is((SELECT done FROM workflow.read_stream('tap_streams', 's', 50)), true, 'a read past the end of a closed stream is done');

-- Refusals.
SELECT throws_ok($$ SELECT workflow.write_stream('tap_streams', 'wrun_00000000000000000000000000', 'x', ARRAY['\x00'::bytea]) $$,
                 'PW404', NULL, 'an ordinary stream of an unknown run is refused');
SELECT throws_ok($$ SELECT workflow.write_stream('tap_streams', pg_temp.run2(), 's', ARRAY['\x00'::bytea]) $$,
                 'PW409', NULL, 'another run may not write to the stream');
SELECT throws_ok($$ SELECT workflow.write_stream('tap_streams', pg_temp.run1(), 'n', ARRAY[NULL::bytea]) $$,
                 'PW400', NULL, 'a null chunk is refused');

-- Health checks need no run, and old ones are cleared.
SELECT lives_ok($$ SELECT workflow.write_stream('tap_streams', 'wrun_fake', '__health_check__old', ARRAY['\x7b7d'::bytea], true) $$,
                'a health-check stream needs no run');
UPDATE workflow.streams SET created_at = now() - interval '2 hours' WHERE name = '__health_check__old';
SELECT workflow.write_stream('tap_streams', 'wrun_fake2', '__health_check__new', ARRAY[convert_to('{"healthy":true}', 'UTF8')]);
SELECT is((SELECT array_agg(name ORDER BY name) FROM workflow.streams WHERE app_id = 'tap_streams' AND run_id IS NULL),
          ARRAY['__health_check__new'], 'health-check streams older than an hour are removed');

-- Tenancy: another app's request sees no stream and cannot read this one.
SET LOCAL ROLE pgw_tenant;
SELECT set_config('workflow.app_id', 'tap_other', true);
SELECT is((SELECT count(*)::int FROM workflow.stream_chunks) + (SELECT count(*)::int FROM workflow.streams), 0,
          'row-level security hides other apps'' streams');
SELECT throws_ok($$ SELECT * FROM workflow.read_stream('tap_streams', 's', 0) $$, 'PW403', NULL,
                 'reading through another app is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
