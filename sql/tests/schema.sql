-- pgTAP: schema helpers (ids, times, refusals).
BEGIN;
SELECT plan(7);

SELECT has_schema('workflow');
SELECT matches(workflow.ulid(), '^[0-9A-HJKMNP-TV-Z]{26}$', 'ulid() is 26 Crockford base32 characters');
SELECT isnt(workflow.ulid(), workflow.ulid(), 'ulid() is random');
SELECT is(workflow.ulid_encode(1, 0, 0), '00000000010000000000000000', 'ulid_encode puts the time first');
SELECT ok(workflow.ulid('2020-01-01') < workflow.ulid('2021-01-01'), 'ULIDs sort by time');
SELECT is(workflow.iso('2026-01-02 03:04:05.678+00'), '2026-01-02T03:04:05.678Z', 'iso() is UTC with milliseconds');
SELECT throws_ok($$ SELECT workflow.refuse('PW409', 'WF_X', 'nope') $$, 'PW409', 'nope', 'refuse() raises its SQLSTATE');

SELECT * FROM finish();
ROLLBACK;
