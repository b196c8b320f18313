-- Revert pg-workflow:run_encryption
-- The role pgw_keys stays (cluster-wide: other databases of the cluster may use it).
BEGIN;
DROP FUNCTION workflow.get_encryption_key(text, text);
DROP FUNCTION workflow.provision_encryption_secret(text);
DROP FUNCTION workflow.rotate_encryption_secret(text);
DROP FUNCTION workflow.encryption_secret_status(text);
DROP FUNCTION workflow.keys_add_secret(text, boolean);
DROP FUNCTION workflow.keys_versions(text);
DROP FUNCTION workflow.keys_derive(text, text);
DROP TABLE workflow.app_encryption_secrets;
REVOKE EXECUTE ON FUNCTION workflow.iso(timestamptz), workflow.current_app_id(), workflow.refuse(text, text, text, jsonb)
  FROM pgw_keys;
DROP FUNCTION workflow.hmac_sha256(bytea, bytea);
DROP FUNCTION workflow.hkdf_sha256(bytea, bytea, bytea, integer);
DROP FUNCTION workflow.ulid_time(text);
REVOKE USAGE ON SCHEMA workflow FROM pgw_keys;
COMMIT;
