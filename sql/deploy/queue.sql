-- Deploy pg-workflow:queue
-- The queue's storage (deployment versions, handler registrations, messages,
-- the per-minute enqueue counters) and workflow.enqueue. A message is
-- (docs/state-machines.md):
--   queued     waiting until due_at; a claim makes it claimed, or held (no live
--              handler), or dead (its version was expired)
--   held       its version has no live handler: a registration of the version
--              makes it queued, due now; no attempt is spent meanwhile
--   claimed    leased to one dispatcher until lease_until, then any dispatcher
--              claims it again; its answer makes it delivered (2xx), queued
--              (2xx {timeoutSeconds}, failure, refused connection) or dead (too
--              many failures)
--   delivered  kept while its idempotency key matters, then purged
--   dead       a dead letter; a retry makes it queued with its attempts reset
-- Every change that makes a message runnable sends one NOTIFY on channel
-- workflow_queue whose payload is the milliseconds until it is due (0 = now).
BEGIN;

CREATE TABLE workflow.deployment_versions (
  app_id        text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  deployment_id text NOT NULL CHECK (deployment_id <> ''),
  created_at    timestamptz NOT NULL,
  expired_at    timestamptz,
  PRIMARY KEY (app_id, deployment_id)
);
COMMENT ON TABLE workflow.deployment_versions IS
  'Deployment versions that registered handlers or were expired. An expired version gets no more deliveries: its messages are dead-lettered.';
COMMENT ON COLUMN workflow.deployment_versions.expired_at IS 'When the version was expired (workflow.expire_version); NULL while active.';

CREATE TABLE workflow.handlers (
  app_id             text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  pod_id             text NOT NULL CHECK (pod_id ~ '^[^/]+$' AND length(pod_id) <= 256),
  deployment_version text,
  workflow_url       text NOT NULL CHECK (workflow_url ~ '^https?://.+'),
  step_url           text NOT NULL CHECK (step_url ~ '^https?://.+'),
  webhook_url        text,
  registered_at      timestamptz NOT NULL,
  seen_at            timestamptz NOT NULL,
  refused_since      timestamptz,
  cooldown_until     timestamptz,
  PRIMARY KEY (app_id, pod_id),
  FOREIGN KEY (app_id, deployment_version) REFERENCES workflow.deployment_versions ON DELETE CASCADE,
  CONSTRAINT handlers_cooldown_only_refused CHECK (cooldown_until IS NULL OR refused_since IS NOT NULL)
);
CREATE INDEX handlers_by_version ON workflow.handlers (app_id, deployment_version);
COMMENT ON TABLE workflow.handlers IS
  'Where each running app process (pod) takes deliveries for its deployment version. Live until unregistered, '
  'until its version is expired, or until it has refused connections for longer than the dispatcher''s grace period.';
COMMENT ON COLUMN workflow.handlers.deployment_version IS 'The version whose messages this pod takes; NULL: registered without a version.';
COMMENT ON COLUMN workflow.handlers.seen_at IS 'Last registration (re-registering is the heartbeat).';
COMMENT ON COLUMN workflow.handlers.refused_since IS 'Start of the current run of refused connections; NULL when the pod answers.';
COMMENT ON COLUMN workflow.handlers.cooldown_until IS 'Not chosen for deliveries before this time (it just refused a connection).';

CREATE TABLE workflow.messages (
  message_seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  app_id          text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  message_id      text NOT NULL,
  queue_name      text NOT NULL CHECK (queue_name ~ '^__([a-z][a-z0-9]*_)?wkf_(workflow|step)_.+$'),
  kind            text NOT NULL CHECK (kind IN ('workflow', 'step')),
  run_id          text,
  deployment_id   text,
  idempotency_key text,
  payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  status          text NOT NULL CHECK (status IN ('queued', 'held', 'claimed', 'delivered', 'dead')),
  attempt         integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
  due_at          timestamptz NOT NULL,
  lease_until     timestamptz,
  pod_id          text,
  last_error      text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  delivered_at    timestamptz,
  dead_at         timestamptz,
  -- When the dispatcher must next look at the row: delivery time of a queued
  -- message, lease end of a claimed one. One index serves claims and deadlines.
  next_at         timestamptz GENERATED ALWAYS AS (
                    CASE status WHEN 'queued' THEN due_at WHEN 'claimed' THEN lease_until END) STORED,
  CONSTRAINT messages_kind_of_queue CHECK (kind = substring(queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_')),
  CONSTRAINT messages_claimed_iff_leased CHECK ((status = 'claimed') = (lease_until IS NOT NULL AND pod_id IS NOT NULL)),
  CONSTRAINT messages_delivered_iff_time CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
  CONSTRAINT messages_dead_iff_time CHECK ((status = 'dead') = (dead_at IS NOT NULL))
);
CREATE UNIQUE INDEX messages_by_id ON workflow.messages (app_id, message_id);
CREATE INDEX messages_next ON workflow.messages (next_at) WHERE next_at IS NOT NULL;
-- Workflow messages of one run are never in flight twice at once.
CREATE UNIQUE INDEX messages_run_in_flight ON workflow.messages (app_id, run_id)
  WHERE kind = 'workflow' AND status = 'claimed';
-- At most one pending wake-up per run: further ones merge into it.
CREATE UNIQUE INDEX messages_run_wakeup ON workflow.messages (app_id, run_id)
  WHERE kind = 'workflow' AND idempotency_key IS NULL AND status IN ('queued', 'held');
CREATE INDEX messages_run_waiting ON workflow.messages (app_id, run_id) WHERE kind = 'workflow' AND status = 'queued';
CREATE UNIQUE INDEX messages_idempotency ON workflow.messages (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_held ON workflow.messages (app_id, deployment_id) WHERE status = 'held';
CREATE INDEX messages_delivered ON workflow.messages (delivered_at) WHERE status = 'delivered';
CREATE INDEX messages_dead ON workflow.messages (app_id, message_seq) WHERE status = 'dead';
COMMENT ON TABLE workflow.messages IS
  'Queue messages pushed to the deployments'' handlers. status: queued → claimed → delivered | queued (retry, '
  'timeoutSeconds) | dead; queued → held while the version has no live handler. See docs/state-machines.md.';
COMMENT ON COLUMN workflow.messages.message_id IS 'Public id, msg_ + ULID; the same on every redelivery.';
COMMENT ON COLUMN workflow.messages.kind IS 'workflow (delivered to the flow endpoint) or step (step endpoint), from the queue name.';
COMMENT ON COLUMN workflow.messages.run_id IS 'The run the message belongs to: payload.runId (workflow) or payload.workflowRunId (step).';
COMMENT ON COLUMN workflow.messages.deployment_id IS 'The version whose handlers get it; NULL: the handlers registered without a version.';
COMMENT ON COLUMN workflow.messages.attempt IS 'Deliveries started (the x-vqs-message-attempt header of the latest one).';
COMMENT ON COLUMN workflow.messages.failures IS 'Failed deliveries since the last answered one; too many ⇒ dead letter.';
COMMENT ON COLUMN workflow.messages.due_at IS 'When a queued message may be delivered.';
COMMENT ON COLUMN workflow.messages.lease_until IS 'End of the current claim: after it any dispatcher redelivers the message.';
COMMENT ON COLUMN workflow.messages.pod_id IS 'The handler the current claim delivers to.';

CREATE TABLE workflow.queue_rate (
  app_id   text NOT NULL REFERENCES workflow.apps ON DELETE CASCADE,
  minute   timestamptz NOT NULL,
  slot     smallint NOT NULL,
  enqueued integer NOT NULL,
  PRIMARY KEY (app_id, minute, slot)
);
COMMENT ON TABLE workflow.queue_rate IS
  'Messages enqueued per app and minute (quota max_queue_per_minute). Counted in a few slots per minute '
  '(by backend) so concurrent enqueues of one app do not queue behind one row lock.';

DO $$ BEGIN
  PERFORM workflow.enable_tenant_rls(t)
     FROM unnest(ARRAY['workflow.deployment_versions', 'workflow.handlers', 'workflow.messages',
                       'workflow.queue_rate']::regclass[]) t;
END $$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA workflow TO pgw_tenant;

-- A transaction-scoped lock on one run's workflow messages: taken by enqueue
-- (coalescing) and when a workflow message re-enters the queue; the claim
-- only tries it, so dispatchers never wait on each other.
CREATE FUNCTION workflow.run_lock_key(p_app_id text, p_run_id text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT hashtext(p_app_id || '/' || p_run_id) $$;
COMMENT ON FUNCTION workflow.run_lock_key(text, text) IS
  'Advisory lock key (class 7262002) of a run''s workflow messages; a hash collision only makes two runs wait for each other.';

CREATE FUNCTION workflow.lock_run(p_app_id text, p_run_id text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7262002, workflow.run_lock_key(p_app_id, p_run_id)) $$;
COMMENT ON FUNCTION workflow.lock_run(text, text) IS 'Waits for the run''s workflow-message lock, held until the transaction ends.';

CREATE FUNCTION workflow.notify_queue(p_due timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_due IS NOT NULL THEN
    PERFORM pg_notify('workflow_queue',
                      greatest(0, ceil(extract(epoch FROM p_due - clock_timestamp()) * 1000))::bigint::text);
  END IF;
END $$;
COMMENT ON FUNCTION workflow.notify_queue(timestamptz) IS
  'NOTIFY workflow_queue with the milliseconds until p_due (0: due now); nothing when p_due is NULL. Call once per transaction.';

-- A workflow message that re-enters the queue (retry, timeoutSeconds, lease
-- lost, dead-letter retry) absorbs the run's pending wake-up, so a run never
-- has two: it keeps its own id and attempt count, the earlier due time, and
-- the newer payload members.
CREATE FUNCTION workflow.absorb_pending_wakeup() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  w workflow.messages;
BEGIN
  PERFORM workflow.lock_run(NEW.app_id, NEW.run_id);
  DELETE FROM workflow.messages s
   WHERE s.app_id = NEW.app_id AND s.run_id = NEW.run_id AND s.kind = 'workflow'
     AND s.idempotency_key IS NULL AND s.status IN ('queued', 'held') AND s.message_seq <> NEW.message_seq
  RETURNING s.* INTO w;
  IF FOUND THEN
    NEW.due_at := least(NEW.due_at, w.due_at);
    NEW.payload := NEW.payload || w.payload;
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION workflow.absorb_pending_wakeup() IS
  'Trigger: a run''s workflow message going back to queued/held merges the run''s pending wake-up into itself.';
CREATE TRIGGER messages_absorb_pending_wakeup
  BEFORE UPDATE OF status ON workflow.messages
  FOR EACH ROW
  WHEN (NEW.status IN ('queued', 'held') AND OLD.status NOT IN ('queued', 'held')
        AND OLD.kind = 'workflow' AND OLD.idempotency_key IS NULL AND OLD.run_id IS NOT NULL)
  EXECUTE FUNCTION workflow.absorb_pending_wakeup();

-- Counts one enqueue against the app's per-minute quota (refused ⇒ the
-- transaction rolls back, so refusals do not count).
CREATE FUNCTION workflow.count_enqueue(p_app workflow.apps, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_minute timestamptz := date_trunc('minute', p_now);
  v_slot smallint := pg_backend_pid() % 8;
  v_first boolean;
  v_total bigint;
BEGIN
  INSERT INTO workflow.queue_rate AS q (app_id, minute, slot, enqueued) VALUES (p_app.app_id, v_minute, v_slot, 1)
  ON CONFLICT (app_id, minute, slot) DO UPDATE SET enqueued = q.enqueued + 1
  RETURNING xmax = 0 INTO v_first;
  IF v_first THEN -- this slot's first enqueue of the minute: drop its older counters
    DELETE FROM workflow.queue_rate WHERE app_id = p_app.app_id AND slot = v_slot AND minute < v_minute;
  END IF;
  SELECT sum(enqueued) INTO v_total FROM workflow.queue_rate WHERE app_id = p_app.app_id AND minute = v_minute;
  IF v_total > p_app.max_queue_per_minute THEN
    PERFORM workflow.refuse('PW429', 'WF_QUOTA_EXCEEDED',
      format('quota maxQueuePerMinute exceeded: app %s may enqueue %s messages per minute',
             p_app.app_id, p_app.max_queue_per_minute),
      jsonb_build_object('quota', 'maxQueuePerMinute', 'limit', p_app.max_queue_per_minute,
                         'retryAfter', greatest(1, ceil(extract(epoch FROM v_minute + interval '1 minute' - p_now)))));
  END IF;
END $$;
COMMENT ON FUNCTION workflow.count_enqueue(workflow.apps, timestamptz) IS
  'Counts an enqueue in the current minute; 429 (quota maxQueuePerMinute) beyond the app''s limit.';

CREATE FUNCTION workflow.enqueue(
  p_app_id text, p_queue_name text, p_message jsonb, p_deployment_id text DEFAULT NULL,
  p_idempotency_key text DEFAULT NULL, p_delay_seconds numeric DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_now timestamptz := clock_timestamp();
  v_kind text := substring(p_queue_name FROM '^__(?:[a-z][a-z0-9]*_)?wkf_(workflow|step)_.');
  v_run_id text;
  v_deployment text := p_deployment_id;
  v_expired boolean;
  v_id text;
  v_created boolean;
  v_status text;
  v_due timestamptz;
BEGIN
  IF v_kind IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_QUEUE_NAME',
      format('invalid queueName %L: expected __wkf_workflow_<name> or __wkf_step_<name> (optionally __<namespace>_wkf_...)',
             p_queue_name));
  END IF;
  IF p_message IS NULL OR jsonb_typeof(p_message) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_MESSAGE', 'message must be a JSON object');
  END IF;
  IF p_delay_seconds IS NOT NULL AND (p_delay_seconds = 'NaN' OR p_delay_seconds < 0 OR p_delay_seconds > 315360000) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_DELAY', format('delaySeconds must be between 0 and 315360000, not %s', p_delay_seconds));
  END IF;
  IF p_deployment_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_DEPLOYMENT_ID', 'deploymentId must not be empty');
  END IF;
  IF p_idempotency_key = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must not be empty');
  END IF;
  PERFORM workflow.count_enqueue(v_app, v_now);

  v_run_id := p_message ->> CASE v_kind WHEN 'workflow' THEN 'runId' ELSE 'workflowRunId' END;
  -- No deploymentId: the handlers registered without a version if the app has any, else "local".
  IF v_deployment IS NULL AND NOT EXISTS (
       SELECT 1 FROM workflow.handlers WHERE app_id = p_app_id AND deployment_version IS NULL) THEN
    v_deployment := 'local';
  END IF;
  v_expired := EXISTS (SELECT 1 FROM workflow.deployment_versions
                        WHERE app_id = p_app_id AND deployment_id = v_deployment AND expired_at IS NOT NULL);
  v_due := v_now + make_interval(secs => coalesce(p_delay_seconds, 0)::double precision);

  IF p_idempotency_key IS NOT NULL THEN
    -- A key names one message per app: a repeat answers the existing one.
    LOOP
      INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id, idempotency_key,
                                          payload, status, due_at, created_at, updated_at, dead_at, last_error)
      VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment, p_idempotency_key,
              p_message, CASE WHEN v_expired THEN 'dead' ELSE 'queued' END, v_due, v_now, v_now,
              CASE WHEN v_expired THEN v_now END, CASE WHEN v_expired THEN 'deployment expired' END)
      ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING m.message_id, m.status, m.due_at INTO v_id, v_status, v_due;
      IF FOUND THEN
        v_created := true;
        EXIT;
      END IF;
      SELECT message_id INTO v_id FROM workflow.messages WHERE app_id = p_app_id AND idempotency_key = p_idempotency_key;
      IF FOUND THEN
        RETURN jsonb_build_object('messageId', v_id, 'created', false);
      END IF; -- purged meanwhile: insert after all
    END LOOP;
  ELSIF v_kind = 'workflow' AND v_run_id IS NOT NULL AND NOT v_expired THEN
    -- A wake-up for a run that already has one pending merges into it.
    PERFORM workflow.lock_run(p_app_id, v_run_id);
    INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id,
                                        payload, status, due_at, created_at, updated_at)
    VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment,
            p_message, 'queued', v_due, v_now, v_now)
    ON CONFLICT (app_id, run_id) WHERE kind = 'workflow' AND idempotency_key IS NULL AND status IN ('queued', 'held')
    DO UPDATE SET payload = m.payload || EXCLUDED.payload, due_at = least(m.due_at, EXCLUDED.due_at), updated_at = v_now
    RETURNING m.message_id, xmax = 0, m.status, m.due_at INTO v_id, v_created, v_status, v_due;
  ELSE
    INSERT INTO workflow.messages AS m (app_id, message_id, queue_name, kind, run_id, deployment_id,
                                        payload, status, due_at, created_at, updated_at, dead_at, last_error)
    VALUES (p_app_id, 'msg_' || workflow.ulid(v_now), p_queue_name, v_kind, v_run_id, v_deployment,
            p_message, CASE WHEN v_expired THEN 'dead' ELSE 'queued' END, v_due, v_now, v_now,
            CASE WHEN v_expired THEN v_now END, CASE WHEN v_expired THEN 'deployment expired' END)
    RETURNING m.message_id, true, m.status, m.due_at INTO v_id, v_created, v_status, v_due;
  END IF;

  IF v_status = 'queued' THEN
    PERFORM workflow.notify_queue(v_due);
  END IF;
  RETURN jsonb_build_object('messageId', v_id, 'created', v_created);
END $$;
COMMENT ON FUNCTION workflow.enqueue(text, text, jsonb, text, text, numeric) IS
  'Queues a message for delivery to its deployment''s handlers and notifies the dispatchers: {messageId, created}. '
  'A repeated idempotency key answers the existing message (created false); a workflow wake-up without a key for a '
  'run that has one pending merges into it (created false). Enforces maxQueuePerMinute; a message for an expired '
  'version is dead at once.';

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
