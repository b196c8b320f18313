-- Deploy pg-workflow:inline_formatters
-- workflow.iso and workflow.epoch_ms format every time the API answers (several
-- per event result, and per event of a run_started log). They were declared
-- IMMUTABLE, but their bodies are STABLE (to_char(timestamp, text) and
-- extract(epoch FROM timestamptz) are): PostgreSQL never inlines a function
-- whose body is more volatile than its declaration, so each use was a separate
-- SQL-function call. Declared STABLE, which is what they are, they are inlined
-- into the calling statements: create_event's own time fell by about a third
-- (bench/RESULTS.md). Neither is used in an index, constraint or generated column.
--
-- API: none. SERVICE: none.
-- INTERNAL: workflow.iso(timestamptz), workflow.epoch_ms(timestamptz) — volatility only; privileges unchanged.
BEGIN;
ALTER FUNCTION workflow.iso(timestamptz) STABLE;
ALTER FUNCTION workflow.epoch_ms(timestamptz) STABLE;
COMMIT;
