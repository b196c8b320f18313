-- Revert pg-workflow:analytics_attributes
BEGIN;

DROP VIEW workflow_analytics.runs;
-- As analytics defined it.
CREATE VIEW workflow_analytics.runs WITH (security_invoker = true) AS
SELECT r.app_id, r.run_id, r.workflow_name, r.deployment_id, r.status,
       r.status IN ('completed', 'failed', 'cancelled') AS finished,
       r.error ->> 'message' AS error_message, r.error ->> 'code' AS error_code,
       r.created_at, r.started_at, r.completed_at, r.updated_at, r.expired_at,
       extract(epoch FROM r.completed_at - r.created_at)::double precision AS duration_seconds,
       r.spec_version
  FROM workflow.runs r;
COMMENT ON VIEW workflow_analytics.runs IS 'One row per workflow run, without input or output.';
COMMENT ON COLUMN workflow_analytics.runs.app_id IS 'The app the run belongs to.';
COMMENT ON COLUMN workflow_analytics.runs.run_id IS 'Run id (wrun_…).';
COMMENT ON COLUMN workflow_analytics.runs.workflow_name IS 'Machine name of the workflow function.';
COMMENT ON COLUMN workflow_analytics.runs.deployment_id IS 'Deployment version of the run.';
COMMENT ON COLUMN workflow_analytics.runs.status IS 'pending | running | completed | failed | cancelled.';
COMMENT ON COLUMN workflow_analytics.runs.finished IS 'True once the run is completed, failed or cancelled.';
COMMENT ON COLUMN workflow_analytics.runs.error_message IS 'Error message of a failed run.';
COMMENT ON COLUMN workflow_analytics.runs.error_code IS 'Error code of a failed run (the runtime''s errorCode), if any.';
COMMENT ON COLUMN workflow_analytics.runs.created_at IS 'When the run was created.';
COMMENT ON COLUMN workflow_analytics.runs.started_at IS 'First run_started.';
COMMENT ON COLUMN workflow_analytics.runs.completed_at IS 'When the run finished.';
COMMENT ON COLUMN workflow_analytics.runs.updated_at IS 'Last change.';
COMMENT ON COLUMN workflow_analytics.runs.expired_at IS 'When the run was expired with its version.';
COMMENT ON COLUMN workflow_analytics.runs.duration_seconds IS 'created_at → completed_at in seconds; NULL while unfinished.';
COMMENT ON COLUMN workflow_analytics.runs.spec_version IS 'DevKit spec version.';
GRANT SELECT ON workflow_analytics.runs TO pgw_analyst;
REVOKE SELECT (attributes, error_code) ON workflow.runs FROM pgw_analyst;
COMMENT ON COLUMN workflow_analytics.events.event_id IS 'Public event id (wevt_…).';

COMMIT;
