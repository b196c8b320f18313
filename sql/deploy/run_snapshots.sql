-- Deploy pg-workflow:run_snapshots
-- A workflow delivery can carry the answer to the runtime's first call. The
-- runtime (@workflow/core 4.8.9) begins every workflow delivery with
-- events.create(run_started), which for a run already running changes
-- nothing and answers {run, events, cursor, hasMore, maxEvents}. A handler
-- that registered with the feature "run-started" receives that answer with
-- each workflow message of a running run, read in the claim's transaction
-- (the run's workflow messages are serialised, so no other delivery of the
-- run is in flight), and its World answers run_started from it without a
-- request. Events recorded after the claim by parallel steps or hooks queue
-- a new wake-up of their own, which follows this delivery, exactly as when
-- they land just after a run_started call. A pending run gets no snapshot:
-- its run_started is a state change and goes to the service.
--
-- API:      register_handler(text, text, text, text, text, text, text, text[])  (new: with features)
-- SERVICE:  claim_messages(integer, integer, numeric, numeric)  (replaced: deliveries carry run snapshots)
-- INTERNAL: run_started_snapshot(text, text), with_run_snapshots(jsonb)  (new)
BEGIN;

ALTER TABLE workflow.handlers ADD COLUMN features text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN workflow.handlers.features IS
  'What the pod''s World understands beyond the DevKit''s queue protocol: "run-started" = workflow deliveries may '
  'carry the run''s run_started answer (x-pgw-run-started framing, see workflow.with_run_snapshots).';

CREATE FUNCTION workflow.register_handler(
  p_app_id text, p_pod_id text, p_deployment_version text, p_workflow_url text, p_step_url text,
  p_webhook_url text, p_source_address text, p_features text[])
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_result jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_features IS NOT NULL AND NOT p_features <@ ARRAY['run-started'] THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_HANDLER',
      format('unknown features %s: known are ["run-started"]', array_to_json(p_features)));
  END IF;
  v_result := workflow.register_handler(p_app_id, p_pod_id, p_deployment_version, p_workflow_url, p_step_url,
                                        p_webhook_url, p_source_address);
  UPDATE workflow.handlers SET features = coalesce(p_features, '{}')
   WHERE app_id = p_app_id AND pod_id = p_pod_id AND features IS DISTINCT FROM coalesce(p_features, '{}');
  RETURN v_result;
END $$;
COMMENT ON FUNCTION workflow.register_handler(text, text, text, text, text, text, text, text[]) IS
  'register_handler (seven arguments) that also records what the pod''s World understands (handlers.features; '
  'known: run-started). 400 for an unknown feature.';
SELECT workflow.expose_api('workflow.register_handler(text, text, text, text, text, text, text, text[])');

CREATE FUNCTION workflow.run_started_snapshot(p_app_id text, p_run_id text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_run workflow.runs;
  v_head text;
BEGIN
  SELECT * INTO v_run FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id;
  IF NOT FOUND OR v_run.status <> 'running' THEN
    RETURN NULL;
  END IF;
  -- As create_event answers run_started for a running run (resolveData all).
  v_head := jsonb_build_object(
              'run', workflow.run_json(v_run, 'all'),
              'maxEvents', (SELECT a.max_events_per_run FROM workflow.apps a WHERE a.app_id = p_app_id),
              'hasMore', false,
              'cursor', (SELECT e.run_ordinal::text FROM workflow.events e
                          WHERE e.app_id = p_app_id AND e.run_id = p_run_id ORDER BY e.run_ordinal DESC LIMIT 1))::text;
  RETURN left(v_head, -1) || ', "events": ['
    || (SELECT coalesce(string_agg(e.event_json, ', ' ORDER BY e.run_ordinal), '')
          FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = p_run_id)
    || ']}';
END $$;
COMMENT ON FUNCTION workflow.run_started_snapshot(text, text) IS
  'The answer create_event gives run_started for a running run (run, whole log, cursor, hasMore false, maxEvents; '
  'resolveData all) without locking or changing anything; NULL unless the run exists and is running.';
SELECT workflow.expose_internal('workflow.run_started_snapshot(text, text)');

-- VOLATILE, not STABLE: it must see the claims that route_messages made in
-- the same statement (a STABLE function would read with the statement's snapshot).
-- PL/pgSQL, so claims of step messages (half of all) cost a regex test each and
-- only a workflow claim looks anything up.
CREATE FUNCTION workflow.with_run_snapshots(p_deliveries jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_out jsonb := '[]'::jsonb;
  v_claim jsonb;
  v_snapshot text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_deliveries) c
                  WHERE c ->> 'queueName' ~ '^__([a-z][a-z0-9]*_)?wkf_workflow_') THEN
    RETURN p_deliveries;
  END IF;
  FOR v_claim IN SELECT c FROM jsonb_array_elements(p_deliveries) c LOOP
    v_snapshot := NULL;
    IF v_claim ->> 'queueName' ~ '^__([a-z][a-z0-9]*_)?wkf_workflow_' THEN
      SELECT workflow.run_started_snapshot(m.app_id, m.run_id) INTO v_snapshot
        FROM workflow.messages m
        JOIN workflow.handlers h ON h.app_id = m.app_id AND h.pod_id = m.pod_id
       WHERE m.message_seq = (v_claim ->> 'seq')::bigint AND m.run_id IS NOT NULL
         AND 'run-started' = ANY (h.features);
    END IF;
    v_out := v_out || CASE WHEN v_snapshot IS NULL THEN jsonb_build_array(v_claim)
                           ELSE jsonb_build_array(v_claim || jsonb_build_object('runStarted', v_snapshot)) END;
  END LOOP;
  RETURN v_out;
END $$;
COMMENT ON FUNCTION workflow.with_run_snapshots(jsonb) IS
  'Claims (route_messages) with runStarted added — the run''s run_started answer as text, run_started_snapshot — to '
  'each workflow message of a running run whose pod registered the feature run-started. The dispatcher sends it '
  'after the message in the body, with header x-pgw-run-started: <bytes of the message>.';
SELECT workflow.expose_internal('workflow.with_run_snapshots(jsonb)');

CREATE OR REPLACE FUNCTION workflow.claim_messages(
  p_session_id integer, p_limit integer, p_lease_seconds numeric, p_grace_seconds numeric)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_seqs bigint[];
  v_deliveries jsonb;
BEGIN
  -- Claims of a session that is lost or reaped would not be handed back with
  -- it: its owner must resume it (or open a new one) first.
  IF NOT EXISTS (SELECT 1 FROM workflow.dispatcher_sessions
                  WHERE session_id = p_session_id AND lost_at IS NULL) THEN
    PERFORM workflow.refuse('PW409', 'WF_SESSION_LOST',
      format('dispatcher session %s is lost or unknown: resume it or open a new one', p_session_id),
      jsonb_build_object('sessionId', p_session_id));
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);  -- as the 3-argument claim_messages
  SELECT coalesce(array_agg(c.message_seq), '{}') INTO v_seqs FROM (
    SELECT m.message_seq FROM workflow.messages m
     WHERE m.next_at <= v_now
       AND NOT (m.status = 'queued' AND m.kind = 'workflow' AND m.run_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM workflow.messages s
                   WHERE s.app_id = m.app_id AND s.run_id = m.run_id AND s.kind = 'workflow' AND s.status = 'claimed'))
     ORDER BY m.next_at
     LIMIT p_limit
       FOR UPDATE OF m SKIP LOCKED) c;
  IF cardinality(v_seqs) = 0 THEN
    RETURN jsonb_build_object('deliveries', '[]'::jsonb, 'nextDueIn', workflow.next_due_in());
  END IF;
  v_deliveries := workflow.with_run_snapshots(
                    workflow.route_messages(v_seqs, p_lease_seconds, p_grace_seconds, p_session_id));
  RETURN jsonb_build_object('deliveries', v_deliveries, 'nextDueIn', workflow.next_due_in());
END $$;
ALTER FUNCTION workflow.claim_messages(integer, integer, numeric, numeric)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off;
COMMENT ON FUNCTION workflow.claim_messages(integer, integer, numeric, numeric) IS
  'As claim_messages(integer, numeric, numeric), and the claims belong to dispatcher session p_session_id: when its '
  'connection ends they are handed back (reap_dispatcher_sessions) instead of waiting for the lease. 409 '
  'WF_SESSION_LOST when the session is lost or unknown. Workflow deliveries carry runStarted (with_run_snapshots).';
SELECT workflow.expose_service('workflow.claim_messages(integer, integer, numeric, numeric)');


COMMIT;
