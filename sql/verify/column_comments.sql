-- Verify pg-workflow:column_comments
BEGIN;
SELECT 1 / (col_description('workflow.runs'::regclass, a.attnum) IS NOT NULL)::int
  FROM pg_attribute a WHERE a.attrelid = 'workflow.runs'::regclass AND a.attname = 'status';
SELECT 1 / (col_description('workflow.messages'::regclass, a.attnum) IS NOT NULL)::int
  FROM pg_attribute a WHERE a.attrelid = 'workflow.messages'::regclass AND a.attname = 'queue_name';
ROLLBACK;
