-- Verify pg-workflow:queue
BEGIN;
SELECT app_id, deployment_id, created_at, expired_at FROM workflow.deployment_versions WHERE false;
SELECT app_id, pod_id, deployment_version, workflow_url, step_url, webhook_url, registered_at, seen_at,
       refused_since, cooldown_until FROM workflow.handlers WHERE false;
SELECT message_seq, app_id, message_id, queue_name, kind, run_id, deployment_id, idempotency_key, payload, status,
       attempt, failures, due_at, lease_until, pod_id, last_error, created_at, updated_at, delivered_at, dead_at, next_at
  FROM workflow.messages WHERE false;
SELECT app_id, minute, slot, enqueued FROM workflow.queue_rate WHERE false;
SELECT 1 / (count(*) = 4)::int FROM pg_class
 WHERE relrowsecurity AND oid IN ('workflow.deployment_versions'::regclass, 'workflow.handlers'::regclass,
                                  'workflow.messages'::regclass, 'workflow.queue_rate'::regclass);
SELECT 1 / count(*)::int FROM pg_trigger WHERE tgname = 'messages_absorb_pending_wakeup';
SELECT 'workflow.enqueue(text, text, jsonb, text, text, numeric)'::regprocedure,
       'workflow.count_enqueue(workflow.apps, timestamptz)'::regprocedure,
       'workflow.notify_queue(timestamptz)'::regprocedure,
       'workflow.lock_run(text, text)'::regprocedure;
ROLLBACK;
