"""docs/operations.md's Citus section is checked against the deployed schema:
every table is classified, every unique key that lacks app_id (which Citus
cannot enforce on a table distributed by app_id) is named with its change, and
every sequence-backed column is discussed."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
REFERENCE_TABLES = {"apps", "analyst_apps", "dispatcher_sessions", "stream_notify_secret"}


def citus_section() -> str:
    return DOC.read_text().split("## Beyond one PostgreSQL", 1)[1]


def classified_tables() -> dict[str, str]:
    """table -> its Citus kind, from the section's table."""
    rows = re.findall(r"^\| `workflow\.([a-z0-9_]+)` \| ([a-z ]+?)(?: by `app_id`)? \|", citus_section(), flags=re.M)
    return dict(rows)


def test_every_table_is_classified(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'workflow'::regnamespace AND relkind IN ('r', 'p')")}
    classified = classified_tables()
    assert set(classified) == tables
    assert {t for t, kind in classified.items() if kind == "reference"} == REFERENCE_TABLES
    assert {kind for t, kind in classified.items() if t not in REFERENCE_TABLES} == {"distributed"}


def test_unique_keys_without_app_id_are_named_with_their_change(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        keys = conn.execute(
            """SELECT c.relname, i.relname, bool_or(a.attname = 'app_id')
                 FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class c ON c.oid = x.indrelid
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (x.indkey)
                WHERE c.relnamespace = 'workflow'::regnamespace AND x.indisunique
                GROUP BY c.relname, i.relname""").fetchall()
    section = citus_section()
    must_change = section.split("**Keys that must change.**", 1)[1].split("Every other primary key", 1)[0]
    already_fine = section.split("Every other primary key", 1)[1].split("**Sequences", 1)[0]
    for table, index, has_app_id in keys:
        if table in REFERENCE_TABLES:
            continue
        if has_app_id:
            assert f"`{index}`" in already_fine, f"{table}.{index} leads with app_id: list it as fine"
        else:
            assert re.search(rf"`{index}` — ", must_change), f"{table}.{index} lacks app_id: say how it changes"


def test_every_sequence_backed_column_is_discussed(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        columns = {r[0] for r in conn.execute(
            """SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                WHERE c.relnamespace = 'workflow'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
                  AND (a.attidentity <> '' OR pg_get_serial_sequence(c.oid::regclass::text, a.attname) IS NOT NULL)""")}
    sequences = citus_section().split("**Sequences and identity columns.**", 1)[1].split("**Row-level", 1)[0]
    assert columns
    for column in columns:
        assert f"`{column}`" in sequences, f"{column} is generated from a sequence: discuss it"
