-- Revert pg-workflow:strict_times: back to the definition of change events.
BEGIN;

CREATE OR REPLACE FUNCTION workflow.event_time(data jsonb, member text, required boolean) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
  raw text := data ->> member;
BEGIN
  IF raw IS NULL THEN
    IF required THEN
      PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', format('eventData.%s is required', member));
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(data -> member) = 'number' THEN
    RETURN to_timestamp((data ->> member)::numeric / 1000);
  END IF;
  RETURN raw::timestamptz;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
  PERFORM workflow.refuse('PW400', 'WF_INVALID_EVENT', format('eventData.%s is not a valid time: %s', member, raw));
  RETURN NULL;
END $$;
COMMENT ON FUNCTION workflow.event_time(jsonb, text, boolean) IS 'A time member of eventData (ISO string or epoch ms); 400 when malformed or missing but required.';
SELECT workflow.expose_internal('workflow.event_time(jsonb, text, boolean)');

COMMIT;
