-- Verify pg-workflow:event_log
BEGIN;
SELECT app_id, run_id, run_seq, status, deployment_id, workflow_name, spec_version, execution_context, input, output,
       error, created_at, updated_at, started_at, completed_at, expired_at FROM workflow.runs WHERE false;
SELECT app_id, run_id, step_id, step_seq, step_name, status, attempt, input, output, error, retry_after, spec_version,
       created_at, updated_at, started_at, completed_at FROM workflow.steps WHERE false;
SELECT event_seq, app_id, run_id, run_ordinal, event_id, event_type, correlation_id, event_data, spec_version, created_at, event_json FROM workflow.events WHERE false;
SELECT app_id, run_id, hook_id, hook_seq, token, metadata, is_webhook, spec_version, created_at, disposed_at FROM workflow.hooks WHERE false;
SELECT app_id, run_id, wait_id, status, resume_at, spec_version, created_at, updated_at, completed_at FROM workflow.waits WHERE false;
SELECT 1 / count(*)::int / (count(*) = 5)::int FROM pg_class
 WHERE relrowsecurity AND oid IN ('workflow.runs'::regclass, 'workflow.steps'::regclass, 'workflow.events'::regclass,
                                  'workflow.hooks'::regclass, 'workflow.waits'::regclass);
ROLLBACK;
