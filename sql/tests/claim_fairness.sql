-- pgTAP: fair, bounded claims (change claim_fairness): round-robin across
-- apps, per-app share of the session's deliveries, a byte bound, bounded run
-- snapshots, poison set aside, the version lock only tried.
BEGIN;
SELECT plan(22);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink') THEN
    CREATE EXTENSION IF NOT EXISTS dblink;
  END IF;
END $$;

CREATE FUNCTION pg_temp.app(a text) RETURNS void LANGUAGE sql AS $$
  SELECT workflow.ensure_app(a);
  SELECT set_config('workflow.app_id', a, true);
  SELECT workflow.register_handler(a, 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step', NULL, NULL,
                                   ARRAY['run-started'], 60);
$$;
CREATE FUNCTION pg_temp.enq(a text, n integer, pad integer DEFAULT 10) RETURNS void LANGUAGE sql AS $$
  SELECT set_config('workflow.app_id', a, true);
  SELECT workflow.enqueue(a, '__wkf_step_s', jsonb_build_object('workflowRunId', 'r' || i, 'pad', repeat('x', pad)), 'v1')
    FROM generate_series(1, n) i;
$$;
CREATE FUNCTION pg_temp.session() RETURNS integer LANGUAGE sql AS $$
  INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('cf', 0, clock_timestamp()) RETURNING session_id $$;
CREATE FUNCTION pg_temp.claim(s integer, lim integer, share integer DEFAULT 100, bytes bigint DEFAULT 4194304,
                              snapshot bigint DEFAULT 1048576) RETURNS jsonb LANGUAGE sql AS $$
  SELECT workflow.claim_messages(s, lim, 300, 60, share, bytes, snapshot) $$;
CREATE FUNCTION pg_temp.apps(c jsonb) RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(d ->> 'appId' ORDER BY d ->> 'appId'), '{}') FROM jsonb_array_elements(c -> 'deliveries') d $$;
CREATE FUNCTION pg_temp.settle(a text) RETURNS void LANGUAGE sql AS $$
  UPDATE workflow.messages SET status = 'delivered', delivered_at = clock_timestamp(), lease_until = NULL, pod_id = NULL
   WHERE app_id = a AND status IN ('claimed', 'queued') $$;

SELECT pg_temp.app('cf_a');
SELECT pg_temp.app('cf_b');
CREATE TEMP TABLE s AS SELECT pg_temp.session() AS id;

-- Round-robin: A's backlog is older, B's one message still comes second.
SELECT pg_temp.enq('cf_a', 10);
SELECT pg_temp.enq('cf_b', 1);
SELECT is(pg_temp.apps(pg_temp.claim((SELECT id FROM s), 3)), ARRAY['cf_a', 'cf_a', 'cf_b'],
          'a claim of three takes A''s oldest, B''s only, then A''s next');

-- The share: A has two of this session's deliveries in flight, B one.
CREATE TEMP TABLE c1 AS SELECT pg_temp.claim((SELECT id FROM s), 10, 3) AS c;
SELECT is(pg_temp.apps((SELECT c FROM c1)), ARRAY['cf_a'], 'an app gets no more than its share in flight');
SELECT is((SELECT (c ->> 'appsAtShare')::integer FROM c1), 1, 'the answer counts the apps at their share');
SELECT pg_temp.enq('cf_b', 1);
CREATE TEMP TABLE c2 AS SELECT pg_temp.claim((SELECT id FROM s), 10, 3) AS c;
SELECT is(pg_temp.apps((SELECT c FROM c2)), ARRAY['cf_b'], 'while A waits for a slot, B is claimed');
SELECT ok((SELECT (c ->> 'nextDueIn')::float > 200 FROM c2),
          'nextDueIn ignores the due messages of the app at its share (B''s leases end in 300 s)');
SELECT is(pg_temp.apps(pg_temp.claim(pg_temp.session(), 10, 5)), ARRAY['cf_a', 'cf_a', 'cf_a', 'cf_a', 'cf_a'],
          'the share is per dispatcher session');
SELECT pg_temp.settle('cf_a');
SELECT pg_temp.settle('cf_b');

-- Bytes: the claim stops at the bound, but always takes one.
SELECT pg_temp.enq('cf_a', 3, 1000);
SELECT is(cardinality(pg_temp.apps(pg_temp.claim((SELECT id FROM s), 10, 100, 2500))), 2,
          'two messages of about 1 kB fit in 2500 bytes, three do not');
SELECT is(cardinality(pg_temp.apps(pg_temp.claim((SELECT id FROM s), 10, 100, 1100))), 1, 'one always fits');
SELECT pg_temp.settle('cf_a');

-- A message over the bound is set aside; the one behind it is delivered.
SELECT pg_temp.enq('cf_a', 1, 5000);
SELECT pg_temp.enq('cf_a', 1, 10);
SELECT is(cardinality(pg_temp.apps(pg_temp.claim((SELECT id FROM s), 10, 100, 2500))), 1,
          'a message over the bound does not block the one behind it');
SELECT is((SELECT status FROM workflow.messages WHERE app_id = 'cf_a' AND length(payload ->> 'pad') = 5000), 'dead',
          'it is dead-lettered');
SELECT matches((SELECT last_error FROM workflow.messages WHERE app_id = 'cf_a' AND length(payload ->> 'pad') = 5000),
               '^set aside: the message is \d+ bytes, more than a claim carries \(2500 bytes\)$', 'with the reason');
SELECT pg_temp.settle('cf_a');

-- Run snapshots: skipped past the snapshot bound or the bytes the claim has left.
\set run '''wrun_01ARZ3NDEKTSV4RRFFQ69G5KCF'''
SELECT set_config('workflow.app_id', 'cf_a', true);
SELECT workflow.create_event('cf_a', :run, 'run_created', NULL,
                             jsonb_build_object('deploymentId', 'v1', 'workflowName', 'w', 'input', repeat('i', 3000)), 3, 'all');
SELECT workflow.create_event('cf_a', :run, 'run_started', NULL, NULL, 3, 'all');
CREATE FUNCTION pg_temp.snapshot_with(snapshot bigint, bytes bigint DEFAULT 4194304) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  PERFORM set_config('workflow.app_id', 'cf_a', true);
  PERFORM workflow.enqueue('cf_a', '__wkf_workflow_w', jsonb_build_object('runId', 'wrun_01ARZ3NDEKTSV4RRFFQ69G5KCF'), 'v1');
  d := pg_temp.claim((SELECT id FROM s), 10, 100, bytes, snapshot) -> 'deliveries' -> 0;
  PERFORM pg_temp.settle('cf_a');
  RETURN d ? 'runStarted';
END $$;
SELECT ok(workflow.run_snapshot_bytes('cf_a', :run) > 3000, 'run_snapshot_bytes counts the log');
SELECT ok(pg_temp.snapshot_with(1048576), 'a small run''s delivery carries its snapshot');
SELECT ok(NOT pg_temp.snapshot_with(2000), 'not past the snapshot bound');
SELECT ok(NOT pg_temp.snapshot_with(1048576, 3000), 'nor past what the claim''s byte bound has left');

-- A registration in progress (another connection holds the version lock) is
-- never waited for: its version's messages stay due, the others go. All of
-- it runs on committed data through dblink (this transaction holds the locks
-- of the versions it registered), and is deleted at the end.
CREATE FUNCTION pg_temp.locked_version() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  -- The dblink sessions give up on a lock this transaction holds instead of
  -- waiting forever (PostgreSQL cannot see a wait that crosses dblink).
  conninfo text := format('host=%s port=%s dbname=%s user=%s options=''-c lock_timeout=10s -c statement_timeout=60s''',
                          coalesce(host(inet_server_addr()), '/var/run/postgresql'),
                          current_setting('port'), current_database(), current_user);
  c text;
  claim text := $q$ SELECT workflow.claim_messages((SELECT max(session_id) FROM workflow.dispatcher_sessions
                                                     WHERE name = 'tap_cf'), 10, 300, 60, 100, 4194304, 1048576)::text $q$;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') THEN
    RETURN QUERY SELECT skip('dblink is not available', 3);
    RETURN;
  END IF;
  EXECUTE 'SELECT dblink_connect($1, $2)' USING 'cf_setup', conninfo;
  EXECUTE 'SELECT dblink_connect($1, $2)' USING 'cf_reg', conninfo;
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' USING 'cf_setup', $q$
    SELECT string_agg(workflow.ensure_app(a)::text || set_config('workflow.app_id', a, false)
             || workflow.register_handler(a, 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step')::text
             || workflow.enqueue(a, '__wkf_step_s', '{"workflowRunId":"r1"}', 'v1')::text, ',')
      FROM unnest(ARRAY['tap_cf1', 'tap_cf2']) a $q$;
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' USING 'cf_setup', $q$
    INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at) VALUES ('tap_cf', 0, clock_timestamp())
    RETURNING session_id::text $q$;
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' USING 'cf_reg',
    format('SELECT pg_advisory_lock(7262003, %s)::text', hashtext('tap_cf1/v1'));
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' INTO c USING 'cf_setup', claim;
  RETURN NEXT is(pg_temp.apps(c::jsonb), ARRAY['tap_cf2'], 'the claim does not wait for a version being registered');
  RETURN NEXT ok((c::jsonb ->> 'nextDueIn')::float <= 0, 'its message stays due for the next round');
  -- (unlocked explicitly: a disconnect releases the lock only once that backend has exited)
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' USING 'cf_reg',
    format('SELECT pg_advisory_unlock(7262003, %s)::text', hashtext('tap_cf1/v1'));
  EXECUTE 'SELECT dblink_disconnect($1)' USING 'cf_reg';
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' INTO c USING 'cf_setup', claim;
  RETURN NEXT is(pg_temp.apps(c::jsonb), ARRAY['tap_cf1'], 'and is claimed once it is free');
  EXECUTE 'SELECT r FROM dblink($1, $2) AS t(r text)' USING 'cf_setup', $q$
    WITH a AS (DELETE FROM workflow.apps WHERE app_id IN ('tap_cf1', 'tap_cf2') RETURNING 1),
         s AS (DELETE FROM workflow.dispatcher_sessions WHERE name = 'tap_cf' RETURNING 1)
    SELECT (SELECT count(*) FROM a)::text || (SELECT count(*) FROM s)::text $q$;
  EXECUTE 'SELECT dblink_disconnect($1)' USING 'cf_setup';
END $$;
SELECT * FROM pg_temp.locked_version();

-- Poison: a message whose routing fails is set aside, the others are delivered.
CREATE FUNCTION pg_temp.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'claimed' AND NEW.payload ? 'poison' THEN
    RAISE EXCEPTION 'poisoned';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE UPDATE ON workflow.messages FOR EACH ROW EXECUTE FUNCTION pg_temp.poison();
SELECT pg_temp.enq('cf_b', 2);
SELECT set_config('workflow.app_id', 'cf_b', true);
SELECT workflow.enqueue('cf_b', '__wkf_step_s', '{"workflowRunId":"rp","poison":true}', 'v1');
SELECT throws_ok($$SELECT pg_temp.claim((SELECT id FROM s), 10)$$, 'P0001', 'poisoned', 'a poisoned row fails the claim');
SELECT is(cardinality(pg_temp.apps(workflow.claim_messages((SELECT id FROM s), 10, 300, 60, 100, 4194304, 1048576, true))),
          2, 'claimed one at a time, the healthy messages are delivered');
SELECT is((SELECT status || ': ' || last_error FROM workflow.messages WHERE app_id = 'cf_b' AND payload ? 'poison'),
          'dead: set aside: claiming it failed (P0001: poisoned)', 'and sets the poisoned one aside');
DROP TRIGGER poison ON workflow.messages;
SELECT pg_temp.settle('cf_b');


SELECT ok(NOT has_function_privilege('pgw_tenant',
            'workflow.claim_messages(integer, integer, numeric, numeric, integer, bigint, bigint, boolean)', 'EXECUTE'),
          'tenants cannot claim');

SELECT * FROM finish();
ROLLBACK;
