-- pgTAP: stream write sessions (change stream_write_sessions) — a writer's
-- group is stored once however often it is sent.
BEGIN;
SELECT set_config('workflow.app_id', 'tap_sws', false);
SELECT plan(15);
SELECT workflow.ensure_app('tap_sws');

\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5W01'''
\set w1 '''wrtr_01ARZ3NDEKTSV4RRFFQ69G5W01'''
\set w2 '''wrtr_01ARZ3NDEKTSV4RRFFQ69G5W02'''
SELECT workflow.create_event('tap_sws', :run, 'run_created', NULL,
                             '{"deploymentId":"dep1","workflowName":"w","input":null}', 7);

CREATE FUNCTION pg_temp.w(writer text, seq bigint, chunks text[], done boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT workflow.write_stream_session('tap_sws', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5W01', 'out', writer, seq,
                                       (SELECT array_agg(convert_to(c, 'UTF8') ORDER BY o) FROM unnest(chunks) WITH ORDINALITY u(c, o)),
                                       done)
$$;
CREATE FUNCTION pg_temp.stored() RETURNS text[]
LANGUAGE sql AS $$
  SELECT coalesce(array_agg(convert_from(data, 'UTF8') ORDER BY chunk_index), '{}')
    FROM workflow.stream_chunks WHERE app_id = 'tap_sws' AND name = 'out'
$$;

SELECT is(pg_temp.w(:w1, 0, ARRAY['a', 'b']), '{"written": 2, "tailIndex": 1, "done": false, "duplicate": 0}'::jsonb,
          'a first group is written like write_stream writes it');
SELECT is(pg_temp.w(:w1, 0, ARRAY['a', 'b']), '{"written": 0, "tailIndex": 1, "done": false, "duplicate": 2}'::jsonb,
          'the same group sent again stores nothing');
SELECT is(pg_temp.w(:w1, 2, ARRAY['c']) ->> 'written', '1', 'the next group is written');
SELECT is(pg_temp.w(:w1, 1, ARRAY['b', 'c', 'd']), '{"written": 1, "tailIndex": 3, "done": false, "duplicate": 2}'::jsonb,
          'a group overlapping what the writer stored adds only its new chunks');
SELECT is(pg_temp.stored(), ARRAY['a', 'b', 'c', 'd'], 'each chunk once, in the writer''s order');
SELECT is(pg_temp.w(:w2, 0, ARRAY['x']) ->> 'written', '1', 'another writer of the same stream has its own sequence');
SELECT is(pg_temp.w(:w1, 6, ARRAY['g']) ->> 'written', '1', 'a group past the stored point is written (ids observe, not fence)');
SELECT is((SELECT array_agg(writer_id || '=' || next_seq ORDER BY writer_id) FROM workflow.stream_writers
            WHERE app_id = 'tap_sws' AND name = 'out'),
          ARRAY[:w1 || '=7', :w2 || '=1'], 'the writers'' progress is kept per stream and writer');
SELECT is(pg_temp.w(:w1, 7, ARRAY['h'], true), '{"written": 1, "tailIndex": 6, "done": true, "duplicate": 0}'::jsonb,
          'a session write may close the stream');
SELECT is(pg_temp.w(:w1, 7, ARRAY['h']), '{"written": 0, "tailIndex": 6, "done": true, "duplicate": 1}'::jsonb,
          'a resend after the close changes nothing');

SELECT throws_ok($$SELECT pg_temp.w('wrtr_bad', 0, ARRAY['a'])$$, 'PW400', NULL, 'a malformed writer id is refused');
SELECT throws_ok($$SELECT pg_temp.w('wrtr_01ARZ3NDEKTSV4RRFFQ69G5W03', -1, ARRAY['a'])$$, 'PW400', NULL,
                 'a negative sequence is refused');
SELECT throws_ok($$SELECT workflow.write_stream_session('tap_sws', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5W09', 'other',
                     'wrtr_01ARZ3NDEKTSV4RRFFQ69G5W03', 0, ARRAY['\x00'::bytea])$$, 'PW404', NULL,
                 'an unknown run is 404, as for write_stream');
SELECT is((SELECT count(*) FROM workflow.stream_writers WHERE app_id = 'tap_sws' AND name = 'other'), 0::bigint,
          'and records no writer');

DELETE FROM workflow.runs WHERE app_id = 'tap_sws' AND run_id = :run;
SELECT is((SELECT count(*) FROM workflow.stream_writers WHERE app_id = 'tap_sws'), 0::bigint,
          'writers go with their stream and run');

SELECT * FROM finish();
ROLLBACK;
