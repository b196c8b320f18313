-- pgTAP: change claim_snapshot_plans — run_snapshot_bytes is PL/pgSQL (planned
-- once per connection) with the same result; the enqueue trigger counts a
-- backend's first and later messages and still refuses past maxQueuedBytes.
BEGIN;
SELECT plan(7);

SELECT is((SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'workflow.run_snapshot_bytes(text, text)'::regprocedure), 'plpgsql',
          'run_snapshot_bytes is PL/pgSQL');

SELECT workflow.ensure_app('csp_a');
SELECT set_config('workflow.app_id', 'csp_a', true);
SELECT workflow.create_event('csp_a', NULL, 'run_created', NULL,
         jsonb_build_object('deploymentId', 'v1', 'workflowName', 'w', 'input', repeat('i', 5000)), 3)::jsonb
         #>> '{run,runId}' AS run \gset csp_
SELECT workflow.create_event('csp_a', :'csp_run', 'run_started', NULL, NULL, 3) IS NOT NULL;
SELECT is(workflow.run_snapshot_bytes('csp_a', :'csp_run'),
          (SELECT sum(octet_length(e.event_json)) FROM workflow.events e
            WHERE e.app_id = 'csp_a' AND e.run_id = :'csp_run')
          + (SELECT coalesce(pg_column_size(r.input), 0) + coalesce(pg_column_size(r.output), 0)
                    + coalesce(pg_column_size(r.error), 0) + coalesce(pg_column_size(r.execution_context), 0)
               FROM workflow.runs r WHERE r.app_id = 'csp_a' AND r.run_id = :'csp_run') + 1024,
          'it is the log''s bytes plus the run''s stored fields plus 1 KiB');
SELECT is(workflow.run_snapshot_bytes('csp_a', 'wrun_none'), 1024::bigint, 'an unknown run has only the 1 KiB');

-- Counting: this backend has no counter row for the app yet, then has one.
SELECT is((SELECT count(*) FROM workflow.app_byte_usage WHERE app_id = 'csp_a' AND backend_pid = pg_backend_pid()),
          0::bigint, 'no counter row before the first message');
SELECT workflow.enqueue('csp_a', '__wkf_step_s', jsonb_build_object('workflowRunId', 'r1', 'pad', repeat('x', 100)));
SELECT workflow.enqueue('csp_a', '__wkf_step_s', jsonb_build_object('workflowRunId', 'r2', 'pad', repeat('x', 200)));
SELECT is((SELECT t.queued_bytes FROM workflow.app_bytes('csp_a') t),
          (SELECT sum(payload_bytes)::bigint FROM workflow.messages WHERE app_id = 'csp_a'),
          'the first message (new row) and the next (update) are both counted');
-- Another backend's row counts towards the total the check sees.
INSERT INTO workflow.app_byte_usage (app_id, backend_pid, queued_bytes, stream_bytes) VALUES ('csp_a', -1, 5000, 0);
SELECT workflow.set_quotas('csp_a', format('{"maxQueuedBytes": %s}',
         (SELECT t.queued_bytes FROM workflow.app_bytes('csp_a') t) + 50)::jsonb);
SELECT throws_ok($$ SELECT workflow.enqueue('csp_a', '__wkf_step_s',
                      jsonb_build_object('workflowRunId', 'r3', 'pad', repeat('x', 100))) $$,
                 'PW429', NULL, 'past maxQueuedBytes (other backends'' rows included) the enqueue is refused');
SELECT lives_ok($$ SELECT workflow.enqueue('csp_a', '__wkf_step_s', '{"workflowRunId": "r4"}') $$,
                'a message that still fits passes');

SELECT * FROM finish();
ROLLBACK;
