-- Deploy pg-workflow:strict_times
-- Times in eventData (wait_created.resumeAt, step_retrying.retryAfter) are
-- ISO-8601 strings or epoch milliseconds (SPEC section 14) — never the
-- special inputs timestamptz also parses ('infinity', 'epoch', 'now',
-- 'today', 'tomorrow', 'allballs', ...), which would be stored as a time
-- nobody meant. The service checks the same pattern first
-- (service/schemas.py, ISO_TIME_PATTERN); this is the last line.
--
-- INTERNAL: workflow.event_time(jsonb, text, boolean) — called by
--   workflow.create_event (API); re-classified after CREATE OR REPLACE, which
--   resets its privilege settings.
BEGIN;

CREATE OR REPLACE FUNCTION workflow.event_time(data jsonb, member text, required boolean) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_value jsonb := data -> member;
  v_field text := 'eventData.' || member;
  v_text text := v_value #>> '{}';
  v_ms numeric;
BEGIN
  IF v_value IS NULL OR jsonb_typeof(v_value) = 'null' THEN
    IF required THEN
      PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', format('%s is required', v_field),
                              jsonb_build_object('field', v_field));
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(v_value) = 'number' THEN
    v_ms := v_text::numeric;
    -- JavaScript's Date range, well inside timestamptz's.
    IF abs(v_ms) <= 8640000000000000 THEN
      RETURN to_timestamp(v_ms / 1000);
    END IF;
  ELSIF jsonb_typeof(v_value) = 'string'
        AND v_text ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$' THEN
    BEGIN
      RETURN v_text::timestamptz;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
      NULL; -- refused below
    END;
  END IF;
  PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST',
    format('%s must be an ISO-8601 time such as 2026-01-31T12:00:00.000Z or epoch milliseconds, not %s',
           v_field, left(v_value::text, 60)),
    jsonb_build_object('field', v_field));
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.event_time(jsonb, text, boolean) IS
  'A time member of eventData: an ISO-8601 string or epoch milliseconds within ±8.64e15; 400 (WF_BAD_REQUEST, '
  'meta.field) for anything else — keywords such as infinity, epoch, now or tomorrow included — or when missing '
  'but required.';
SELECT workflow.expose_internal('workflow.event_time(jsonb, text, boolean)');

COMMIT;
