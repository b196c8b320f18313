-- Deploy pg-workflow:devkit5_analytics_api
-- The `analytics` namespace of @workflow/world 5.x (src/analytics.ts), which
-- DevKit 5 tools (`workflow inspect`, the web UI) prefer over runs.list: metadata
-- only, never payloads, read from the workflow_analytics views through API
-- functions. The functions run as pgw_api, and the views are security_invoker,
-- so the tables' row-level security scopes every row to the request's app (the
-- functions also name the app, for pgTAP and as a second fence).
--
-- One function per entity; its p_params (the request's members) select the
-- form: `id` → one row (404 when absent), `ids` → the rows present (events
-- only, at most 100, missing ones left out, order not guaranteed), otherwise a
-- page {data, cursor, hasMore} (runs and attributes add pageInfo).
--
-- Pages are keyset-paginated on (createdAt, id) (runs, steps, hooks, waits),
-- the event's position (events) or the key (attributes); the cursor is opaque.
-- Page sizes as the package bounds them: runs, attributes and hooks at most 100
-- (default 100), a run's steps, events and waits at most 1000 (default 100).
--
-- pageInfo: pg-workflow has no plan-dependent lookback. The window a listing
-- covers starts at startTime when given, else at the app's oldest stored run;
-- maxWindowStart is always that oldest run (what retention has kept), and
-- upgradeAvailable is false.
--
-- API:      workflow.analytics_runs(text, jsonb)  (new)
--           workflow.analytics_attributes(text, jsonb)  (new)
--           workflow.analytics_steps(text, text, jsonb)  (new)
--           workflow.analytics_events(text, text, jsonb)  (new)
--           workflow.analytics_hooks(text, jsonb)  (new)
--           workflow.analytics_waits(text, text, jsonb)  (new)
--           workflow.page_info(text)  (new: pageInfo of GET /runs?pageInfo=true)
-- INTERNAL: workflow.analytics_limit(jsonb, integer)  (new)
--           workflow.analytics_cursor(timestamptz, text), workflow.analytics_after(jsonb)  (new)
--           workflow.analytics_time(jsonb, text)  (new)
--           workflow.analytics_page(jsonb, integer, jsonb)  (new)
--           workflow.analytics_page_info(text, timestamptz)  (new)
BEGIN;

GRANT USAGE ON SCHEMA workflow_analytics TO pgw_api;
GRANT SELECT ON workflow_analytics.runs, workflow_analytics.steps, workflow_analytics.events,
                workflow_analytics.hooks, workflow_analytics.waits TO pgw_api;

CREATE FUNCTION workflow.analytics_limit(p_params jsonb, p_max integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v jsonb := p_params -> 'limit';
BEGIN
  IF v IS NULL OR v = 'null'::jsonb THEN RETURN least(100, p_max); END IF;
  IF jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) OR v::numeric < 1 OR v::numeric > p_max THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('limit must be an integer from 1 to %s', p_max),
                            jsonb_build_object('max', p_max));
  END IF;
  RETURN v::integer;
END $$;
COMMENT ON FUNCTION workflow.analytics_limit(jsonb, integer) IS
  'Page size of an analytics listing: p_params.limit, 1..p_max (default 100 or p_max if lower); 400 otherwise.';
SELECT workflow.expose_internal('workflow.analytics_limit(jsonb, integer)');

CREATE FUNCTION workflow.analytics_cursor(p_at timestamptz, p_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT (extract(epoch FROM p_at) * 1000000)::bigint::text || ':' || p_id
$$;
COMMENT ON FUNCTION workflow.analytics_cursor(timestamptz, text) IS
  'Cursor of an analytics page ordered by (created_at, id): microseconds since the epoch, a colon, the id.';
SELECT workflow.expose_internal('workflow.analytics_cursor(timestamptz, text)');

-- (created_at, id) after which a page continues; NULLs without a cursor.
CREATE FUNCTION workflow.analytics_after(p_params jsonb, OUT at timestamptz, OUT id text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v text := p_params ->> 'cursor';
BEGIN
  IF v IS NULL OR v = '' THEN RETURN; END IF;
  IF v !~ '^[0-9]{1,18}:.' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('invalid cursor %L', left(v, 100)));
  END IF;
  at := to_timestamp(split_part(v, ':', 1)::bigint / 1000000.0);
  id := substr(v, position(':' IN v) + 1);
END $$;
COMMENT ON FUNCTION workflow.analytics_after(jsonb) IS
  'The (created_at, id) an analytics cursor (p_params.cursor) points after; NULLs without one; 400 when malformed.';
SELECT workflow.expose_internal('workflow.analytics_after(jsonb)');

CREATE FUNCTION workflow.analytics_time(p_params jsonb, p_name text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v text := p_params ->> p_name;
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  IF v !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}' THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('%s must be an ISO 8601 time', p_name));
  END IF;
  BEGIN
    RETURN v::timestamptz;
  EXCEPTION WHEN OTHERS THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('%s must be an ISO 8601 time', p_name));
  END;
END $$;
COMMENT ON FUNCTION workflow.analytics_time(jsonb, text) IS
  'p_params.<p_name> as a time (ISO 8601, no keywords); NULL when absent; 400 otherwise.';
SELECT workflow.expose_internal('workflow.analytics_time(jsonb, text)');

-- rows: [{item, cursor}] in page order, at most limit + 1.
CREATE FUNCTION workflow.analytics_page(p_rows jsonb, p_limit integer, p_page_info jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
           'data', coalesce((SELECT jsonb_agg(r -> 'item' ORDER BY n) FROM jsonb_array_elements(p_rows) WITH ORDINALITY
                              AS t(r, n) WHERE n <= p_limit), '[]'::jsonb),
           'cursor', CASE WHEN jsonb_array_length(p_rows) > p_limit THEN p_rows -> (p_limit - 1) -> 'cursor'
                          ELSE 'null'::jsonb END,
           'hasMore', jsonb_array_length(p_rows) > p_limit)
         || CASE WHEN p_page_info IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('pageInfo', p_page_info) END
$$;
COMMENT ON FUNCTION workflow.analytics_page(jsonb, integer, jsonb) IS
  'An analytics page {data, cursor, hasMore, pageInfo?} from up to limit + 1 [{item, cursor}] rows; cursor is null '
  'on the last page.';
SELECT workflow.expose_internal('workflow.analytics_page(jsonb, integer, jsonb)');

CREATE FUNCTION workflow.analytics_page_info(p_app_id text, p_start timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH w AS (
    SELECT coalesce((SELECT r.created_at FROM workflow.runs r WHERE r.app_id = p_app_id ORDER BY r.run_seq LIMIT 1),
                    now()) AS oldest),
  d AS (SELECT oldest, coalesce(p_start, oldest) AS current FROM w)
  SELECT jsonb_build_object(
           'currentLookbackDays', greatest(0, ceil(extract(epoch FROM now() - current) / 86400))::integer,
           'maxLookbackDays', greatest(0, ceil(extract(epoch FROM now() - least(oldest, current)) / 86400))::integer,
           'currentWindowStart', workflow.iso(current),
           'maxWindowStart', workflow.iso(least(oldest, current)),
           'upgradeAvailable', false)
    FROM d
$$;
COMMENT ON FUNCTION workflow.analytics_page_info(text, timestamptz) IS
  'pageInfo of a cross-run analytics page: the window starts at p_start, else at the app''s oldest stored run (the '
  'max window: what retention kept); lookback in whole days; upgradeAvailable always false.';
SELECT workflow.expose_internal('workflow.analytics_page_info(text, timestamptz)');

CREATE FUNCTION workflow.page_info(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN workflow.analytics_page_info(p_app_id, NULL);
END $$;
COMMENT ON FUNCTION workflow.page_info(text) IS
  'pageInfo of the storage runs list (GET /runs?pageInfo=true, 5.x PaginatedResponse.pageInfo): the window of what '
  'the app has stored, from its oldest run; upgradeAvailable false.';
SELECT workflow.expose_api('workflow.page_info(text)');

-- runs.get / runs.list ---------------------------------------------------------
CREATE FUNCTION workflow.analytics_runs(p_app_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 100);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'desc');
  v_after record := workflow.analytics_after(v_params);
  v_start timestamptz := workflow.analytics_time(v_params, 'startTime');
  v_end timestamptz := workflow.analytics_time(v_params, 'endTime');
  v_status text := v_params ->> 'status';
  v_workflow text := v_params ->> 'workflowName';
  v_attrs jsonb := nullif(v_params -> 'attributes', 'null'::jsonb);
  v_rows jsonb;
  v_item jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF v_params ? 'id' THEN
    SELECT jsonb_build_object('runId', r.run_id, 'status', r.status, 'deploymentId', r.deployment_id,
                              'workflowName', r.workflow_name, 'specVersion', r.spec_version,
                              'attributes', coalesce(r.attributes, '{}'), 'createdAt', workflow.iso(r.created_at),
                              'updatedAt', workflow.iso(r.updated_at), 'startedAt', workflow.iso(r.started_at),
                              'completedAt', workflow.iso(r.completed_at), 'errorCode', r.error_code)
      INTO v_item FROM workflow_analytics.runs r WHERE r.app_id = p_app_id AND r.run_id = v_params ->> 'id';
    IF v_item IS NULL THEN
      PERFORM workflow.refuse('PW404', 'WF_RUN_NOT_FOUND', format('run %s not found', v_params ->> 'id'),
                              jsonb_build_object('runId', v_params ->> 'id'));
    END IF;
    RETURN v_item;
  END IF;
  IF v_status IS NOT NULL AND v_status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
      format('status must be one of pending, running, completed, failed, cancelled, not %L', v_status));
  END IF;
  IF (v_start IS NULL) <> (v_end IS NULL) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'startTime and endTime must be given together');
  END IF;
  IF v_start >= v_end THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'startTime must be before endTime');
  END IF;
  IF v_attrs IS NOT NULL AND (jsonb_typeof(v_attrs) <> 'object'
       OR (SELECT count(*) FROM jsonb_each(v_attrs)) > 8
       OR EXISTS (SELECT 1 FROM jsonb_each(v_attrs) WHERE jsonb_typeof(value) <> 'string')) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER',
                            'attributes must be an object of at most 8 key=value pairs with string values');
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', cur) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT jsonb_build_object('runId', r.run_id, 'status', r.status, 'deploymentId', r.deployment_id,
                                    'workflowName', r.workflow_name, 'specVersion', r.spec_version,
                                    'attributes', coalesce(r.attributes, '{}'),
                                    'createdAt', workflow.iso(r.created_at), 'updatedAt', workflow.iso(r.updated_at),
                                    'startedAt', workflow.iso(r.started_at),
                                    'completedAt', workflow.iso(r.completed_at), 'errorCode', r.error_code) AS item,
                 workflow.analytics_cursor(r.created_at, r.run_id) AS cur,
                 row_number() OVER (ORDER BY
                   CASE WHEN v_sort = 'asc' THEN r.created_at END, CASE WHEN v_sort = 'asc' THEN r.run_id END,
                   CASE WHEN v_sort = 'desc' THEN r.created_at END DESC, CASE WHEN v_sort = 'desc' THEN r.run_id END DESC) AS n
            FROM workflow_analytics.runs r
           WHERE r.app_id = p_app_id
             AND (v_status IS NULL OR r.status = v_status)
             AND (v_workflow IS NULL OR r.workflow_name = v_workflow)
             AND (v_attrs IS NULL OR r.attributes @> v_attrs)
             -- active in the window: created before its end, not finished before its start
             AND (v_start IS NULL OR (r.created_at <= v_end AND (r.completed_at IS NULL OR r.completed_at >= v_start)))
             AND (v_after.at IS NULL OR CASE WHEN v_sort = 'asc' THEN (r.created_at, r.run_id) > (v_after.at, v_after.id)
                                             ELSE (r.created_at, r.run_id) < (v_after.at, v_after.id) END)
           ORDER BY n LIMIT v_limit + 1) q;
  RETURN workflow.analytics_page(v_rows, v_limit, workflow.analytics_page_info(p_app_id, v_start));
END $$;
COMMENT ON FUNCTION workflow.analytics_runs(text, jsonb) IS
  'analytics.runs: p_params.id → one AnalyticsRun (404); else a page filtered by workflowName, status, startTime + '
  'endTime (runs active in the window), attributes (up to 8 pairs, latest values) with limit (<= 100), cursor, '
  'sortOrder (desc): {data, cursor, hasMore, pageInfo}. Metadata only.';
SELECT workflow.expose_api('workflow.analytics_runs(text, jsonb)');

-- attributes.list ---------------------------------------------------------------
CREATE FUNCTION workflow.analytics_attributes(p_app_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 100);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'asc');
  v_after text := nullif(v_params ->> 'cursor', '');
  v_start timestamptz := workflow.analytics_time(v_params, 'startTime');
  v_end timestamptz := workflow.analytics_time(v_params, 'endTime');
  v_workflow text := v_params ->> 'workflowName';
  v_rows jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF (v_start IS NULL) <> (v_end IS NULL) THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'startTime and endTime must be given together');
  END IF;
  IF v_start >= v_end THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'startTime must be before endTime');
  END IF;
  -- An attribute is seen on a run from the run's creation to its last change.
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', key) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT k.key, jsonb_build_object('key', k.key, 'runCount', count(*),
                                           'firstSeenAt', workflow.iso(min(r.created_at)),
                                           'lastSeenAt', workflow.iso(max(r.updated_at))) AS item,
                 row_number() OVER (ORDER BY CASE WHEN v_sort = 'asc' THEN k.key END,
                                             CASE WHEN v_sort = 'desc' THEN k.key END DESC) AS n
            FROM workflow_analytics.runs r, jsonb_object_keys(r.attributes) AS k(key)
           WHERE r.app_id = p_app_id AND r.attributes IS NOT NULL AND jsonb_typeof(r.attributes) = 'object'
             AND (v_workflow IS NULL OR r.workflow_name = v_workflow)
             AND (v_start IS NULL OR (r.created_at <= v_end AND r.updated_at >= v_start))
             AND (v_after IS NULL OR CASE WHEN v_sort = 'asc' THEN k.key > v_after ELSE k.key < v_after END)
           GROUP BY k.key
           ORDER BY n LIMIT v_limit + 1) q;
  RETURN workflow.analytics_page(v_rows, v_limit, workflow.analytics_page_info(p_app_id, v_start));
END $$;
COMMENT ON FUNCTION workflow.analytics_attributes(text, jsonb) IS
  'analytics.attributes.list: the distinct attribute keys of the app''s runs (optionally one workflowName, runs '
  'touched in startTime..endTime) with runCount, firstSeenAt (earliest run creation), lastSeenAt (latest run change), '
  'by key (asc); limit <= 100, the cursor is the last key: {data, cursor, hasMore, pageInfo}.';
SELECT workflow.expose_api('workflow.analytics_attributes(text, jsonb)');

-- steps.get / steps.list ----------------------------------------------------------
CREATE FUNCTION workflow.analytics_steps(p_app_id text, p_run_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 1000);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'asc');
  v_after record := workflow.analytics_after(v_params);
  v_id text := v_params ->> 'id';
  v_rows jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', cur) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT jsonb_build_object('runId', s.run_id, 'stepId', s.step_id, 'stepName', s.step_name,
                                    'status', s.status, 'attempt', s.attempt,
                                    'createdAt', workflow.iso(s.created_at), 'updatedAt', workflow.iso(s.updated_at),
                                    'startedAt', workflow.iso(s.started_at),
                                    'completedAt', workflow.iso(s.completed_at),
                                    'retryAfter', workflow.iso(s.retry_after), 'errorCode', s.error_code) AS item,
                 workflow.analytics_cursor(s.created_at, s.step_id) AS cur,
                 row_number() OVER (ORDER BY
                   CASE WHEN v_sort = 'asc' THEN s.created_at END, CASE WHEN v_sort = 'asc' THEN s.step_id END,
                   CASE WHEN v_sort = 'desc' THEN s.created_at END DESC, CASE WHEN v_sort = 'desc' THEN s.step_id END DESC) AS n
            FROM workflow_analytics.steps s
           WHERE s.app_id = p_app_id AND s.run_id = p_run_id
             AND (v_id IS NULL OR s.step_id = v_id)
             AND (v_after.at IS NULL OR CASE WHEN v_sort = 'asc' THEN (s.created_at, s.step_id) > (v_after.at, v_after.id)
                                             ELSE (s.created_at, s.step_id) < (v_after.at, v_after.id) END)
           ORDER BY n LIMIT v_limit + 1) q;
  IF v_id IS NOT NULL THEN
    IF jsonb_array_length(v_rows) = 0 THEN
      PERFORM workflow.refuse('PW404', 'WF_STEP_NOT_FOUND', format('step %s of run %s not found', v_id, p_run_id),
                              jsonb_build_object('runId', p_run_id, 'stepId', v_id));
    END IF;
    RETURN v_rows -> 0 -> 'item';
  END IF;
  RETURN workflow.analytics_page(v_rows, v_limit);
END $$;
COMMENT ON FUNCTION workflow.analytics_steps(text, text, jsonb) IS
  'analytics.steps: p_params.id → one AnalyticsStep of the run (404); else a page of the run''s steps by creation '
  '(limit <= 1000, cursor, sortOrder asc): {data, cursor, hasMore}. Metadata only.';
SELECT workflow.expose_api('workflow.analytics_steps(text, text, jsonb)');

-- events.get / getMany / list ---------------------------------------------------------
CREATE FUNCTION workflow.analytics_events(p_app_id text, p_run_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 1000);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'asc');
  v_after bigint := workflow.check_cursor(v_params ->> 'cursor');
  v_id text := v_params ->> 'id';
  v_ids text[];
  v_type text := v_params ->> 'eventType';
  v_correlation text := v_params ->> 'correlationId';
  v_rows jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF v_params ? 'ids' THEN
    IF jsonb_typeof(v_params -> 'ids') <> 'array' OR jsonb_array_length(v_params -> 'ids') > 100
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_params -> 'ids') e WHERE jsonb_typeof(e) <> 'string') THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'eventIds must be an array of at most 100 event ids',
                              jsonb_build_object('max', 100));
    END IF;
    v_ids := ARRAY(SELECT DISTINCT jsonb_array_elements_text(v_params -> 'ids'));
    v_limit := 1000;
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', cur) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT jsonb_build_object('runId', e.run_id, 'eventId', e.event_id, 'eventType', e.event_type,
                                    'correlationId', e.correlation_id,
                                    'entityId', coalesce(e.correlation_id, e.run_id),
                                    'stepName', s.step_name, 'workflowName', r.workflow_name,
                                    'deploymentId', r.deployment_id, 'specVersion', e.spec_version,
                                    'runCreatedAt', workflow.iso(r.created_at),
                                    'createdAt', workflow.iso(e.created_at)) AS item,
                 e.run_ordinal::text AS cur,
                 row_number() OVER (ORDER BY CASE WHEN v_sort = 'asc' THEN e.run_ordinal END,
                                             CASE WHEN v_sort = 'desc' THEN e.run_ordinal END DESC) AS n
            FROM workflow_analytics.events e
            JOIN workflow_analytics.runs r ON r.app_id = e.app_id AND r.run_id = e.run_id
            LEFT JOIN workflow_analytics.steps s
              ON e.event_type LIKE 'step\_%' AND s.app_id = e.app_id AND s.run_id = e.run_id
             AND s.step_id = e.correlation_id
           WHERE e.app_id = p_app_id AND e.run_id = p_run_id
             AND (v_id IS NULL OR e.event_id = v_id)
             AND (v_ids IS NULL OR e.event_id = ANY (v_ids))
             AND (v_type IS NULL OR e.event_type = v_type)
             AND (v_correlation IS NULL OR e.correlation_id = v_correlation)
             AND (v_after IS NULL OR CASE WHEN v_sort = 'asc' THEN e.run_ordinal > v_after
                                          ELSE e.run_ordinal < v_after END)
           ORDER BY n LIMIT v_limit + 1) q;
  IF v_id IS NOT NULL THEN
    IF jsonb_array_length(v_rows) = 0 THEN
      PERFORM workflow.refuse('PW404', 'WF_EVENT_NOT_FOUND', format('event %s of run %s not found', v_id, p_run_id),
                              jsonb_build_object('runId', p_run_id, 'eventId', v_id));
    END IF;
    RETURN v_rows -> 0 -> 'item';
  END IF;
  IF v_ids IS NOT NULL THEN
    RETURN coalesce((SELECT jsonb_agg(x -> 'item') FROM jsonb_array_elements(v_rows) x), '[]');
  END IF;
  RETURN workflow.analytics_page(v_rows, v_limit);
END $$;
COMMENT ON FUNCTION workflow.analytics_events(text, text, jsonb) IS
  'analytics.events of one run: p_params.id → one AnalyticsEvent (404); ids → those present (at most 100, repeats '
  'once, missing left out); else a page in log order filtered by eventType / correlationId (limit <= 1000, cursor = '
  'position, sortOrder asc): {data, cursor, hasMore}. Metadata only, never eventData.';
SELECT workflow.expose_api('workflow.analytics_events(text, text, jsonb)');

-- hooks.get / hooks.list -------------------------------------------------------------
CREATE FUNCTION workflow.analytics_hooks(p_app_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 100);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'asc');
  v_after record := workflow.analytics_after(v_params);
  v_id text := v_params ->> 'id';
  v_run_id text := v_params ->> 'runId';
  v_rows jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF v_id IS NULL AND v_run_id IS NULL THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', 'listing hooks needs a runId');
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', cur) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT jsonb_build_object('runId', h.run_id, 'hookId', h.hook_id,
                                    'status', CASE WHEN h.conflict THEN 'conflict'
                                                   WHEN h.disposed_at IS NOT NULL THEN 'disposed'
                                                   WHEN rcv.at IS NOT NULL THEN 'received' ELSE 'created' END,
                                    'createdAt', workflow.iso(h.created_at),
                                    'updatedAt', workflow.iso(greatest(h.created_at, rcv.at, h.disposed_at)),
                                    'receivedAt', workflow.iso(rcv.at), 'disposedAt', workflow.iso(h.disposed_at),
                                    'isWebhook', h.is_webhook) AS item,
                 workflow.analytics_cursor(h.created_at, h.hook_id) AS cur,
                 row_number() OVER (ORDER BY
                   CASE WHEN v_sort = 'asc' THEN h.created_at END, CASE WHEN v_sort = 'asc' THEN h.hook_id END,
                   CASE WHEN v_sort = 'desc' THEN h.created_at END DESC, CASE WHEN v_sort = 'desc' THEN h.hook_id END DESC) AS n
            FROM (SELECT hk.app_id, hk.run_id, hk.hook_id, hk.created_at, hk.disposed_at, hk.is_webhook,
                         false AS conflict
                    FROM workflow_analytics.hooks hk
                  UNION ALL
                  -- A hook_created whose token another run held: only its hook_conflict event records it.
                  SELECT e.app_id, e.run_id, e.correlation_id, e.created_at, NULL, NULL, true
                    FROM workflow_analytics.events e
                   WHERE e.app_id = p_app_id AND e.event_type = 'hook_conflict'
                     AND NOT EXISTS (SELECT 1 FROM workflow_analytics.hooks x
                                      WHERE x.app_id = e.app_id AND x.run_id = e.run_id AND x.hook_id = e.correlation_id)
                 ) h
            LEFT JOIN LATERAL (SELECT max(e.created_at) AS at FROM workflow_analytics.events e
                                WHERE e.app_id = h.app_id AND e.correlation_id = h.hook_id AND e.run_id = h.run_id
                                  AND e.event_type = 'hook_received') rcv ON true
           WHERE h.app_id = p_app_id
             AND (v_run_id IS NULL OR h.run_id = v_run_id)
             AND (v_id IS NULL OR h.hook_id = v_id)
             AND (v_after.at IS NULL OR CASE WHEN v_sort = 'asc' THEN (h.created_at, h.hook_id) > (v_after.at, v_after.id)
                                             ELSE (h.created_at, h.hook_id) < (v_after.at, v_after.id) END)
           ORDER BY n LIMIT v_limit + 1) q;
  IF v_id IS NOT NULL THEN
    IF jsonb_array_length(v_rows) = 0 THEN
      PERFORM workflow.refuse('PW404', 'WF_HOOK_NOT_FOUND', format('hook %s not found', v_id),
                              jsonb_build_object('hookId', v_id));
    END IF;
    RETURN v_rows -> 0 -> 'item';
  END IF;
  RETURN workflow.analytics_page(v_rows, v_limit);
END $$;
COMMENT ON FUNCTION workflow.analytics_hooks(text, jsonb) IS
  'analytics.hooks: p_params.id (and optionally runId) → one AnalyticsHook (404); else a page of runId''s hooks by '
  'creation (limit <= 100, cursor, sortOrder asc): {data, cursor, hasMore}. status: created | received (a '
  'hook_received was appended) | disposed | conflict (its token was held by another run: only a hook_conflict '
  'event records it). Never the token or metadata.';
SELECT workflow.expose_api('workflow.analytics_hooks(text, jsonb)');

-- waits.get / waits.list ---------------------------------------------------------------
CREATE FUNCTION workflow.analytics_waits(p_app_id text, p_run_id text, p_params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_params jsonb := coalesce(p_params, '{}');
  v_limit integer := workflow.analytics_limit(v_params, 1000);
  v_sort text := workflow.check_sort(v_params ->> 'sortOrder', 'asc');
  v_after record := workflow.analytics_after(v_params);
  v_id text := v_params ->> 'id';
  v_status text := v_params ->> 'status';
  v_rows jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  IF v_status IS NOT NULL AND v_status NOT IN ('waiting', 'completed') THEN
    PERFORM workflow.refuse('PW400', 'WF_INVALID_PARAMETER', format('status must be waiting or completed, not %L', v_status));
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('item', item, 'cursor', cur) ORDER BY n), '[]') INTO v_rows
    FROM (SELECT jsonb_build_object('runId', w.run_id, 'waitId', w.wait_id, 'status', w.status,
                                    'resumeAt', workflow.iso(w.resume_at), 'createdAt', workflow.iso(w.created_at),
                                    'updatedAt', workflow.iso(w.updated_at),
                                    'completedAt', workflow.iso(w.completed_at)) AS item,
                 workflow.analytics_cursor(w.created_at, w.wait_id) AS cur,
                 row_number() OVER (ORDER BY
                   CASE WHEN v_sort = 'asc' THEN w.created_at END, CASE WHEN v_sort = 'asc' THEN w.wait_id END,
                   CASE WHEN v_sort = 'desc' THEN w.created_at END DESC, CASE WHEN v_sort = 'desc' THEN w.wait_id END DESC) AS n
            FROM workflow_analytics.waits w
           WHERE w.app_id = p_app_id AND w.run_id = p_run_id
             AND (v_id IS NULL OR w.wait_id = v_id)
             AND (v_status IS NULL OR w.status = v_status)
             AND (v_after.at IS NULL OR CASE WHEN v_sort = 'asc' THEN (w.created_at, w.wait_id) > (v_after.at, v_after.id)
                                             ELSE (w.created_at, w.wait_id) < (v_after.at, v_after.id) END)
           ORDER BY n LIMIT v_limit + 1) q;
  IF v_id IS NOT NULL THEN
    IF jsonb_array_length(v_rows) = 0 THEN
      PERFORM workflow.refuse('PW404', 'WF_WAIT_NOT_FOUND', format('wait %s of run %s not found', v_id, p_run_id),
                              jsonb_build_object('runId', p_run_id, 'waitId', v_id));
    END IF;
    RETURN v_rows -> 0 -> 'item';
  END IF;
  RETURN workflow.analytics_page(v_rows, v_limit);
END $$;
COMMENT ON FUNCTION workflow.analytics_waits(text, text, jsonb) IS
  'analytics.waits of one run: p_params.id → one AnalyticsWait (404); else a page by creation filtered by status '
  '(limit <= 1000, cursor, sortOrder asc): {data, cursor, hasMore}.';
SELECT workflow.expose_api('workflow.analytics_waits(text, text, jsonb)');

COMMIT;
