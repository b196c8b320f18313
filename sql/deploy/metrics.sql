-- Deploy pg-workflow:metrics
-- What /metrics reads from the database, cheaply enough to run on every scrape:
-- counts over partial indexes (index-only scans, never a full scan of a hot
-- table) and a sequence that counts dead-lettering as it happens.
--
-- SERVICE:  workflow.metrics_snapshot()
-- INTERNAL: workflow.count_dead_letter() (trigger function)
-- The sequence is usable by pgw_api and pgw_service: the trigger runs with the
-- rights of whoever dead-letters (enqueue as pgw_api, claims and acks as pgw_service).
BEGIN;

CREATE SEQUENCE workflow.dead_lettered_count AS bigint;
COMMENT ON SEQUENCE workflow.dead_lettered_count IS
  'Counts messages that became dead letters (wf_messages_dead_lettered_total). Sequences are not transactional, '
  'so a rolled-back dead-lettering still counts: a rare, harmless over-count.';

CREATE FUNCTION workflow.count_dead_letter() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextval('workflow.dead_lettered_count');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION workflow.count_dead_letter() IS
  'Trigger: counts one dead letter in workflow.dead_lettered_count.';
SELECT workflow.expose_internal('workflow.count_dead_letter()');
GRANT USAGE, SELECT ON SEQUENCE workflow.dead_lettered_count TO pgw_api, pgw_service;

-- WHEN clauses keep the common updates free: the function runs only on the way into ''dead''.
CREATE TRIGGER messages_count_dead_insert AFTER INSERT ON workflow.messages
  FOR EACH ROW WHEN (NEW.status = 'dead') EXECUTE FUNCTION workflow.count_dead_letter();
CREATE TRIGGER messages_count_dead_update AFTER UPDATE OF status ON workflow.messages
  FOR EACH ROW WHEN (NEW.status = 'dead' AND OLD.status <> 'dead') EXECUTE FUNCTION workflow.count_dead_letter();

CREATE FUNCTION workflow.metrics_snapshot() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    -- the quotas' per-app counters (one narrow row per app) instead of counting runs
    'activeRuns', (SELECT coalesce(sum(active_runs), 0) FROM workflow.app_usage),
    -- each count's predicate is exactly a partial index's: messages_next, messages_held, messages_dead
    'queueWaiting', (SELECT count(*) FROM workflow.messages WHERE next_at IS NOT NULL),
    'queueHeld', (SELECT count(*) FROM workflow.messages WHERE status = 'held'),
    'deadLetters', (SELECT count(*) FROM workflow.messages WHERE status = 'dead'),
    -- the first entry of messages_next: how overdue the most overdue message (or expired lease) is
    'queueLagSeconds', (SELECT coalesce(greatest(extract(epoch FROM clock_timestamp() - min(next_at)), 0), 0)
                          FROM workflow.messages WHERE next_at IS NOT NULL),
    'deadLetteredTotal', (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                            FROM workflow.dead_lettered_count))
$$;
COMMENT ON FUNCTION workflow.metrics_snapshot() IS
  'Operational gauges for /metrics across all apps: active runs (pending or running), queue depth (queued or '
  'claimed = queueWaiting, held = queueHeld), current dead letters, queue lag in seconds, and the number of '
  'messages ever dead-lettered. Index-only counts and the per-app active-runs counters (workflow.app_usage); the '
  'service caches the answer for a few seconds.';
SELECT workflow.expose_service('workflow.metrics_snapshot()');

COMMIT;
