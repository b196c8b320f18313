-- pgTAP: every table, view and column people can query is documented
-- (SPEC §10). Lists what lacks a COMMENT, so a new undocumented object fails
-- with its name.
BEGIN;
SELECT plan(3);

SELECT is(
  (SELECT array_agg(n.nspname || '.' || c.relname ORDER BY 1) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('workflow', 'workflow_analytics') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND obj_description(c.oid, 'pg_class') IS NULL),
  NULL, 'every table and view of workflow and workflow_analytics has a COMMENT');

SELECT is(
  (SELECT array_agg(n.nspname || '.' || c.relname || '.' || a.attname ORDER BY 1) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname IN ('workflow', 'workflow_analytics') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND col_description(c.oid, a.attnum) IS NULL),
  NULL, 'every column of every table and view of workflow and workflow_analytics has a COMMENT');

SELECT is(
  (SELECT array_agg(n.nspname ORDER BY 1) FROM pg_namespace n
    WHERE n.nspname IN ('workflow', 'workflow_analytics') AND obj_description(n.oid, 'pg_namespace') IS NULL),
  NULL, 'both schemas have a COMMENT');

SELECT * FROM finish();
ROLLBACK;
