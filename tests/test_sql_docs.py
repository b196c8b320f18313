"""docs/sql.md: the access recipe and every one of the ten example queries run
against known data, as an analyst role, with their answers checked."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "sql.md"
UTC = dt.UTC


def doc_questions() -> list[tuple[int, str, str]]:
    """(number, question, sql) for each '### N. question' section of the doc."""
    text = DOC.read_text()
    sections = re.findall(r"^### (\d+)\. (.+?)\n(.*?)(?=^### |\Z)", text, flags=re.S | re.M)
    out = []
    for number, question, body in sections:
        blocks = re.findall(r"```sql\n(.*?)```", body, flags=re.S)
        assert len(blocks) == 1, f"question {number} must have exactly one sql block"
        out.append((int(number), question, blocks[0]))
    return out


def access_recipe() -> str:
    section = DOC.read_text().split("## Access", 1)[1].split("## Ten questions", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_doc_has_ten_numbered_questions() -> None:
    assert [n for n, _, _ in doc_questions()] == list(range(1, 11))


# Known data. Days are anchored at noon UTC so per-day answers never depend on
# the time of day the test runs; "right now" things use the database's now().
MIDNIGHT = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def noon(days_ago: int) -> dt.datetime:
    return MIDNIGHT - dt.timedelta(days=days_ago) + dt.timedelta(hours=12)


def s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


# run id -> (workflow, deployment, status, created, duration seconds or None, error message)
RUNS = {
    "wrun_o1": ("order", "v1", "completed", noon(2), 10, None),
    "wrun_o2": ("order", "v1", "completed", noon(2), 20, None),
    "wrun_o3": ("order", "v1", "failed", noon(1), 30, "card declined"),
    "wrun_o4": ("order", "v1", "completed", noon(1), 40, None),
    "wrun_o6": ("order", "v1", "failed", noon(10), 5, "timeout"),
    "wrun_g1": ("signup", "v1", "completed", noon(1), 2, None),
    "wrun_g2": ("signup", "v1", "failed", noon(1), 4, "card declined"),
}
# step -> (run, name, status, attempts, wait seconds (created → started), failure events)
STEPS = {
    "step_1": ("wrun_o1", "charge", "completed", 1, 1, []),
    "step_2": ("wrun_o2", "charge", "completed", 3, 1, ["step_retrying", "step_retrying"]),
    "step_3": ("wrun_o3", "charge", "failed", 2, 1, ["step_retrying", "step_failed"]),
    "step_4": ("wrun_o4", "charge", "completed", 1, 1, []),
    "step_5": ("wrun_o4", "ship", "completed", 1, 2, []),
    "step_6": ("wrun_o6", "charge", "failed", 1, 1, ["step_failed"]),
    "step_7": ("wrun_g2", "send_email", "failed", 1, 1, ["step_failed"]),
}


class Loader:
    def __init__(self, conn: psycopg.Connection, app: str) -> None:
        self.conn, self.app, self.ordinal = conn, app, {}

    def event(self, run: str, kind: str, at: dt.datetime | str, correlation: str | None = None) -> None:
        self.ordinal[run] = self.ordinal.get(run, 0) + 1
        at_sql = "now() - %(ago)s::interval" if isinstance(at, str) else "%(at)s"
        self.conn.execute(
            "INSERT INTO workflow.events (app_id, run_id, run_ordinal, event_id, event_type, correlation_id,"
            f" created_at, event_json) VALUES (%(app)s, %(run)s, %(n)s, %(id)s, %(kind)s, %(corr)s, {at_sql}, '{{}}')",
            {"app": self.app, "run": run, "n": self.ordinal[run], "id": f"wevt_{uuid.uuid4().hex}", "kind": kind,
             "corr": correlation, "at": at, "ago": at})

    def run(self, run: str, workflow: str, deployment: str, status: str, created: dt.datetime | str,
            seconds: float | None = None, error: str | None = None) -> None:
        created_sql = "now() - %(ago)s::interval" if isinstance(created, str) else "%(created)s::timestamptz"
        self.conn.execute(
            "INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, error, created_at,"
            f" updated_at, started_at, completed_at) SELECT %(app)s, %(run)s, %(status)s, %(dep)s, %(wf)s,"
            f" %(error)s, c, c, CASE WHEN %(status)s <> 'pending' THEN c END,"
            f" c + make_interval(secs => %(secs)s) FROM (SELECT {created_sql} AS c) t",
            {"app": self.app, "run": run, "status": status, "dep": deployment, "wf": workflow,
             "error": None if error is None else psycopg.types.json.Jsonb({"message": error}),
             "created": created, "ago": created, "secs": seconds})

    def step(self, step: str, run: str, name: str, status: str, attempts: int, created: dt.datetime,
             wait: float) -> None:
        started = created + s(wait)
        self.conn.execute(
            "INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, created_at, updated_at,"
            " started_at, completed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (self.app, run, step, name, status, attempts, created, started, started,
             started + s(1) if status in ("completed", "failed") else None))


def load(conn: psycopg.Connection, app: str, decoy: str) -> None:
    conn.execute("INSERT INTO workflow.apps (app_id) VALUES (%s), (%s)", (app, decoy))
    a = Loader(conn, app)
    for run, (wf, dep, status, created, secs, error) in RUNS.items():
        a.run(run, wf, dep, status, created, secs, error)
        a.event(run, "run_created", created)
    for step, (run, name, status, attempts, wait, failures) in STEPS.items():
        created = RUNS[run][3] + s(0.5)
        a.step(step, run, name, status, attempts, created, wait)
        for kind in failures:
            a.event(run, kind, created + s(wait + 0.5), step)
    # a run quiet for two hours, one busy a minute ago, one sleeping on a wait
    a.run("wrun_o5", "order", "v2", "running", "3 hours")
    a.event("wrun_o5", "run_created", "3 hours")
    a.event("wrun_o5", "run_started", "2 hours")
    a.run("wrun_g3", "signup", "v2", "running", "10 minutes")
    a.event("wrun_g3", "run_created", "10 minutes")
    a.event("wrun_g3", "wait_created", "1 minute", "wait_1")
    conn.execute("INSERT INTO workflow.waits (app_id, run_id, wait_id, status, resume_at, created_at, updated_at)"
                 " VALUES (%s, 'wrun_g3', 'wait_1', 'waiting', now() + interval '1 hour', now(), now())", (app,))
    conn.execute("INSERT INTO workflow.hooks (app_id, run_id, hook_id, token, created_at)"
                 " VALUES (%s, 'wrun_o5', 'hook_1', 'tok', now())", (app,))
    conn.execute("INSERT INTO workflow.deployment_versions (app_id, deployment_id, created_at, expired_at)"
                 " VALUES (%(a)s, 'v1', now(), NULL), (%(a)s, 'v2', now(), NULL), (%(a)s, 'v0', now(), now())",
                 {"a": app})
    conn.execute("INSERT INTO workflow.handlers (app_id, pod_id, deployment_version, workflow_url, step_url,"
                 " registered_at, seen_at) VALUES (%s, 'pod', 'v2', 'http://127.0.0.1:1/f', 'http://127.0.0.1:1/s',"
                 " now(), now())", (app,))
    for mid, queue, dep, status, due_ago, dead_ago, error in [
        ("m1", "__wkf_step_charge", "v2", "queued", "40 seconds", None, None),
        ("m2", "__wkf_step_charge", "v2", "queued", "5 seconds", None, None),
        ("m3", "__wkf_step_charge", "v2", "claimed", "1 second", None, None),
        ("m4", "__wkf_workflow_order", "v2", "queued", "-1 hour", None, None),
        ("d1", "__wkf_step_charge", "v1", "dead", "2 hours", "1 hour", "HTTP 500"),
        ("d2", "__wkf_step_charge", "v1", "dead", "3 hours", "2 hours", "HTTP 500"),
        ("d3", "__wkf_workflow_order", "v1", "dead", "4 hours", "3 hours", "deployment expired"),
        ("d4", "__wkf_step_charge", "v1", "dead", "31 hours", "30 hours", "HTTP 502"),
    ]:
        conn.execute(
            "INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, deployment_id, payload, status,"
            " due_at, lease_until, pod_id, last_error, created_at, updated_at, dead_at) VALUES"
            " (%(app)s, %(id)s, %(q)s, %(kind)s, %(dep)s, '{}', %(status)s, now() - %(due)s::interval,"
            " CASE WHEN %(status)s = 'claimed' THEN now() + interval '5 minutes' END,"
            " CASE WHEN %(status)s = 'claimed' THEN 'pod' END, %(error)s, now() - interval '1 day', now(),"
            " now() - %(dead)s::interval)",
            {"app": app, "id": mid, "q": queue, "kind": queue.split("_")[3], "dep": dep, "status": status,
             "due": due_ago, "dead": dead_ago, "error": error})
    # The decoy app fails a lot; an analyst of the first app must not see it.
    d = Loader(conn, decoy)
    d.run("wrun_x1", "order", "v1", "failed", noon(1), 999, "decoy")
    d.event("wrun_x1", "run_created", noon(1))
    d.step("step_x", "wrun_x1", "leak", "failed", 9, noon(1), 1)
    for _ in range(9):
        d.event("wrun_x1", "step_retrying", noon(1) + s(2), "step_x")


def day(days_ago: int) -> dt.date:
    return noon(days_ago).date()


EXPECTED: dict[int, list[tuple]] = {
    1: [("charge", 4), ("send_email", 1)],
    2: [("order", day(10), 1, 5.0), ("order", day(2), 2, 19.5), ("order", day(1), 2, 39.5),
        ("signup", day(1), 2, 3.9)],
    3: [("signup", 3, 1, Decimal("0.500"), Decimal("3.0"), Decimal("3.9")),
        ("order", 6, 2, Decimal("0.400"), Decimal("20.0"), Decimal("38.0"))],
    4: [("card declined", 2, ["order", "signup"])],
    5: [("charge", 5, 2, Decimal("1.60"), 3)],
    6: [("ship", 1, 2.0), ("charge", 4, 1.0), ("send_email", 1, 1.0)],
    7: [("__wkf_step_charge", 2, 0, 1, 40.0)],
    8: [("__wkf_step_charge", "HTTP 500", 2), ("__wkf_workflow_order", "deployment expired", 1)],
    9: [("wrun_o5", "order")],
    10: [("v1", 0, 0, 0, 0, True), ("v2", 2, 1, 1, 4, False)],
}
# Columns compared per question (the rest, such as timestamps, vary per run).
COMPARED = {8: 3, 9: 2}


@pytest.mark.parametrize(("number", "question", "sql"), doc_questions(), ids=lambda v: str(v)[:40])
def test_documented_query_answers(fresh_db: str, number: int, question: str, sql: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    analyst, app, decoy = f"pgw_doc_{suffix}", f"shop_{suffix}", f"other_{suffix}"
    with psycopg.connect(fresh_db) as conn:  # one transaction, rolled back: the role never outlives the test
        load(conn, app, decoy)
        # the access recipe of the doc, with this test's role and app
        recipe = re.sub(r"\balice\b", analyst, access_recipe()).replace("'shop'", f"'{app}'")
        conn.execute(recipe)
        conn.execute(f'SET LOCAL ROLE "{analyst}"')
        rows = conn.execute(sql).fetchall()
        conn.rollback()
    width = COMPARED.get(number)
    got = [tuple(round(v, 6) if isinstance(v, float) else v for v in row[:width]) for row in rows]
    assert got == EXPECTED[number], f"docs/sql.md question {number}: {question}"
