-- pgTAP: hook token retention (change hook_token_retention) — one rule for
-- when a kept hook's token is free, used by both protocols' hook_created and
-- by the retention job's sweep.
BEGIN;
SELECT set_config('workflow.app_id', 'tap_keep', false);
SELECT plan(22);
SELECT workflow.ensure_app('tap_keep');

-- ev5: a spec-7 write; ev4: a spec-3 (DevKit 4) write.
CREATE FUNCTION pg_temp.ev5(r text, t text, c text, d jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_keep', r, t, c, d, 7, 'all', NULL, NULL, '{}')::jsonb $$;
CREATE FUNCTION pg_temp.ev4(r text, t text, c text, d jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_keep', r, t, c, d, 3)::jsonb $$;
CREATE FUNCTION pg_temp.run5(r text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_temp.ev5(r, 'run_created', NULL, '{"deploymentId":"dep1","workflowName":"w","input":null}');
  SELECT pg_temp.ev5(r, 'run_started', NULL, NULL);
$$;
CREATE FUNCTION pg_temp.run4(r text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_temp.ev4(r, 'run_created', NULL, '{"deploymentId":"dep1","workflowName":"w","input":null}');
  SELECT pg_temp.ev4(r, 'run_started', NULL, NULL);
$$;
CREATE FUNCTION pg_temp.live(r text, h text) RETURNS boolean
LANGUAGE sql AS $$ SELECT disposed_at IS NULL FROM workflow.hooks WHERE app_id = 'tap_keep' AND run_id = r AND hook_id = h $$;
CREATE FUNCTION pg_temp.expire(r text, h text) RETURNS void
LANGUAGE sql AS $$
  UPDATE workflow.hooks SET token_retention_until = clock_timestamp() - interval '1 second'
   WHERE app_id = 'tap_keep' AND run_id = r AND hook_id = h
$$;

-- The rule --------------------------------------------------------------------
SELECT is(ARRAY[workflow.hook_token_released('completed', NULL, now()),
                workflow.hook_token_released('failed', now() - interval '1 s', now()),
                workflow.hook_token_released('cancelled', now(), now()),
                workflow.hook_token_released('cancelled', now() + interval '1 s', now()),
                workflow.hook_token_released('running', NULL, now()),
                workflow.hook_token_released('running', now() - interval '1 s', now())],
          ARRAY[true, true, true, false, false, false],
          'a token is free once its run has ended and its retention (if any) is not after now');

-- A DevKit 5 run keeps its token past its end; a DevKit 4 run asks for it ----------
SELECT pg_temp.run5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0', 'hook_created', 'h1', jsonb_build_object('token', 'tok-a',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() + interval '1 hour')));
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0', 'run_completed', NULL, '{"output":null}');
SELECT ok(pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0', 'h1'), 'the kept hook outlives its run');
SELECT pg_temp.run4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DF0');
SELECT is(pg_temp.ev4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DF0', 'hook_created', 'h1', '{"token":"tok-a"}') #>> '{event,eventType}', 'hook_conflict',
          'a DevKit 4 run asking for the kept token during the retention gets hook_conflict');
SELECT pg_temp.expire('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0', 'h1');
SELECT is(pg_temp.ev4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DF0', 'hook_created', 'h2', '{"token":"tok-a"}') #>> '{event,eventType}', 'hook_created',
          'once the retention is over, a DevKit 4 run gets the token');
SELECT ok(NOT pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DA0', 'h1'), 'and the kept hook is disposed');
SELECT is(workflow.get_hook_by_token('tap_keep', 'tok-a') ->> 'runId', 'wrun_01ARZ3NDEKTSV4RRFFQ69H5DF0', 'the token now names the DevKit 4 hook');

-- The same on the DevKit 5 path (unchanged behaviour, now through the shared rule).
SELECT pg_temp.run5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DB0');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DB0', 'hook_created', 'h1', jsonb_build_object('token', 'tok-b',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() + interval '1 hour')));
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DB0', 'run_cancelled', NULL, NULL);
SELECT pg_temp.run5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0');
SELECT is(pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'hook_created', 'h1', '{"token":"tok-b"}') #>> '{event,eventType}', 'hook_conflict',
          'a DevKit 5 run asking during the retention gets hook_conflict');
SELECT pg_temp.expire('wrun_01ARZ3NDEKTSV4RRFFQ69H5DB0', 'h1');
SELECT is(pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'hook_created', 'h2', '{"token":"tok-b"}') #>> '{event,eventType}', 'hook_created',
          'and the token after it');

-- A live run's hook is never released, whatever its retention says.
SELECT pg_temp.run4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DG0');
SELECT pg_temp.ev4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DG0', 'hook_created', 'h1', '{"token":"tok-live4"}');
SELECT is(pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'hook_created', 'h3', '{"token":"tok-live4"}') #>> '{event,eventType}', 'hook_conflict',
          'a DevKit 5 run cannot take a running DevKit 4 run''s token');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'hook_created', 'h4', jsonb_build_object('token', 'tok-live5',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() - interval '1 hour')));
SELECT is(pg_temp.ev4('wrun_01ARZ3NDEKTSV4RRFFQ69H5DG0', 'hook_created', 'h2', '{"token":"tok-live5"}') #>> '{event,eventType}', 'hook_conflict',
          'nor a DevKit 4 run a running DevKit 5 run''s token whose retention time has passed');

-- The run end disposes hooks whose retention is already over.
SELECT pg_temp.run5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'hook_created', 'h1', jsonb_build_object('token', 'tok-d',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() - interval '1 minute')));
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'hook_created', 'h2', jsonb_build_object('token', 'tok-d2',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() + interval '1 hour')));
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'hook_created', 'h3', '{"token":"tok-d3"}');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'run_completed', NULL, '{"output":null}');
SELECT is(ARRAY[pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h1'), pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h2'), pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h3')],
          ARRAY[false, true, false], 'a run''s end keeps only the hooks whose retention is still ahead');

-- The sweep ------------------------------------------------------------------------
SELECT is(workflow.release_kept_hooks(100), 0, 'nothing to sweep while every kept hook''s retention is ahead');
SELECT ok(pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h2') AND pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'h4'),
          'the sweep leaves kept hooks in retention and a running run''s hooks alone');
SELECT pg_temp.run5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DE0');
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DE0', 'hook_created', 'h1', jsonb_build_object('token', 'tok-e',
                   'tokenRetentionUntil', workflow.iso(clock_timestamp() + interval '1 hour')));
SELECT pg_temp.ev5('wrun_01ARZ3NDEKTSV4RRFFQ69H5DE0', 'run_failed', NULL, '{"error":null}');
SELECT pg_temp.expire('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h2');
SELECT pg_temp.expire('wrun_01ARZ3NDEKTSV4RRFFQ69H5DE0', 'h1');
SELECT is(workflow.release_kept_hooks(1), 1, 'a batch releases at most batch hooks');
SELECT is(workflow.release_kept_hooks(1), 1, 'the next batch the next one');
SELECT is(workflow.release_kept_hooks(1), 0, 'then nothing is due');
SELECT ok(NOT pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DD0', 'h2') AND NOT pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DE0', 'h1'), 'both expired kept hooks are disposed');
SELECT ok(pg_temp.live('wrun_01ARZ3NDEKTSV4RRFFQ69H5DC0', 'h4'), 'the running run''s hook with a past retention is still live');
SELECT throws_ok('SELECT workflow.release_kept_hooks(0)', 'PW400', NULL, 'a batch outside 1..100000 is refused');
SELECT throws_ok($$SELECT workflow.get_hook_by_token('tap_keep', 'tok-e')$$, 'PW404', NULL,
                 'a released token names no hook any more');

-- Classification ---------------------------------------------------------------------
SELECT is((SELECT proowner::regrole::text || ' ' || prosecdef FROM pg_proc
            WHERE oid = 'workflow.release_kept_hooks(integer)'::regprocedure), 'pgw_service true',
          'release_kept_hooks is a service function (cross-app, SECURITY DEFINER as pgw_service)');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.release_kept_hooks(integer)', 'EXECUTE')
          AND NOT has_function_privilege('pgw_tenant', 'workflow.release_hook_token(text, text, timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('pgw_api', 'workflow.release_kept_hooks(integer)', 'EXECUTE'),
          'tenants cannot sweep or release tokens, nor can the API role sweep');

SELECT * FROM finish();
ROLLBACK;
