-- Verify pg-workflow:run_encryption
BEGIN;
SELECT app_id, version, activates_at, created_at FROM workflow.app_encryption_secrets WHERE false;
SELECT 'workflow.get_encryption_key(text, text)'::regprocedure, 'workflow.provision_encryption_secret(text)'::regprocedure,
       'workflow.rotate_encryption_secret(text)'::regprocedure, 'workflow.encryption_secret_status(text)'::regprocedure,
       'workflow.keys_derive(text, text)'::regprocedure, 'workflow.hkdf_sha256(bytea, bytea, bytea, integer)'::regprocedure;
DO $$
BEGIN
  ASSERT NOT has_table_privilege('pgw_tenant', 'workflow.app_encryption_secrets', 'SELECT'), 'pgw_tenant reads secrets';
  ASSERT NOT has_table_privilege('pgw_api', 'workflow.app_encryption_secrets', 'SELECT'), 'pgw_api reads secrets';
  ASSERT NOT has_table_privilege('pgw_service', 'workflow.app_encryption_secrets', 'SELECT'), 'pgw_service reads secrets';
  ASSERT has_function_privilege('pgw_tenant', 'workflow.get_encryption_key(text, text)', 'EXECUTE'),
         'pgw_tenant cannot execute get_encryption_key';
  ASSERT encode(workflow.hkdf_sha256(decode(repeat('0b', 22), 'hex'), decode('000102030405060708090a0b0c', 'hex'),
                                     decode('f0f1f2f3f4f5f6f7f8f9', 'hex'), 42), 'hex')
         = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
         'hkdf_sha256 does not give RFC 5869 test case 1';
END $$;
ROLLBACK;
