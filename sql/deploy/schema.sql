-- Deploy pg-workflow:schema
-- The workflow schema, the role tenant requests run as, the request context,
-- and small helpers every other change uses.
BEGIN;

CREATE SCHEMA workflow;
COMMENT ON SCHEMA workflow IS
  'pg-workflow: durable state of Workflow DevKit runs (runs, steps, events, hooks, waits, queue, streams). '
  'Tables are documented with COMMENT ON; functions form the API the service calls.';

-- Tenant requests run as this role (SET LOCAL ROLE), so row-level security
-- applies even when the service connects as the owner or a superuser.
-- Roles are cluster-wide: several databases of one cluster share it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgw_tenant') THEN
    CREATE ROLE pgw_tenant NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by another database's deploy
END $$;
COMMENT ON ROLE pgw_tenant IS 'pg-workflow: role of tenant-scoped requests; sees only the rows of workflow.app_id';
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'pgw_tenant', 'MEMBER') THEN
    EXECUTE format('GRANT pgw_tenant TO %I', current_user);
  END IF;
END $$;
GRANT USAGE ON SCHEMA workflow TO pgw_tenant;

-- The application a request acts for; NULL (no rows visible) when unset.
CREATE FUNCTION workflow.current_app_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('workflow.app_id', true), '')
$$;
COMMENT ON FUNCTION workflow.current_app_id() IS
  'The app id of the current request (transaction setting workflow.app_id), NULL when unset: policies then match no row.';

-- Standard tenant policy: a row is visible and writable only for its own app.
CREATE FUNCTION workflow.enable_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s TO pgw_tenant '
    'USING (app_id = (SELECT workflow.current_app_id())) '
    'WITH CHECK (app_id = (SELECT workflow.current_app_id()))', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgw_tenant', tbl);
END $$;
COMMENT ON FUNCTION workflow.enable_tenant_rls(regclass) IS
  'Enables row-level security on a tenant table with the policy app_id = workflow.current_app_id().';

-- ISO-8601 UTC with milliseconds, the API's time format.
CREATE FUNCTION workflow.iso(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
COMMENT ON FUNCTION workflow.iso(timestamptz) IS 'Formats a time as the API does: ISO-8601 UTC with milliseconds.';

-- Crockford base32 of a 48-bit millisecond time and two 40-bit halves: a ULID.
CREATE FUNCTION workflow.ulid_encode(ms bigint, hi bigint, lo bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  out text := '';
  i int;
BEGIN
  FOR i IN REVERSE 9..0 LOOP
    out := out || substr(alphabet, ((ms >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  FOR i IN REVERSE 7..0 LOOP
    out := out || substr(alphabet, ((hi >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  FOR i IN REVERSE 7..0 LOOP
    out := out || substr(alphabet, ((lo >> (5 * i)) & 31)::int + 1, 1);
  END LOOP;
  RETURN out;
END $$;
COMMENT ON FUNCTION workflow.ulid_encode(bigint, bigint, bigint) IS
  'Encodes a ULID (26 Crockford base32 characters) from a millisecond time and two 40-bit integers.';

CREATE FUNCTION workflow.epoch_ms(ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT floor(extract(epoch FROM ts) * 1000)::bigint $$;
COMMENT ON FUNCTION workflow.epoch_ms(timestamptz) IS 'Milliseconds since the Unix epoch.';

-- A random ULID for the given time (80 random bits from two v4 UUIDs,
-- taking only their random bytes).
CREATE FUNCTION workflow.ulid(ts timestamptz DEFAULT clock_timestamp()) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT workflow.ulid_encode(
    workflow.epoch_ms(ts),
    ('x' || encode(substring(uuid_send(gen_random_uuid()) FROM 1 FOR 5), 'hex'))::bit(40)::bigint,
    ('x' || encode(substring(uuid_send(gen_random_uuid()) FROM 1 FOR 5), 'hex'))::bit(40)::bigint)
$$;
COMMENT ON FUNCTION workflow.ulid(timestamptz) IS 'A new random ULID for the given time.';

-- Refusals have names: every rule violation raises one of these SQLSTATEs,
-- which the service maps to HTTP statuses in one table (service/errors.py).
--   PW400 bad request   PW403 forbidden   PW404 not found   PW409 conflict
--   PW410 gone (run terminal)   PW412 precondition   PW413 too large
--   PW425 too early   PW429 quota exceeded
-- HINT carries the WF_* code, DETAIL a JSON object of extra fields (meta).
CREATE FUNCTION workflow.refuse(sqlstate text, code text, message text, meta jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, HINT = code, DETAIL = meta::text;
END $$;
COMMENT ON FUNCTION workflow.refuse(text, text, text, jsonb) IS
  'Raises a named refusal: SQLSTATE PWnnn (nnn = HTTP status), HINT = WF_* code, DETAIL = JSON meta.';

-- A JSON object with its top-level null members removed (nested nulls kept:
-- payloads may contain them).
CREATE FUNCTION workflow.jsonb_drop_nulls(obj jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
  FROM jsonb_each(obj) WHERE jsonb_typeof(value) <> 'null'
$$;
COMMENT ON FUNCTION workflow.jsonb_drop_nulls(jsonb) IS 'Removes top-level members whose value is JSON null.';

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA workflow TO pgw_tenant;

COMMIT;
