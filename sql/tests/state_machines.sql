-- pgTAP: the state machines of docs/state-machines.md, one test per (entity state, event):
-- every allowed transition and every refusal, driven by a table and looped in SQL.
-- Each case gets a fresh run, brought into the state with create_event itself.
BEGIN;
SELECT set_config('workflow.app_id', 'tap_states', false);
SELECT workflow.ensure_app('tap_states');

-- The expected outcome is "<state after> +<events appended>" or the refusal's SQLSTATE.
-- Step states read "<status>@<attempt>". A state prefixed "ended:" belongs to a
-- completed run; "retry_later" is a pending step whose retryAfter is in the future.
CREATE TEMP TABLE cases (ord serial, entity text, state text, event text, expect text);
INSERT INTO cases (entity, state, event, expect) VALUES
  -- runs
  ('run', 'none',      'run_created',   'pending +1'),
  ('run', 'pending',   'run_created',   'PW409'),
  ('run', 'running',   'run_created',   'PW409'),
  ('run', 'completed', 'run_created',   'PW409'),
  ('run', 'failed',    'run_created',   'PW409'),
  ('run', 'cancelled', 'run_created',   'PW409'),
  ('run', 'none',      'run_started',   'PW404'),
  ('run', 'pending',   'run_started',   'running +1'),
  ('run', 'running',   'run_started',   'running +0'),
  ('run', 'completed', 'run_started',   'PW410'),
  ('run', 'failed',    'run_started',   'PW410'),
  ('run', 'cancelled', 'run_started',   'PW410'),
  ('run', 'none',      'run_completed', 'PW404'),
  ('run', 'pending',   'run_completed', 'completed +1'),
  ('run', 'running',   'run_completed', 'completed +1'),
  ('run', 'completed', 'run_completed', 'PW409'),
  ('run', 'failed',    'run_completed', 'PW409'),
  ('run', 'cancelled', 'run_completed', 'PW409'),
  ('run', 'none',      'run_failed',    'PW404'),
  ('run', 'pending',   'run_failed',    'failed +1'),
  ('run', 'running',   'run_failed',    'failed +1'),
  ('run', 'completed', 'run_failed',    'PW409'),
  ('run', 'failed',    'run_failed',    'PW409'),
  ('run', 'cancelled', 'run_failed',    'PW409'),
  ('run', 'none',      'run_cancelled', 'PW404'),
  ('run', 'pending',   'run_cancelled', 'cancelled +1'),
  ('run', 'running',   'run_cancelled', 'cancelled +1'),
  ('run', 'completed', 'run_cancelled', 'PW409'),
  ('run', 'failed',    'run_cancelled', 'PW409'),
  ('run', 'cancelled', 'run_cancelled', 'cancelled +0'),
  -- steps of a running run
  ('step', 'none',        'step_created',   'pending@0 +1'),
  ('step', 'pending',     'step_created',   'PW409'),
  ('step', 'running',     'step_created',   'PW409'),
  ('step', 'completed',   'step_created',   'PW409'),
  ('step', 'failed',      'step_created',   'PW409'),
  ('step', 'none',        'step_started',   'PW404'),
  ('step', 'pending',     'step_started',   'running@1 +1'),
  ('step', 'retry_later', 'step_started',   'PW425'),
  ('step', 'running',     'step_started',   'running@2 +1'),
  ('step', 'completed',   'step_started',   'PW409'),
  ('step', 'failed',      'step_started',   'PW409'),
  ('step', 'none',        'step_completed', 'PW404'),
  ('step', 'pending',     'step_completed', 'completed@0 +1'),
  ('step', 'retry_later', 'step_completed', 'completed@1 +1'),
  ('step', 'running',     'step_completed', 'completed@1 +1'),
  ('step', 'completed',   'step_completed', 'PW409'),
  ('step', 'failed',      'step_completed', 'PW409'),
  ('step', 'none',        'step_failed',    'PW404'),
  ('step', 'pending',     'step_failed',    'failed@0 +1'),
  ('step', 'retry_later', 'step_failed',    'failed@1 +1'),
  ('step', 'running',     'step_failed',    'failed@1 +1'),
  ('step', 'completed',   'step_failed',    'PW409'),
  ('step', 'failed',      'step_failed',    'PW409'),
  ('step', 'none',        'step_retrying',  'PW404'),
  ('step', 'pending',     'step_retrying',  'pending@0 +1'),
  ('step', 'retry_later', 'step_retrying',  'pending@1 +1'),
  ('step', 'running',     'step_retrying',  'pending@1 +1'),
  ('step', 'completed',   'step_retrying',  'PW409'),
  ('step', 'failed',      'step_retrying',  'PW409'),
  -- steps of an ended run: nothing new, nothing starts, a running step may still report
  ('step', 'ended:none',      'step_created',   'PW409'),
  ('step', 'ended:pending',   'step_created',   'PW409'),
  ('step', 'ended:none',      'step_started',   'PW404'),
  ('step', 'ended:pending',   'step_started',   'PW410'),
  ('step', 'ended:running',   'step_started',   'PW410'),
  ('step', 'ended:completed', 'step_started',   'PW409'),
  ('step', 'ended:pending',   'step_completed', 'PW410'),
  ('step', 'ended:running',   'step_completed', 'completed@1 +1'),
  ('step', 'ended:completed', 'step_completed', 'PW409'),
  ('step', 'ended:pending',   'step_failed',    'PW410'),
  ('step', 'ended:running',   'step_failed',    'failed@1 +1'),
  ('step', 'ended:completed', 'step_failed',    'PW409'),
  ('step', 'ended:pending',   'step_retrying',  'PW410'),
  ('step', 'ended:running',   'step_retrying',  'pending@1 +1'),
  ('step', 'ended:completed', 'step_retrying',  'PW409'),
  -- hooks
  ('hook', 'none',           'hook_created',  'live +1'),
  ('hook', 'live',           'hook_created',  'PW409'),
  ('hook', 'disposed',       'hook_created',  'PW409'),
  ('hook', 'none',           'hook_received', 'PW404'),
  ('hook', 'live',           'hook_received', 'live +1'),
  ('hook', 'disposed',       'hook_received', 'PW404'),
  ('hook', 'none',           'hook_disposed', 'PW404'),
  ('hook', 'live',           'hook_disposed', 'disposed +1'),
  ('hook', 'disposed',       'hook_disposed', 'PW409'),
  ('hook', 'ended:none',     'hook_created',  'PW409'),
  ('hook', 'ended:disposed', 'hook_received', 'PW404'),
  ('hook', 'ended:disposed', 'hook_disposed', 'PW409'),
  -- waits
  ('wait', 'none',            'wait_created',   'waiting +1'),
  ('wait', 'waiting',         'wait_created',   'PW409'),
  ('wait', 'completed',       'wait_created',   'PW409'),
  ('wait', 'none',            'wait_completed', 'PW404'),
  ('wait', 'waiting',         'wait_completed', 'completed +1'),
  ('wait', 'completed',       'wait_completed', 'PW409'),
  ('wait', 'ended:none',      'wait_created',   'PW409'),
  ('wait', 'ended:completed', 'wait_completed', 'PW409');

-- Direct writes the CHECK constraints refuse: the tables say the same as the code.
CREATE TEMP TABLE impossible (ord serial, what text, stmt text);
INSERT INTO impossible (what, stmt) VALUES
  ('a step cannot be cancelled',
   $$UPDATE workflow.steps SET status = 'cancelled', completed_at = now() WHERE run_id = (SELECT r FROM target)$$),
  ('a pending step has no output',
   $$UPDATE workflow.steps SET output = '1' WHERE run_id = (SELECT r FROM target)$$),
  ('a pending step has no completedAt',
   $$UPDATE workflow.steps SET completed_at = now() WHERE run_id = (SELECT r FROM target)$$),
  ('a running step was started',
   $$UPDATE workflow.steps SET status = 'running' WHERE run_id = (SELECT r FROM target)$$),
  ('an attempt means a startedAt',
   $$UPDATE workflow.steps SET attempt = 1 WHERE run_id = (SELECT r FROM target)$$),
  ('a completed step has a completedAt',
   $$UPDATE workflow.steps SET status = 'completed' WHERE run_id = (SELECT r FROM target)$$),
  ('only a pending step waits for retryAfter',
   $$UPDATE workflow.steps SET status = 'running', attempt = 1, started_at = now(), retry_after = now() WHERE run_id = (SELECT r FROM target)$$),
  ('an unknown run status',
   $$UPDATE workflow.runs SET status = 'paused' WHERE run_id = (SELECT r FROM target)$$),
  ('a running run was started',
   $$UPDATE workflow.runs SET status = 'running', started_at = NULL WHERE run_id = (SELECT r FROM target)$$),
  ('a completed wait has a completedAt',
   $$UPDATE workflow.waits SET status = 'completed' WHERE run_id = (SELECT r FROM target)$$);

SELECT plan((SELECT count(*)::int FROM cases) + (SELECT count(*)::int FROM impossible) + 1);

CREATE FUNCTION pg_temp.ev(r text, t text, c text, d jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT workflow.create_event('tap_states', r, t, c, d, 3)::jsonb $$;

-- eventData a real runtime would send with each event type.
CREATE FUNCTION pg_temp.data_for(t text, r text) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT CASE t
    WHEN 'run_created' THEN '{"deploymentId":"dep","workflowName":"wf","input":null}'::jsonb
    WHEN 'run_completed' THEN '{"output":1}'
    WHEN 'run_failed' THEN '{"error":{"message":"boom"}}'
    WHEN 'step_created' THEN '{"stepName":"step//s"}'
    WHEN 'step_completed' THEN '{"result":1}'
    WHEN 'step_failed' THEN '{"error":"failed"}'
    WHEN 'step_retrying' THEN '{"error":"retry"}'
    WHEN 'hook_created' THEN jsonb_build_object('token', 'tok-' || r)
    WHEN 'hook_received' THEN '{"payload":1}'
    WHEN 'wait_created' THEN '{"resumeAt":"2999-01-01T00:00:00Z"}'
  END
$$;

CREATE FUNCTION pg_temp.step_to(r text, t text, d jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$ SELECT pg_temp.ev(r, t, CASE WHEN t LIKE 'run_%' THEN NULL ELSE 'c1' END, coalesce(d, pg_temp.data_for(t, r))) $$;

-- A fresh run with the entity (correlation id c1) in the given state.
CREATE FUNCTION pg_temp.setup(p_entity text, p_state text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r text := 'wrun_' || workflow.ulid();
  ended boolean := p_state LIKE 'ended:%';
  s text := replace(p_state, 'ended:', '');
  path text[];
  t text;
BEGIN
  IF p_entity = 'run' THEN
    path := CASE s WHEN 'none' THEN '{}'::text[] WHEN 'pending' THEN '{run_created}'
                   WHEN 'running' THEN '{run_created,run_started}'
                   ELSE ARRAY['run_created', 'run_started', 'run_' || s] END;
  ELSE
    path := '{run_created,run_started}'::text[] || CASE p_entity
      WHEN 'step' THEN CASE s WHEN 'none' THEN '{}'::text[] WHEN 'pending' THEN '{step_created}'
                              WHEN 'retry_later' THEN '{step_created,step_started,step_retrying_later}'
                              WHEN 'running' THEN '{step_created,step_started}'
                              ELSE ARRAY['step_created', 'step_started', 'step_' || s] END
      WHEN 'hook' THEN CASE s WHEN 'none' THEN '{}'::text[] WHEN 'live' THEN '{hook_created}'
                              WHEN 'disposed' THEN CASE WHEN ended THEN '{hook_created}'::text[] ELSE '{hook_created,hook_disposed}' END END
      WHEN 'wait' THEN CASE s WHEN 'none' THEN '{}'::text[] WHEN 'waiting' THEN '{wait_created}'
                              WHEN 'completed' THEN CASE WHEN ended THEN '{wait_created}'::text[] ELSE '{wait_created,wait_completed}' END END
    END;
    IF ended THEN
      path := path || '{run_completed}'::text[];  -- disposes live hooks, completes waiting waits
    END IF;
  END IF;
  FOREACH t IN ARRAY path LOOP
    IF t = 'step_retrying_later' THEN
      PERFORM pg_temp.step_to(r, 'step_retrying', '{"error":"later","retryAfter":"2999-01-01T00:00:00Z"}');
    ELSE
      PERFORM pg_temp.step_to(r, t);
    END IF;
  END LOOP;
  RETURN r;
END $$;

CREATE FUNCTION pg_temp.state_of(p_entity text, r text) RETURNS text
LANGUAGE sql AS $$
  SELECT coalesce(CASE p_entity
    WHEN 'run' THEN (SELECT status FROM workflow.runs WHERE app_id = 'tap_states' AND run_id = r)
    WHEN 'step' THEN (SELECT status || '@' || attempt FROM workflow.steps WHERE app_id = 'tap_states' AND run_id = r AND step_id = 'c1')
    WHEN 'hook' THEN (SELECT CASE WHEN disposed_at IS NULL THEN 'live' ELSE 'disposed' END
                        FROM workflow.hooks WHERE app_id = 'tap_states' AND run_id = r AND hook_id = 'c1')
    WHEN 'wait' THEN (SELECT status FROM workflow.waits WHERE app_id = 'tap_states' AND run_id = r AND wait_id = 'c1')
  END, 'none')
$$;

CREATE FUNCTION pg_temp.outcome(p_entity text, p_state text, p_event text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r text := pg_temp.setup(p_entity, p_state);
  before bigint := (SELECT count(*) FROM workflow.events WHERE app_id = 'tap_states' AND run_id = r);
BEGIN
  BEGIN
    PERFORM pg_temp.step_to(r, p_event);
  EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;  -- the subtransaction is rolled back: a refusal changes nothing
  END;
  RETURN pg_temp.state_of(p_entity, r) || ' +'
      || ((SELECT count(*) FROM workflow.events WHERE app_id = 'tap_states' AND run_id = r) - before);
END $$;

SELECT is(pg_temp.outcome(entity, state, event), expect,
          format('%s %s + %s → %s', entity, state, event, expect))
  FROM cases ORDER BY ord;

-- A run with a pending step and a waiting wait for the constraint checks.
CREATE TEMP TABLE target AS SELECT pg_temp.setup('step', 'pending') AS r;
SELECT pg_temp.ev(r, 'wait_created', 'w1', pg_temp.data_for('wait_created', r)) FROM target;
-- The SQLSTATE a direct write raises; an accepted write is rolled back too, so cases stay independent.
CREATE FUNCTION pg_temp.refusal(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RAISE EXCEPTION 'accepted' USING ERRCODE = 'PWTAP';
EXCEPTION WHEN OTHERS THEN
  RETURN CASE WHEN SQLSTATE = 'PWTAP' THEN 'accepted' ELSE SQLSTATE END;
END $$;
SELECT is(pg_temp.refusal(stmt), '23514', 'CHECK: ' || what) FROM impossible ORDER BY ord;

SELECT is((SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint
            WHERE conrelid = 'workflow.steps'::regclass AND contype = 'c'
              AND pg_get_constraintdef(oid) LIKE '%cancelled%'),
          NULL, 'no step constraint mentions a cancelled status');

SELECT * FROM finish();
ROLLBACK;
