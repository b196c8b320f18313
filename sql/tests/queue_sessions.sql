-- pgTAP: two dispatcher sessions claiming at the same time, through dblink
-- (skipped where the cluster lacks it; tests/test_queue_claims.py covers the
-- same interleavings with two psycopg connections). The sessions commit, so
-- their app is deleted at the end.
BEGIN;
SELECT plan(5);

DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink') THEN
    CREATE EXTENSION IF NOT EXISTS dblink;
  END IF;
END $$;

-- dblink is called through EXECUTE so this file parses without it.
CREATE FUNCTION pg_temp.remote(session text, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  answer text;
BEGIN
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' INTO answer USING session, query;
  RETURN answer;
END $$;

CREATE FUNCTION pg_temp.exec(session text, command text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'SELECT dblink_exec($1, $2)' USING session, command;
END $$;

CREATE FUNCTION pg_temp.two_sessions() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  conninfo text := format('host=%s port=%s dbname=%s user=%s', coalesce(host(inet_server_addr()), '/var/run/postgresql'),
                          current_setting('port'), current_database(), current_user);
  s text;
  first jsonb;
  second jsonb;
  first_ids text[];
  second_ids text[];
  waiting text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') THEN
    RETURN QUERY SELECT skip('dblink is not available', 5);
    RETURN;
  END IF;
  FOREACH s IN ARRAY ARRAY['qs_setup', 'qs_a', 'qs_b'] LOOP
    EXECUTE 'SELECT dblink_connect($1, $2)' USING s, conninfo;
  END LOOP;
  -- Committed by the setup session: one run with two keyed workflow messages (oldest first), ten step messages.
  PERFORM pg_temp.remote('qs_setup', $q$
    SELECT workflow.ensure_app('tap_sessions')::text || set_config('workflow.app_id', 'tap_sessions', false)
        || workflow.register_handler('tap_sessions', 'pod', 'v1',
             'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step')::text
        || workflow.enqueue('tap_sessions', '__wkf_workflow_w', '{"runId":"wrun_S","i":1}', 'v1', 'm1')::text
        || workflow.enqueue('tap_sessions', '__wkf_workflow_w', '{"runId":"wrun_S","i":2}', 'v1', 'm2')::text $q$);
  PERFORM pg_temp.remote('qs_setup', $q$
    SELECT string_agg(workflow.enqueue('tap_sessions', '__wkf_step_s', jsonb_build_object('workflowRunId', 'r' || i),
                                       'v1')::text, ',')
      FROM generate_series(1, 10) i $q$);
  waiting := pg_temp.remote('qs_setup', $q$ SELECT message_id FROM workflow.messages WHERE idempotency_key = 'm2' $q$);

  -- Both sessions hold their claim transactions open at the same time.
  PERFORM pg_temp.exec('qs_a', 'BEGIN');
  first := pg_temp.remote('qs_a', 'SELECT (workflow.claim_messages(6, 30, 60) -> ''deliveries'')::text');
  PERFORM pg_temp.remote('qs_b', $q$ SELECT set_config('statement_timeout', '5s', false) $q$);
  PERFORM pg_temp.exec('qs_b', 'BEGIN');
  second := pg_temp.remote('qs_b', 'SELECT (workflow.claim_messages(100, 30, 60) -> ''deliveries'')::text');
  PERFORM pg_temp.exec('qs_a', 'COMMIT');
  PERFORM pg_temp.exec('qs_b', 'COMMIT');
  SELECT array_agg(d ->> 'messageId') INTO first_ids FROM jsonb_array_elements(first) d;
  SELECT array_agg(d ->> 'messageId') INTO second_ids FROM jsonb_array_elements(second) d;

  RETURN NEXT ok(NOT (first_ids && second_ids), 'two open claims never take the same message');
  RETURN NEXT is(cardinality(first_ids) + cardinality(second_ids), 11,
                 'the second session takes what the first left, without waiting for it (10 steps + 1 workflow message)');
  RETURN NEXT ok(NOT (waiting = ANY (first_ids || second_ids)),
                 'the run''s second workflow message is taken by neither: the first session holds the run');
  RETURN NEXT is(pg_temp.remote('qs_b', 'SELECT (workflow.claim_messages(100, 30, 60) -> ''deliveries'')::text'), '[]',
                 'after both commit it still waits for the first one to be settled');
  PERFORM pg_temp.remote('qs_setup', $q$
    SELECT workflow.ack_messages(jsonb_agg(jsonb_build_object('seq', message_seq, 'attempt', attempt, 'podId', pod_id,
                                                              'outcome', 'done')))::text
      FROM workflow.messages WHERE app_id = 'tap_sessions' AND status = 'claimed' AND kind = 'workflow' $q$);
  RETURN NEXT is((pg_temp.remote('qs_b', 'SELECT (workflow.claim_messages(100, 30, 60) -> ''deliveries'')::text')::jsonb
                  -> 0 ->> 'messageId'), waiting, 'then the other session gets it');

  PERFORM pg_temp.remote('qs_setup', $q$ WITH gone AS (DELETE FROM workflow.apps WHERE app_id = 'tap_sessions' RETURNING 1) SELECT count(*)::text FROM gone $q$);
  FOREACH s IN ARRAY ARRAY['qs_setup', 'qs_a', 'qs_b'] LOOP
    EXECUTE 'SELECT dblink_disconnect($1)' USING s;
  END LOOP;
END $$;

SELECT * FROM pg_temp.two_sessions();

SELECT * FROM finish();
ROLLBACK;
