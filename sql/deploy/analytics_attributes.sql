-- Deploy pg-workflow:analytics_attributes
-- Analysts filter DevKit 5 runs by their attributes: workflow_analytics.runs
-- gains attributes (jsonb) and the reserved $rootRunId / $parentRunId of child
-- runs as columns; error_code also reads runs.error_code (spec >= 6 runs keep
-- the runtime's errorCode beside error bytes, which have no message).
--
-- API: none. SERVICE: none. INTERNAL: none (one view replaced, column grants).
BEGIN;

GRANT SELECT (attributes, error_code) ON workflow.runs TO pgw_analyst;

CREATE OR REPLACE VIEW workflow_analytics.runs WITH (security_invoker = true) AS
SELECT r.app_id, r.run_id, r.workflow_name, r.deployment_id, r.status,
       r.status IN ('completed', 'failed', 'cancelled') AS finished,
       r.error ->> 'message' AS error_message, coalesce(r.error_code, r.error ->> 'code') AS error_code,
       r.created_at, r.started_at, r.completed_at, r.updated_at, r.expired_at,
       extract(epoch FROM r.completed_at - r.created_at)::double precision AS duration_seconds,
       r.spec_version,
       r.attributes,
       r.attributes ->> '$rootRunId' AS root_run_id,
       r.attributes ->> '$parentRunId' AS parent_run_id
  FROM workflow.runs r;
COMMENT ON COLUMN workflow_analytics.runs.error_message IS
  'Error message of a failed spec <= 3 run (spec >= 6 runs store the error as serialised bytes: NULL here).';
COMMENT ON COLUMN workflow_analytics.runs.error_code IS
  'Error code of a failed run (the runtime''s errorCode, e.g. USER_ERROR), if any.';
COMMENT ON COLUMN workflow_analytics.runs.attributes IS
  'Plaintext string attributes of a spec >= 6 run (setAttributes / attr_set), e.g. WHERE attributes ->> ''tenant'' = ''acme'' '
  'or WHERE attributes @> ''{"tenant": "acme"}''; NULL for older runs.';
COMMENT ON COLUMN workflow_analytics.runs.root_run_id IS 'The $rootRunId attribute: the top run of a tree of child runs.';
COMMENT ON COLUMN workflow_analytics.runs.parent_run_id IS 'The $parentRunId attribute: the run that started this child run.';
COMMENT ON COLUMN workflow_analytics.events.event_id IS
  'Public event id, unique within its run: wevt_… (spec <= 3 runs) or evnt_ + the position (spec >= 6 runs).';

COMMIT;
