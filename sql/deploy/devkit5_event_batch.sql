-- Deploy pg-workflow:devkit5_event_batch
-- events.createBatch of @workflow/world 5.x: several events of one spec >= 6
-- run in one call and one transaction, appended in request order. Each event
-- is the single create_event_v6 in a subtransaction: a refused event rolls
-- back alone and reports the status and WF_ code its single create would have
-- had, the others commit (atomic per attempt, per-event outcomes, as the
-- package describes). A step_started that directly follows its own
-- step_created in the batch (the runtime's born-running pair) is refused with
-- 409 when that create was, never starting a step another writer created.
-- Batched events get no events/cursor/hasMore page (the runtime sends no
-- eventCount with them).
--
-- API:      workflow.create_event_batch(text, text, jsonb, text)  (new)
-- INTERNAL: none
BEGIN;

CREATE FUNCTION workflow.create_event_batch(p_app_id text, p_run_id text, p_events jsonb, p_resolve_data text DEFAULT 'all')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_app workflow.apps := workflow.require_app(p_app_id);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
  v_item jsonb;
  v_event jsonb;
  v_type text;
  v_correlation text;
  v_results jsonb[] := ARRAY[]::jsonb[];
  v_refused_creates text[] := ARRAY[]::text[];
  v_previous jsonb;
  v_state text;
  v_message text;
  v_hint text;
BEGIN
  IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' OR jsonb_array_length(p_events) = 0 THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'events must be a non-empty array of {event}');
  END IF;
  IF jsonb_array_length(p_events) > 100 THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('a batch holds at most 100 events, not %s', jsonb_array_length(p_events)));
  END IF;
  IF coalesce(workflow.event_run_spec(p_app_id, p_run_id, 'step_created', NULL), 0) < 6 THEN
    IF NOT EXISTS (SELECT 1 FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id) THEN
      PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
                              jsonb_build_object('runId', p_run_id));
    END IF;
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
      format('run %s is not a DevKit 5 run (spec >= 6): batches are for slot-numbered runs', p_run_id));
  END IF;
  -- The run's row lock for the whole batch: its events are contiguous.
  PERFORM 1 FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id FOR UPDATE;

  FOR v_item IN SELECT i FROM jsonb_array_elements(p_events) i LOOP
    v_event := v_item -> 'event';
    v_type := v_event ->> 'eventType';
    v_correlation := v_event ->> 'correlationId';
    IF jsonb_typeof(v_event) IS DISTINCT FROM 'object' OR v_type = 'run_created' THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'each batch item must be {event} with an event of an existing run');
    END IF;
    IF v_type = 'step_started' AND v_correlation = ANY (v_refused_creates)
       AND v_previous ->> 'eventType' = 'step_created' AND v_previous ->> 'correlationId' = v_correlation THEN
      v_results := v_results || jsonb_build_object('status', 409, 'error', 'WF_STEP_EXISTS',
        'message', format('step %s of run %s: its step_created in this batch was refused', v_correlation, p_run_id));
    ELSE
      BEGIN
        v_results := v_results || (jsonb_build_object('status', 200)
          || workflow.create_event_v6(v_app, p_run_id, v_type, v_correlation, v_event -> 'eventData',
                                      (v_event ->> 'specVersion')::integer, v_resolve,
                                      '{"skipPreload": true}')::jsonb);
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT, v_hint = PG_EXCEPTION_HINT;
        IF v_state !~ '^PW4' THEN
          RAISE; -- not a refusal: the whole batch fails
        END IF;
        v_results := v_results || jsonb_build_object('status', substr(v_state, 3)::integer, 'error', v_hint,
                                                     'message', v_message);
        IF v_type = 'step_created' THEN
          v_refused_creates := v_refused_creates || v_correlation;
        END IF;
      END;
    END IF;
    v_previous := v_event;
  END LOOP;
  RETURN jsonb_build_object('results', to_jsonb(v_results))::text;
END $$;
COMMENT ON FUNCTION workflow.create_event_batch(text, text, jsonb, text) IS
  'events.createBatch for a spec >= 6 run: p_events [{event: {eventType, correlationId?, eventData?, specVersion?}}] '
  '(at most 100) appended in order under one run lock, each as create_event_v6 in its own subtransaction. Answers '
  '{results: [{status: 200, event, step|run|hook|wait, stepCreated?} | {status, error: WF_ code, message}]} in '
  'request order; a step_started right after its refused step_created is refused 409. 400 for a spec <= 5 run.';
SELECT workflow.expose_api('workflow.create_event_batch(text, text, jsonb, text)');

COMMIT;
