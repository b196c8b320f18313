-- Revert pg-workflow:capacity_quotas
BEGIN;

-- quotas_json, get_quotas, set_quotas as the admin change defined them.
CREATE OR REPLACE FUNCTION workflow.quotas_json(a workflow.apps) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT jsonb_build_object('maxRuns', a.max_runs, 'maxEventsPerRun', a.max_events_per_run,
                            'maxQueuePerMinute', a.max_queue_per_minute)
$$;
COMMENT ON FUNCTION workflow.quotas_json(workflow.apps) IS 'An app''s quotas as the API returns them: {maxRuns, maxEventsPerRun, maxQueuePerMinute}.';

CREATE OR REPLACE FUNCTION workflow.get_quotas(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN workflow.quotas_json(workflow.admin_app(p_app_id));
END $$;
COMMENT ON FUNCTION workflow.get_quotas(text) IS 'Admin: an app''s quotas {maxRuns, maxEventsPerRun, maxQueuePerMinute}; 404 unknown app.';

CREATE OR REPLACE FUNCTION workflow.set_quotas(p_app_id text, p_quotas jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  a workflow.apps;
  v_key text;
  v_value jsonb;
BEGIN
  IF p_quotas IS NULL OR jsonb_typeof(p_quotas) <> 'object' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'quotas must be a JSON object', '{"field": "quotas"}');
  END IF;
  FOR v_key, v_value IN SELECT key, value FROM jsonb_each(p_quotas) ORDER BY key LOOP
    IF v_key NOT IN ('maxRuns', 'maxEventsPerRun', 'maxQueuePerMinute') THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('unknown quota %L: expected maxRuns, maxEventsPerRun or maxQueuePerMinute', v_key),
        jsonb_build_object('field', v_key));
    END IF;
    IF jsonb_typeof(v_value) <> 'number' OR v_value::text ~ '[.eE]'
       OR (v_value::text)::numeric NOT BETWEEN 1 AND 2147483647 THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
        format('%s must be an integer between 1 and 2147483647, not %s', v_key, v_value),
        jsonb_build_object('field', v_key));
    END IF;
  END LOOP;
  a := workflow.admin_app(p_app_id, true);
  UPDATE workflow.apps SET
    max_runs = coalesce((p_quotas ->> 'maxRuns')::integer, max_runs),
    max_events_per_run = coalesce((p_quotas ->> 'maxEventsPerRun')::integer, max_events_per_run),
    max_queue_per_minute = coalesce((p_quotas ->> 'maxQueuePerMinute')::integer, max_queue_per_minute)
   WHERE app_id = p_app_id
  RETURNING * INTO a;
  RETURN workflow.quotas_json(a);
END $$;
COMMENT ON FUNCTION workflow.set_quotas(text, jsonb) IS
  'Admin: updates the quotas named in p_quotas (the others keep their values) and returns all of them; 400 naming '
  'the field for an unknown key or a value that is not an integer in 1..2147483647 (nothing changes), 404 unknown app.';

-- write_stream and list_streams as the streams change defined them.
CREATE OR REPLACE FUNCTION workflow.write_stream(
  p_app_id text, p_run_id text, p_name text, p_chunks bytea[], p_close boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_health boolean := workflow.is_health_check_stream(p_name);
  v_count integer := coalesce(cardinality(p_chunks), 0);
  v_was_open boolean;
  s workflow.streams;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  PERFORM workflow.check_stream_name(p_name);
  IF p_run_id IS NULL OR p_run_id = '' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_RUN_ID', 'writing to a stream needs a runId');
  END IF;
  IF array_position(p_chunks, NULL) IS NOT NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_STREAM_CHUNK', 'a stream chunk must not be null');
  END IF;
  IF NOT v_health AND NOT EXISTS (SELECT 1 FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id) THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id),
      jsonb_build_object('runId', p_run_id));
  END IF;
  IF v_health THEN
    -- Health-check streams are read within seconds; keep them an hour, not forever.
    DELETE FROM workflow.streams
     WHERE app_id = p_app_id AND run_id IS NULL AND created_at < now() - interval '1 hour' AND name <> p_name;
  END IF;

  -- Concurrent writers queue on this row; the index range each gets is
  -- allocated here. A closed stream is left alone (no row returned).
  INSERT INTO workflow.streams AS t (app_id, name, run_id, next_index, created_at, updated_at, closed_at)
  VALUES (p_app_id, p_name, CASE WHEN NOT v_health THEN p_run_id END, v_count, now(), now(),
          CASE WHEN p_close THEN now() END)
  ON CONFLICT (app_id, name) DO UPDATE
     SET next_index = t.next_index + v_count, updated_at = now(),
         closed_at = CASE WHEN p_close THEN now() END
   WHERE t.closed_at IS NULL
  RETURNING * INTO s;
  v_was_open := FOUND;
  IF NOT v_was_open THEN
    SELECT * INTO s FROM workflow.streams WHERE app_id = p_app_id AND name = p_name;
    v_count := 0;
  END IF;
  IF NOT v_health AND s.run_id <> p_run_id THEN
    PERFORM workflow.refuse('PW409', 'WF_STREAM_RUN_MISMATCH',
      format('stream %s belongs to run %s, not %s', p_name, s.run_id, p_run_id),
      jsonb_build_object('runId', s.run_id));
  END IF;

  IF v_count > 0 THEN
    INSERT INTO workflow.stream_chunks (app_id, name, chunk_index, data)
    SELECT p_app_id, p_name, s.next_index - v_count + (c.ord - 1)::integer, c.data
      FROM unnest(p_chunks) WITH ORDINALITY AS c(data, ord);
  END IF;
  IF v_count > 0 OR (p_close AND v_was_open) THEN
    PERFORM pg_notify('workflow_streams', json_build_object(
      'appId', p_app_id, 'name', p_name, 'nextIndex', s.next_index, 'done', s.closed_at IS NOT NULL)::text);
  END IF;
  RETURN jsonb_build_object('written', v_count, 'tailIndex', s.next_index - 1, 'done', s.closed_at IS NOT NULL);
END $$;
COMMENT ON FUNCTION workflow.write_stream(text, text, text, bytea[], boolean) IS
  'Appends chunks (dense indexes, in order) and/or closes a stream, then NOTIFYs workflow_streams once. '
  'The run must exist (404) and own the stream (409), except for __health_check__* streams. '
  'Writes to a closed stream change nothing. Returns {written, tailIndex, done}.';

CREATE OR REPLACE FUNCTION workflow.list_streams(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN (SELECT coalesce(jsonb_agg(s.name ORDER BY s.stream_seq), '[]'::jsonb)
            FROM workflow.streams s WHERE s.app_id = p_app_id AND s.run_id = p_run_id);
END $$;
COMMENT ON FUNCTION workflow.list_streams(text, text) IS 'Names of the streams a run wrote, oldest first (a JSON array).';

-- get_workflow_template as the template_order change defined it.
CREATE OR REPLACE FUNCTION workflow.get_workflow_template(
  p_app_id text, p_workflow_name text, p_deployment_id text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_run workflow.runs;
  v_steps jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO v_run FROM workflow.runs
   WHERE app_id = p_app_id AND workflow_name = p_workflow_name AND status = 'completed'
     AND (p_deployment_id IS NULL OR deployment_id = p_deployment_id)
   ORDER BY run_seq DESC LIMIT 1;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_TEMPLATE_NOT_FOUND',
      format('no completed run of workflow %s%s', p_workflow_name,
             coalesce(' in deployment ' || p_deployment_id, '')),
      workflow.jsonb_drop_nulls(jsonb_build_object('workflowName', p_workflow_name, 'deploymentId', p_deployment_id)));
  END IF;
  -- A step lives from its creation to its completion. The runtime creates
  -- the steps it awaits together in one replay, before any of them ends,
  -- and a later step only after an earlier one ended: steps whose lifetimes
  -- overlap ran in parallel. A step that overlaps the steps before it joins
  -- their group and shares their order; only a step that starts after every
  -- earlier one ended opens the next group, i.e. the next order (the rule of
  -- the seed's template).
  WITH lifetimes AS (
    SELECT s.step_name, s.step_seq, s.created_at AS born, coalesce(s.completed_at, s.updated_at) AS ended
      FROM workflow.steps s WHERE s.app_id = p_app_id AND s.run_id = v_run.run_id
  ), starts AS (
    SELECT l.*, (l.born >= max(l.ended) OVER (ORDER BY l.born, l.step_seq
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
                IS NOT FALSE AS starts_group
      FROM lifetimes l
  ), grouped AS (
    SELECT s.*, sum(s.starts_group::integer) OVER (ORDER BY s.born, s.step_seq) AS grp,
           row_number() OVER (ORDER BY s.born, s.step_seq) AS position
      FROM starts s
  ), sized AS (
    SELECT g.*, count(*) OVER (PARTITION BY g.grp) AS group_size FROM grouped g
  ), numbered AS (
    SELECT z.*, CASE WHEN z.group_size > 1 THEN dense_rank() OVER (PARTITION BY z.group_size > 1 ORDER BY z.grp) END
                AS parallel_group
      FROM sized z
  )
  SELECT coalesce(jsonb_agg(workflow.jsonb_drop_nulls(jsonb_build_object(
           'stepName', n.step_name, 'order', n.grp, 'parallelGroup', n.parallel_group)) ORDER BY n.position),
         '[]'::jsonb)
    INTO v_steps FROM numbered n;
  RETURN jsonb_build_object(
    'steps', v_steps,
    'hasHooks', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'hook_created'),
    'hasWaits', EXISTS (SELECT 1 FROM workflow.events e WHERE e.app_id = p_app_id AND e.run_id = v_run.run_id
                                                          AND e.event_type = 'wait_created'),
    'sourceRunId', v_run.run_id);
END $$;
COMMENT ON FUNCTION workflow.get_workflow_template(text, text, text) IS
  'The shape of a workflow from its newest completed run (optionally of one deployment): '
  '{steps: [{stepName, order, parallelGroup?}], hasHooks, hasWaits, sourceRunId}, steps in creation order. Steps '
  'whose lifetimes (creation to completion) overlap share a parallelGroup and an order; a step that starts after '
  'the earlier ones ended takes the next order. 404 (WF_TEMPLATE_NOT_FOUND) when there is none.';

SELECT workflow.expose_internal('workflow.quotas_json(workflow.apps)');
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.get_quotas(text)',
  'workflow.set_quotas(text, jsonb)']) f;
SELECT workflow.expose_api(f::regprocedure) FROM unnest(ARRAY[
  'workflow.write_stream(text, text, text, bytea[], boolean)',
  'workflow.list_streams(text, text)',
  'workflow.get_workflow_template(text, text, text)']) f;

DROP FUNCTION workflow.request_caps();
DROP FUNCTION workflow.stream_notify_secret();
DROP FUNCTION workflow.stream_wake_key(text, text);
DROP TABLE workflow.stream_notify_secret;
DROP TRIGGER stream_chunks_count_inserted ON workflow.stream_chunks;
DROP TRIGGER stream_chunks_count_deleted ON workflow.stream_chunks;
DROP TRIGGER messages_queued_bytes_insert ON workflow.messages;
DROP TRIGGER messages_queued_bytes_update ON workflow.messages;
DROP TRIGGER messages_queued_bytes_delete ON workflow.messages;
DROP FUNCTION workflow.count_stream_bytes();
DROP FUNCTION workflow.count_queued_bytes();
DROP FUNCTION workflow.count_queued_bytes_changed();
DROP FUNCTION workflow.count_queued_bytes_deleted();
DROP FUNCTION workflow.check_queued_bytes(workflow.apps, bigint);
DROP FUNCTION workflow.app_bytes(text);
DROP FUNCTION workflow.add_app_bytes(text, bigint, bigint);
DROP TABLE workflow.app_byte_usage;
ALTER TABLE workflow.apps
  DROP COLUMN max_message_bytes,
  DROP COLUMN max_queued_bytes,
  DROP COLUMN max_stream_bytes,
  DROP COLUMN max_concurrent_requests;

COMMIT;
