-- pgTAP: run encryption (change run_encryption) — HMAC and HKDF against their
-- RFCs, secret provisioning and rotation, run keys, and who may read secrets.
BEGIN;
SELECT plan(33);

-- HMAC-SHA256: RFC 4231 test cases 1, 2 and 6 (a key longer than the block) --------
SELECT is(encode(workflow.hmac_sha256(decode(repeat('0b', 20), 'hex'), convert_to('Hi There', 'UTF8')), 'hex'),
          'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7', 'HMAC-SHA256: RFC 4231 case 1');
SELECT is(encode(workflow.hmac_sha256(convert_to('Jefe', 'UTF8'), convert_to('what do ya want for nothing?', 'UTF8')), 'hex'),
          '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', 'HMAC-SHA256: RFC 4231 case 2');
SELECT is(encode(workflow.hmac_sha256(decode(repeat('aa', 131), 'hex'),
                 convert_to('Test Using Larger Than Block-Size Key - Hash Key First', 'UTF8')), 'hex'),
          '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54', 'HMAC-SHA256: RFC 4231 case 6 (long key)');

-- HKDF-SHA256: RFC 5869 test cases 1 and 3 -------------------------------------------
SELECT is(encode(workflow.hkdf_sha256(decode(repeat('0b', 22), 'hex'), decode('000102030405060708090a0b0c', 'hex'),
                                      decode('f0f1f2f3f4f5f6f7f8f9', 'hex'), 42), 'hex'),
          '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
          'HKDF-SHA256: RFC 5869 test case 1 (42 bytes: two expand blocks)');
SELECT is(encode(workflow.hkdf_sha256(decode(repeat('0b', 22), 'hex'), ''::bytea, ''::bytea, 42), 'hex'),
          '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
          'HKDF-SHA256: RFC 5869 test case 3 (no salt, no info)');
SELECT throws_ok($$ SELECT workflow.hkdf_sha256('\x01'::bytea, NULL, NULL, 8161) $$, NULL, NULL,
                 'HKDF refuses more than 255 blocks');

-- ULID times ---------------------------------------------------------------------------
SELECT is(ARRAY[workflow.ulid_time('0000000001' || repeat('Z', 16)), workflow.ulid_time('7ZZZZZZZZZ' || repeat('0', 16))],
          ARRAY[to_timestamp(0.001), to_timestamp(((2::numeric ^ 48) - 1) / 1000)],
          'ulid_time reads the 48-bit millisecond stamp (smallest and largest)');
SELECT is(workflow.ulid_time(workflow.ulid('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678Z'::timestamptz,
          'ulid_time inverts workflow.ulid');

-- Provision and rotate ------------------------------------------------------------------
SELECT workflow.ensure_app('enc_a'), workflow.ensure_app('enc_b');
SELECT throws_ok($$ SELECT workflow.encryption_secret_status('enc_a') $$, 'PW404', NULL, 'status: no secret yet is 404');
SELECT throws_ok($$ SELECT workflow.provision_encryption_secret('enc_nope') $$, 'PW404', NULL,
                 'provisioning an unknown app is 404');
SELECT is(workflow.provision_encryption_secret('enc_a') - 'activatesAt' - 'createdAt',
          '{"appId":"enc_a","created":true,"version":1}'::jsonb, 'provisioning creates version 1');
SELECT is(workflow.provision_encryption_secret('enc_a') - 'activatesAt' - 'createdAt',
          '{"appId":"enc_a","created":false,"version":1}'::jsonb, 'provisioning again changes nothing');
SELECT ok(NOT (workflow.provision_encryption_secret('enc_a')::text ~* 'secret"'), 'no answer carries the secret');

\set early wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV
SELECT 'wrun_' || workflow.ulid(now() + interval '1 hour') AS later \gset
SELECT set_config('workflow.app_id', 'enc_a', true);
SELECT workflow.get_encryption_key('enc_a', :'later') AS k1 \gset
SELECT is(length(decode(:'k1'::jsonb ->> 'key', 'base64')), 32, 'a run key is 32 bytes');
SELECT is(:'k1'::jsonb - 'key', jsonb_build_object('runId', :'later', 'keyVersion', 1), 'answer: {runId, key, keyVersion}');
SELECT is(workflow.get_encryption_key('enc_a', :'later'), :'k1'::jsonb, 'the same run gets the same key');
SELECT isnt(workflow.get_encryption_key('enc_a', :'early') ->> 'key', :'k1'::jsonb ->> 'key',
            'another run gets another key');
SELECT is(workflow.get_encryption_key('enc_a', :'early') ->> 'keyVersion', '1',
          'a run stamped before the first secret uses the oldest version');
-- The key is HKDF(secret, salt = run id, info = "workflow-encryption", 32) — recomputed here as the superuser.
SELECT is(:'k1'::jsonb ->> 'key',
          (SELECT encode(workflow.hkdf_sha256(secret, convert_to(:'later', 'UTF8'), convert_to('workflow-encryption', 'UTF8'), 32),
                         'base64') FROM workflow.app_encryption_secrets WHERE app_id = 'enc_a' AND version = 1),
          'the key is HKDF-SHA256(secret, salt = runId, info = "workflow-encryption", 32 bytes)');

SELECT is(workflow.rotate_encryption_secret('enc_a') ->> 'version', '2', 'rotation adds version 2');
SELECT ok((SELECT activates_at > now() FROM workflow.app_encryption_secrets WHERE app_id = 'enc_a' AND version = 2),
          'a rotated version activates later (clock skew allowance)');
SELECT is(workflow.get_encryption_key('enc_a', :'early'), workflow.get_encryption_key('enc_a', :'early'),
          'keys are stable');
SELECT is(workflow.get_encryption_key('enc_a', :'later') ->> 'keyVersion', '2',
          'a run stamped after the rotation activates uses the new version');
SELECT isnt(workflow.get_encryption_key('enc_a', :'later') ->> 'key', :'k1'::jsonb ->> 'key', '... and so a new key');
SELECT is(workflow.get_encryption_key('enc_a', 'wrun_' || workflow.ulid(now())) ->> 'keyVersion', '1',
          'a run stamped before the rotation activates keeps version 1');
SELECT is(jsonb_array_length(workflow.encryption_secret_status('enc_a') -> 'versions'), 2, 'status lists both versions');

-- Refusals ---------------------------------------------------------------------------------
SELECT throws_ok($$ SELECT workflow.get_encryption_key('enc_a', 'run-1') $$, 'PW400', NULL, 'a run id that is no wrun_ULID is 400');
SELECT throws_ok(format('SELECT workflow.get_encryption_key(%L, %L)', 'enc_b', :'later'), 'PW403', NULL,
                 'another app''s key is 403');
SELECT set_config('workflow.app_id', 'enc_b', true);
SELECT throws_ok(format('SELECT workflow.get_encryption_key(%L, %L)', 'enc_b', :'later'), 'PW404', NULL,
                 'an app without a secret: 404 (WF_NO_ENCRYPTION_SECRET)');
SELECT throws_ok(format('SELECT workflow.keys_derive(%L, %L)', 'enc_a', :'later'), 'PW403', NULL,
                 'keys_derive itself refuses an app other than the request''s');

-- Who may read the secrets ---------------------------------------------------------------------
SELECT is((SELECT array_agg(r ORDER BY r) FROM unnest(ARRAY['pgw_tenant', 'pgw_api', 'pgw_service', 'pgw_analyst',
                                                            'pgw_analyst_all', 'public']) r
            WHERE has_table_privilege(CASE WHEN r = 'public' THEN 'pgw_tenant' ELSE r END,
                                      'workflow.app_encryption_secrets', 'SELECT')
               OR (r = 'public' AND EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a
                                             WHERE c.oid = 'workflow.app_encryption_secrets'::regclass AND a.grantee = 0))),
          NULL, 'no tenant, analyst, API or service role (nor PUBLIC) may SELECT the secrets');
SET LOCAL ROLE pgw_tenant;
SELECT throws_ok($$ SELECT * FROM workflow.app_encryption_secrets $$, '42501', NULL, 'pgw_tenant: permission denied');
RESET ROLE;
SET LOCAL ROLE pgw_analyst_all;
SELECT throws_ok($$ SELECT * FROM workflow.app_encryption_secrets $$, '42501', NULL, 'pgw_analyst_all: permission denied');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
