-- Revert pg-workflow:devkit5_analytics_api
BEGIN;
DROP FUNCTION workflow.analytics_waits(text, text, jsonb);
DROP FUNCTION workflow.analytics_hooks(text, jsonb);
DROP FUNCTION workflow.analytics_events(text, text, jsonb);
DROP FUNCTION workflow.analytics_steps(text, text, jsonb);
DROP FUNCTION workflow.analytics_attributes(text, jsonb);
DROP FUNCTION workflow.analytics_runs(text, jsonb);
DROP FUNCTION workflow.page_info(text);
DROP FUNCTION workflow.analytics_page_info(text, timestamptz);
DROP FUNCTION workflow.analytics_page(jsonb, integer, jsonb);
DROP FUNCTION workflow.analytics_time(jsonb, text);
DROP FUNCTION workflow.analytics_after(jsonb);
DROP FUNCTION workflow.analytics_cursor(timestamptz, text);
DROP FUNCTION workflow.analytics_limit(jsonb, integer);
REVOKE SELECT ON workflow_analytics.runs, workflow_analytics.steps, workflow_analytics.events,
                 workflow_analytics.hooks, workflow_analytics.waits FROM pgw_api;
REVOKE USAGE ON SCHEMA workflow_analytics FROM pgw_api;
COMMIT;
