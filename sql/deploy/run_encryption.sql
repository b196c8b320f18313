-- Deploy pg-workflow:run_encryption
-- Run encryption (@workflow/world getEncryptionKeyForRun): the runtime encrypts
-- a run's payloads with AES-256-GCM under a 32-byte key the World gives it.
-- pg-workflow derives that key per run with HKDF-SHA256 (RFC 5869) from a
-- per-app secret: salt = the run id, info = "workflow-encryption", 32 bytes.
--
-- The secret never leaves the database. It sits in workflow.app_encryption_secrets,
-- which only the NOLOGIN role pgw_keys may read (row-level security forced, its
-- only policy names pgw_keys; no grant to PUBLIC, pgw_tenant, pgw_api,
-- pgw_service or the analyst roles). pgw_keys owns the three functions that
-- touch the table (SECURITY DEFINER): one adds a secret, one lists versions
-- (never the secret), one derives a run's key. Nothing returns a secret.
-- HMAC and HKDF are written here on the built-in sha256(): no extension to
-- install (an existing pgcrypto in another schema would otherwise clash).
--
-- Rotation adds a version; secrets are never overwritten. A run's key comes
-- from the newest version active at the time in its run id (a ULID, stamped
-- by the client before the run exists: the runtime asks for the key before
-- run_created), else from the oldest version. The choice depends only on
-- (app, run id) and versions that only ever get added, so a run keeps its key
-- for its whole life. A rotated version activates a minute after the
-- rotation, so a client clock running slightly ahead of the database's cannot
-- have used the old version for an id the new one would then claim.
--
-- Privilege classes (tenant_policies):
-- API:      workflow.get_encryption_key(text, text)
-- SERVICE:  workflow.provision_encryption_secret(text), workflow.rotate_encryption_secret(text),
--           workflow.encryption_secret_status(text)
-- KEYS:     workflow.keys_add_secret(text, boolean) (pgw_service), workflow.keys_versions(text) (pgw_service),
--           workflow.keys_derive(text, text) (pgw_api): SECURITY DEFINER owned by pgw_keys
-- INTERNAL: workflow.hmac_sha256(bytea, bytea), workflow.hkdf_sha256(bytea, bytea, bytea, integer),
--           workflow.ulid_time(text)
BEGIN;

-- The role is cluster-wide (like pgw_api): several databases may share it and deploy at once.
DO $$
BEGIN
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgw_keys') THEN
      CREATE ROLE pgw_keys NOLOGIN;
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
  END;
  BEGIN
    -- The deployer must be a member to hand functions to pgw_keys.
    IF NOT pg_has_role(current_user, 'pgw_keys', 'MEMBER') THEN
      EXECUTE format('GRANT pgw_keys TO %I', current_user);
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
  END;
END $$;
COMMENT ON ROLE pgw_keys IS
  'pg-workflow: the only role that reads the apps'' encryption secrets (workflow.app_encryption_secrets); owns the '
  'functions that add secrets and derive run keys.';
GRANT USAGE ON SCHEMA workflow TO pgw_keys;

-- Crypto helpers (pure functions of their arguments) -----------------------

CREATE FUNCTION workflow.hmac_sha256(p_key bytea, p_message bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  k bytea := p_key;
  ipad bytea;
  opad bytea;
BEGIN
  -- RFC 2104 with SHA-256 (block size 64): a longer key is hashed first, the
  -- key is zero-padded to the block, and the pads are key XOR 0x36 / 0x5c.
  IF length(k) > 64 THEN
    k := sha256(k);
  END IF;
  k := k || decode(repeat('00', 64 - length(k)), 'hex');
  ipad := k;
  opad := k;
  FOR i IN 0 .. 63 LOOP
    ipad := set_byte(ipad, i, get_byte(k, i) # 54);
    opad := set_byte(opad, i, get_byte(k, i) # 92);
  END LOOP;
  RETURN sha256(opad || sha256(ipad || p_message));
END $$;
COMMENT ON FUNCTION workflow.hmac_sha256(bytea, bytea) IS 'HMAC-SHA256 (RFC 2104) of a message under a key.';

CREATE FUNCTION workflow.hkdf_sha256(p_ikm bytea, p_salt bytea, p_info bytea, p_length integer) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  prk bytea;
  t bytea := '';
  okm bytea := '';
BEGIN
  IF p_ikm IS NULL OR p_length IS NULL OR p_length < 1 OR p_length > 255 * 32 THEN
    RAISE EXCEPTION 'hkdf_sha256: key material required and length must be 1..8160';
  END IF;
  -- Extract: PRK = HMAC(salt, IKM); an absent salt is HashLen zero bytes.
  prk := workflow.hmac_sha256(coalesce(nullif(p_salt, ''::bytea), decode(repeat('00', 32), 'hex')), p_ikm);
  -- Expand: T(i) = HMAC(PRK, T(i-1) || info || i), OKM = the first L bytes of T(1) || T(2) ...
  FOR i IN 1 .. (p_length + 31) / 32 LOOP
    t := workflow.hmac_sha256(prk, t || coalesce(p_info, ''::bytea) || set_byte('\x00'::bytea, 0, i));
    okm := okm || t;
  END LOOP;
  RETURN substring(okm FROM 1 FOR p_length);
END $$;
COMMENT ON FUNCTION workflow.hkdf_sha256(bytea, bytea, bytea, integer) IS
  'HKDF-SHA256 (RFC 5869) extract and expand: p_length bytes of output key material from ikm, salt and info.';

CREATE FUNCTION workflow.ulid_time(p_ulid text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  alphabet CONSTANT text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  ms bigint := 0;
BEGIN
  IF p_ulid !~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$' THEN
    RAISE EXCEPTION 'ulid_time: not a ULID: %', p_ulid;
  END IF;
  -- The first 10 characters are the 48-bit millisecond time, Crockford base32.
  FOR i IN 1 .. 10 LOOP
    ms := ms * 32 + position(substr(p_ulid, i, 1) IN alphabet) - 1;
  END LOOP;
  RETURN to_timestamp(ms / 1000.0);
END $$;
COMMENT ON FUNCTION workflow.ulid_time(text) IS 'The time stamped in a ULID (its first 10 characters), to the millisecond.';

-- The secrets ----------------------------------------------------------------

CREATE TABLE workflow.app_encryption_secrets (
  app_id       text NOT NULL REFERENCES workflow.apps (app_id) ON DELETE CASCADE,
  version      integer NOT NULL CHECK (version >= 1),
  secret       bytea NOT NULL CHECK (length(secret) = 32),
  activates_at timestamptz NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, version)
);
COMMENT ON TABLE workflow.app_encryption_secrets IS
  'Per-app secrets from which run encryption keys are derived (HKDF-SHA256). Readable only by pgw_keys: no grant '
  'to tenants, analysts, pgw_api or pgw_service, and forced row-level security whose only policy names pgw_keys.';
COMMENT ON COLUMN workflow.app_encryption_secrets.app_id IS 'The app the secret belongs to.';
COMMENT ON COLUMN workflow.app_encryption_secrets.version IS 'Version of the app''s secret, 1 for the first; rotation adds the next.';
COMMENT ON COLUMN workflow.app_encryption_secrets.secret IS '32 random bytes: HKDF input key material. Never returned by any function.';
COMMENT ON COLUMN workflow.app_encryption_secrets.activates_at IS
  'Runs whose id (a ULID) is stamped at or after this time get keys from this version (until a newer one activates).';
COMMENT ON COLUMN workflow.app_encryption_secrets.created_at IS 'When the version was added.';

ALTER TABLE workflow.app_encryption_secrets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY keys_only ON workflow.app_encryption_secrets TO pgw_keys USING (true) WITH CHECK (true);
REVOKE ALL ON workflow.app_encryption_secrets FROM PUBLIC;
GRANT SELECT, INSERT ON workflow.app_encryption_secrets TO pgw_keys;

-- pgw_keys' functions ----------------------------------------------------------

CREATE FUNCTION workflow.keys_add_secret(p_app_id text, p_rotate boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_newest workflow.app_encryption_secrets;
  v_row workflow.app_encryption_secrets;
BEGIN
  -- Callers hold the app's row lock (admin_app(p_app_id, true)): versions are numbered one at a time.
  SELECT * INTO v_newest FROM workflow.app_encryption_secrets
   WHERE app_id = p_app_id ORDER BY version DESC LIMIT 1;
  IF FOUND AND NOT p_rotate THEN
    RETURN jsonb_build_object('created', false, 'version', v_newest.version,
                              'activatesAt', workflow.iso(v_newest.activates_at),
                              'createdAt', workflow.iso(v_newest.created_at));
  END IF;
  -- 32 bytes from the server's strong random source: gen_random_uuid() draws
  -- 122 random bits from it per call; three calls hashed give the 256 bits.
  INSERT INTO workflow.app_encryption_secrets (app_id, version, secret, activates_at)
  VALUES (p_app_id, coalesce(v_newest.version, 0) + 1,
          sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
          CASE WHEN v_newest.version IS NULL THEN now() ELSE now() + interval '1 minute' END)
  RETURNING * INTO v_row;
  RETURN jsonb_build_object('created', true, 'version', v_row.version,
                            'activatesAt', workflow.iso(v_row.activates_at), 'createdAt', workflow.iso(v_row.created_at));
END $$;
COMMENT ON FUNCTION workflow.keys_add_secret(text, boolean) IS
  'pgw_keys: adds a random secret version for an app (the first, or with p_rotate the next, active a minute later) '
  'or, without p_rotate, answers the newest one. Returns {created, version, activatesAt, createdAt}, never the secret.';

CREATE FUNCTION workflow.keys_versions(p_app_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('version', s.version, 'activatesAt', workflow.iso(s.activates_at),
                                               'createdAt', workflow.iso(s.created_at)) ORDER BY s.version), '[]')
    FROM workflow.app_encryption_secrets s WHERE s.app_id = p_app_id
$$;
COMMENT ON FUNCTION workflow.keys_versions(text) IS
  'pgw_keys: an app''s secret versions [{version, activatesAt, createdAt}] (never the secrets), oldest first.';

CREATE FUNCTION workflow.keys_derive(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_secret workflow.app_encryption_secrets;
  v_stamp timestamptz := workflow.ulid_time(substr(p_run_id, 6));
BEGIN
  -- Only for the request's own app, whatever the caller passes.
  IF p_app_id IS DISTINCT FROM workflow.current_app_id() THEN
    PERFORM workflow.refuse('PW403', 'WF_FORBIDDEN', format('this request does not act for app %s', p_app_id));
  END IF;
  SELECT * INTO v_secret FROM workflow.app_encryption_secrets
   WHERE app_id = p_app_id
   ORDER BY activates_at <= v_stamp DESC,                                      -- active at the run's stamp first,
            CASE WHEN activates_at <= v_stamp THEN version END DESC NULLS LAST, -- the newest of those,
            version                                                             -- else the oldest
   LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN jsonb_build_object(
    'key', encode(workflow.hkdf_sha256(v_secret.secret, convert_to(p_run_id, 'UTF8'),
                                       convert_to('workflow-encryption', 'UTF8'), 32), 'base64'),
    'keyVersion', v_secret.version);
END $$;
COMMENT ON FUNCTION workflow.keys_derive(text, text) IS
  'pgw_keys: the run''s AES-256 key, HKDF-SHA256(secret, salt = run id, info = "workflow-encryption", 32 bytes), '
  'base64, with the secret version it came from: {key, keyVersion}; NULL when the app has no secret. Only for the '
  'request''s app (403 otherwise).';

-- The API and admin functions ---------------------------------------------------

CREATE FUNCTION workflow.get_encryption_key(p_app_id text, p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_key jsonb;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  -- The runtime asks before the run exists (start() encrypts the input of
  -- run_created), so the run need not exist yet; its id must be a run id,
  -- whose ULID time picks the secret version.
  IF p_run_id IS NULL OR p_run_id !~ '^wrun_[0-7][0-9A-HJKMNP-TV-Z]{25}$' THEN
    PERFORM workflow.refuse('PW400', 'WF_BAD_REQUEST', 'runId must be wrun_ followed by a ULID',
                            jsonb_build_object('field', 'runId'));
  END IF;
  v_key := workflow.keys_derive(p_app_id, p_run_id);
  IF v_key IS NULL THEN
    PERFORM workflow.refuse('PW404', 'WF_NO_ENCRYPTION_SECRET',
      format('app %s has no encryption secret: its runs are not encrypted', p_app_id),
      jsonb_build_object('appId', p_app_id));
  END IF;
  RETURN jsonb_build_object('runId', p_run_id) || v_key;
END $$;
COMMENT ON FUNCTION workflow.get_encryption_key(text, text) IS
  'API: the AES-256 key of one of the request app''s runs (existing or about to be created): {runId, key (base64, '
  '32 bytes), keyVersion}. 400 when runId is not wrun_<ULID>; 404 WF_NO_ENCRYPTION_SECRET when the app has no '
  'secret (the World then answers undefined and the runtime does not encrypt).';

CREATE FUNCTION workflow.provision_encryption_secret(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.admin_app(p_app_id, true);
  RETURN jsonb_build_object('appId', p_app_id) || workflow.keys_add_secret(p_app_id, false);
END $$;
COMMENT ON FUNCTION workflow.provision_encryption_secret(text) IS
  'Admin: gives an app its first encryption secret (random, generated in the database); idempotent. '
  '{appId, created, version, activatesAt, createdAt}; 404 unknown app.';

CREATE FUNCTION workflow.rotate_encryption_secret(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM workflow.admin_app(p_app_id, true);
  RETURN jsonb_build_object('appId', p_app_id) || workflow.keys_add_secret(p_app_id, true);
END $$;
COMMENT ON FUNCTION workflow.rotate_encryption_secret(text) IS
  'Admin: adds a new random secret version (the first if there is none); runs stamped from a minute on use it, '
  'earlier runs keep their keys. {appId, created, version, activatesAt, createdAt}; 404 unknown app.';

CREATE FUNCTION workflow.encryption_secret_status(p_app_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_versions jsonb;
BEGIN
  PERFORM workflow.admin_app(p_app_id);
  v_versions := workflow.keys_versions(p_app_id);
  IF jsonb_array_length(v_versions) = 0 THEN
    PERFORM workflow.refuse('PW404', 'WF_NO_ENCRYPTION_SECRET', format('app %s has no encryption secret', p_app_id),
                            jsonb_build_object('appId', p_app_id));
  END IF;
  RETURN jsonb_build_object('appId', p_app_id, 'versions', v_versions);
END $$;
COMMENT ON FUNCTION workflow.encryption_secret_status(text) IS
  'Admin: an app''s secret versions {appId, versions: [{version, activatesAt, createdAt}]} (never the secrets); '
  '404 unknown app or no secret.';

-- Classification --------------------------------------------------------------

SELECT workflow.expose_internal(f::regprocedure) FROM unnest(ARRAY[
  'workflow.hmac_sha256(bytea, bytea)',
  'workflow.hkdf_sha256(bytea, bytea, bytea, integer)',
  'workflow.ulid_time(text)']) f;
GRANT EXECUTE ON FUNCTION workflow.hmac_sha256(bytea, bytea), workflow.hkdf_sha256(bytea, bytea, bytea, integer),
                          workflow.ulid_time(text), workflow.iso(timestamptz), workflow.current_app_id(),
                          workflow.refuse(text, text, text, jsonb)
  TO pgw_keys;

DO $$
DECLARE
  f regprocedure;
BEGIN
  FOREACH f IN ARRAY ARRAY['workflow.keys_add_secret(text, boolean)'::regprocedure,
                           'workflow.keys_versions(text)'::regprocedure,
                           'workflow.keys_derive(text, text)'::regprocedure] LOOP
    PERFORM workflow.set_function_owner(f, 'pgw_keys');
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, workflow, pg_temp', f);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, pgw_tenant, pgw_api, pgw_service', f);
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION workflow.keys_add_secret(text, boolean), workflow.keys_versions(text) TO pgw_service;
GRANT EXECUTE ON FUNCTION workflow.keys_derive(text, text) TO pgw_api;

SELECT workflow.expose_api('workflow.get_encryption_key(text, text)');
SELECT workflow.expose_service(f::regprocedure) FROM unnest(ARRAY[
  'workflow.provision_encryption_secret(text)',
  'workflow.rotate_encryption_secret(text)',
  'workflow.encryption_secret_status(text)']) f;

COMMIT;
