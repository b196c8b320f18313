-- pgTAP: handler URLs cannot aim deliveries anywhere odd, registrations
-- record where they came from, and claims carry that address.
BEGIN;
SELECT plan(20);

SELECT workflow.ensure_app('hp');
SELECT set_config('workflow.app_id', 'hp', true);  -- the request scope API functions require
CREATE FUNCTION pg_temp.problem(url text) RETURNS text LANGUAGE sql AS $$ SELECT workflow.handler_url_problem(url) $$;

-- The URL rule
SELECT is(pg_temp.problem('http://10.0.0.7:3000/.well-known/workflow/v1/flow'), NULL, 'a plain http URL is fine');
SELECT is(pg_temp.problem('https://app.ns.svc.cluster.local/.well-known/workflow/v1/step'), NULL, 'https with a name is fine');
SELECT is(pg_temp.problem('http://[fd00::1]:8080/x'), NULL, 'an IPv6 literal is fine');
SELECT isnt(pg_temp.problem('ftp://h/x'), NULL, 'other schemes are refused');
SELECT isnt(pg_temp.problem('http://user:pw@h/x'), NULL, 'userinfo is refused');
SELECT isnt(pg_temp.problem('http://h@evil/x'), NULL, 'userinfo without password is refused');
SELECT isnt(pg_temp.problem(E'http://h/x\r\nX-Injected: 1'), NULL, 'CR/LF is refused');
SELECT isnt(pg_temp.problem(E'http://h/x\ty'), NULL, 'tabs are refused');
SELECT isnt(pg_temp.problem('http://h/a b'), NULL, 'spaces are refused');
SELECT isnt(pg_temp.problem('http://h\evil/x'), NULL, 'backslashes are refused');
SELECT isnt(pg_temp.problem('http:///x'), NULL, 'a URL without host is refused');
SELECT isnt(pg_temp.problem('http://h/' || repeat('a', 2100)), NULL, 'overlong URLs are refused');

-- Registration applies it (both signatures) and names the endpoint
SELECT throws_ok($$ SELECT workflow.register_handler('hp', 'p', 'v1', 'http://h/f', E'http://h/s\n', NULL, '10.0.0.7') $$,
                 'PW400', 'endpoints.step must be printable ASCII without spaces or control characters',
                 'the refusal names the bad endpoint');
SELECT throws_ok($$ SELECT workflow.register_handler('hp', 'p', 'v1', 'http://u@h/f', 'http://h/s') $$,
                 'PW400', NULL, 'the older signature applies the same rule');

-- The source address is recorded and travels with the claim
SELECT workflow.register_handler('hp', 'pod-1', 'v1', 'http://10.0.0.7/f', 'http://10.0.0.7/s', NULL, 'fe80::1%eth0');
SELECT is((SELECT source_address FROM workflow.handlers WHERE app_id = 'hp' AND pod_id = 'pod-1'), 'fe80::1'::inet,
          'the zone id is dropped');
SELECT workflow.register_handler('hp', 'pod-1', 'v1', 'http://10.0.0.7/f', 'http://10.0.0.7/s', NULL, '10.0.0.7');
SELECT is((SELECT source_address FROM workflow.handlers WHERE app_id = 'hp' AND pod_id = 'pod-1'), '10.0.0.7'::inet,
          're-registering updates the address');
SELECT workflow.enqueue('hp', '__wkf_workflow_w', '{"runId":"wrun_01HZZZZZZZZZZZZZZZZZZZZZZZ"}', 'v1', NULL, NULL);
SELECT is((SELECT workflow.claim_messages(10, 30, 60) -> 'deliveries' -> 0 ->> 'sourceAddress'), '10.0.0.7',
          'claims carry sourceAddress');

-- Privileges: tenants call the API, never the helper or the dispatcher's routing
SELECT ok(has_function_privilege('pgw_tenant', 'workflow.register_handler(text, text, text, text, text, text, text)',
                                 'EXECUTE'), 'tenants may register handlers');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.handler_url_problem(text)', 'EXECUTE'),
          'the URL rule is internal');
SELECT ok(NOT has_function_privilege('pgw_tenant', 'workflow.route_messages(bigint[], numeric, numeric)', 'EXECUTE'),
          'routing stays the service''s');

SELECT * FROM finish();
ROLLBACK;
