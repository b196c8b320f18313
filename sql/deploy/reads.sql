-- Deploy pg-workflow:reads
-- The read API. Lists are keyset-paginated on insertion sequences: a page
-- never repeats or skips rows, whatever is inserted meanwhile, and the
-- cursor (the last row's sequence number) always advances.
BEGIN;

-- Validated page parameters.
CREATE FUNCTION workflow.check_limit(p_limit integer, p_default integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_limit IS NULL THEN RETURN p_default; END IF;
  IF p_limit < 1 OR p_limit > 1000 THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('limit must be between 1 and 1000, not %s', p_limit));
  END IF;
  RETURN p_limit;
END $$;

CREATE FUNCTION workflow.check_sort(p_sort text, p_default text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_sort IS NULL THEN RETURN p_default; END IF;
  IF p_sort NOT IN ('asc', 'desc') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('sortOrder must be "asc" or "desc", not %L', p_sort));
  END IF;
  RETURN p_sort;
END $$;

CREATE FUNCTION workflow.check_cursor(p_cursor text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_cursor IS NULL OR p_cursor = '' THEN RETURN NULL; END IF;
  IF p_cursor !~ '^[0-9]{1,18}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('invalid cursor %L', p_cursor));
  END IF;
  RETURN p_cursor::bigint;
END $$;

-- Runs a page query and shapes {data, cursor, hasMore}. The query yields
-- (item jsonb, seq bigint) in page order, at most page_size + 1 rows.
CREATE FUNCTION workflow.page_of(item_query text, page_size integer, in_cursor text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  result jsonb;
BEGIN
  EXECUTE format(
    'SELECT jsonb_build_object('
    '  ''data'', coalesce(jsonb_agg(item ORDER BY n) FILTER (WHERE n <= %1$s), ''[]''::jsonb),'
    '  ''cursor'', coalesce((array_agg(seq ORDER BY n DESC) FILTER (WHERE n <= %1$s))[1]::text, %2$L),'
    '  ''hasMore'', count(*) > %1$s)'
    ' FROM (SELECT item, seq, row_number() OVER () AS n FROM (%3$s) q) p',
    page_size, in_cursor, item_query)
  INTO result;
  RETURN result;
END $$;

-- The same page shape built as text from items that are JSON texts: the
-- event log pages join the events' stored event_json without re-parsing it.
CREATE FUNCTION workflow.page_of_text(item_query text, page_size integer, in_cursor text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  result text;
BEGIN
  EXECUTE format(
    'SELECT ''{"data": ['' || coalesce(string_agg(item, '', '' ORDER BY n) FILTER (WHERE n <= %1$s), '''')'
    '    || ''], "cursor": '' || coalesce(to_json(coalesce((array_agg(seq ORDER BY n DESC)'
    '                                  FILTER (WHERE n <= %1$s))[1]::text, %2$L))::text, ''null'')'
    '    || '', "hasMore": '' || (count(*) > %1$s)::text || ''}'''
    ' FROM (SELECT item, seq, row_number() OVER () AS n FROM (%3$s) q) p',
    page_size, in_cursor, item_query)
  INTO result;
  RETURN result;
END $$;

-- The keyset condition and ordering for a sequence column.
CREATE FUNCTION workflow.page_clause(seq_col text, after bigint, sort text, page_size integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN after IS NULL THEN '' ELSE format(' AND %s %s %s', seq_col, CASE sort WHEN 'desc' THEN '<' ELSE '>' END, after) END
      || format(' ORDER BY %s %s LIMIT %s', seq_col, sort, page_size + 1)
$$;

CREATE FUNCTION workflow.get_run(p_app_id text, p_run_id text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  r workflow.runs;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO r FROM workflow.runs WHERE app_id = p_app_id AND run_id = p_run_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', p_run_id), jsonb_build_object('runId', p_run_id));
  END IF;
  RETURN workflow.run_json(r, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_run(text, text, text) IS 'One run; 404 when unknown.';

CREATE FUNCTION workflow.list_runs(
  p_app_id text, p_status text DEFAULT NULL, p_workflow_name text DEFAULT NULL, p_deployment_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'desc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_status IS NOT NULL AND p_status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('status must be one of pending, running, completed, failed, cancelled, not %L', p_status));
  END IF;
  RETURN workflow.page_of(format(
    'SELECT workflow.run_json(r, %L) AS item, r.run_seq AS seq FROM workflow.runs r WHERE r.app_id = %L%s%s%s%s',
    v_resolve, p_app_id,
    CASE WHEN p_status IS NULL THEN '' ELSE format(' AND r.status = %L', p_status) END,
    CASE WHEN p_workflow_name IS NULL THEN '' ELSE format(' AND r.workflow_name = %L', p_workflow_name) END,
    CASE WHEN p_deployment_id IS NULL THEN '' ELSE format(' AND r.deployment_id = %L', p_deployment_id) END,
    workflow.page_clause('r.run_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_runs(text, text, text, text, integer, text, text, text) IS
  'Runs of an app, newest first by default, filtered by status / workflowName / deploymentId: {data, cursor, hasMore}.';

CREATE FUNCTION workflow.list_events(
  p_app_id text, p_run_id text, p_correlation_id text DEFAULT NULL,
  p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'asc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF p_run_id IS NULL AND p_correlation_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'listing events needs a runId or a correlationId');
  END IF;
  -- A run's log pages on run_ordinal (the cursor run_started returns); a
  -- correlation id's events across runs page on the global event_seq.
  RETURN workflow.page_of_text(format(
    'SELECT %s AS item, %s AS seq FROM workflow.events e WHERE e.app_id = %L%s%s%s',
    CASE WHEN v_resolve = 'all' THEN 'e.event_json' ELSE 'workflow.event_json(e, ''none'')::text' END,
    CASE WHEN p_run_id IS NULL THEN 'e.event_seq' ELSE 'e.run_ordinal' END, p_app_id,
    CASE WHEN p_run_id IS NULL THEN '' ELSE format(' AND e.run_id = %L', p_run_id) END,
    CASE WHEN p_correlation_id IS NULL THEN '' ELSE format(' AND e.correlation_id = %L', p_correlation_id) END,
    workflow.page_clause(CASE WHEN p_run_id IS NULL THEN 'e.event_seq' ELSE 'e.run_ordinal' END,
                         v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_events(text, text, text, integer, text, text, text) IS
  'Events of a run and/or of a correlation id (step, hook, wait), in log order by default: {data, cursor, hasMore}.';

CREATE FUNCTION workflow.get_event(p_app_id text, p_run_id text, p_event_id text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  e workflow.events;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO e FROM workflow.events WHERE app_id = p_app_id AND event_id = p_event_id AND run_id = p_run_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_EVENT_NOT_FOUND', format('event %s of run %s not found', p_event_id, p_run_id));
  END IF;
  RETURN workflow.event_json(e, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_event(text, text, text, text) IS 'One event of a run; 404 when unknown.';

CREATE FUNCTION workflow.get_step(p_app_id text, p_run_id text, p_step_id text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s workflow.steps;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO s FROM workflow.steps WHERE app_id = p_app_id AND run_id = p_run_id AND step_id = p_step_id;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_STEP_NOT_FOUND', format('step %s of run %s not found', p_step_id, p_run_id));
  END IF;
  RETURN workflow.step_json(s, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_step(text, text, text, text) IS 'One step of a run; 404 when unknown.';

CREATE FUNCTION workflow.list_steps(
  p_app_id text, p_run_id text, p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL,
  p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'asc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN workflow.page_of(format(
    'SELECT workflow.step_json(s, %L) AS item, s.step_seq AS seq FROM workflow.steps s WHERE s.app_id = %L AND s.run_id = %L%s',
    v_resolve, p_app_id, p_run_id, workflow.page_clause('s.step_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_steps(text, text, integer, text, text, text) IS 'Steps of a run in creation order: {data, cursor, hasMore}.';

-- Hooks: only live (not disposed) hooks are visible through the API.
CREATE FUNCTION workflow.list_hooks(
  p_app_id text, p_run_id text DEFAULT NULL, p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL,
  p_sort_order text DEFAULT NULL, p_resolve_data text DEFAULT 'all')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'asc');
  v_after bigint := workflow.check_cursor(p_cursor);
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN workflow.page_of(format(
    'SELECT workflow.hook_json(h, %L) AS item, h.hook_seq AS seq FROM workflow.hooks h'
    ' WHERE h.app_id = %L AND h.disposed_at IS NULL%s%s',
    v_resolve, p_app_id,
    CASE WHEN p_run_id IS NULL THEN '' ELSE format(' AND h.run_id = %L', p_run_id) END,
    workflow.page_clause('h.hook_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_hooks(text, text, integer, text, text, text) IS 'Live hooks of an app, optionally of one run: {data, cursor, hasMore}.';

CREATE FUNCTION workflow.get_hook(p_app_id text, p_hook_id text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  h workflow.hooks;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO h FROM workflow.hooks WHERE app_id = p_app_id AND hook_id = p_hook_id AND disposed_at IS NULL
   ORDER BY hook_seq DESC LIMIT 1;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', format('hook %s not found', p_hook_id), jsonb_build_object('hookId', p_hook_id));
  END IF;
  RETURN workflow.hook_json(h, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_hook(text, text, text) IS 'A live hook by id; 404 when unknown or disposed.';

CREATE FUNCTION workflow.get_hook_by_token(p_app_id text, p_token text, p_resolve_data text DEFAULT 'all') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  h workflow.hooks;
  v_resolve text := workflow.check_resolve_data(p_resolve_data);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO h FROM workflow.hooks WHERE app_id = p_app_id AND token = p_token AND disposed_at IS NULL;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', 'no live hook holds this token', jsonb_build_object('token', p_token));
  END IF;
  RETURN workflow.hook_json(h, v_resolve);
END $$;
COMMENT ON FUNCTION workflow.get_hook_by_token(text, text, text) IS 'The live hook holding a token; 404 when none.';

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
