"""Cost stays flat as data grows: on a database holding thousands of finished
runs (with their events, steps, hooks, waits, streams and settled messages),
no statement the hot SQL functions run scans one of those large tables
sequentially.

The plans are captured with auto_explain on the test's own connection
(nested statements included, so every statement inside the PL/pgSQL
functions), arriving as LOG notices. The hot path is a new run's life through
the service's own named queries: tenant statements as role pgw_tenant scoped by
request_context, the dispatcher's claim and ack as the service. Both custom and
generic plans are checked. Tables small by design (queue_rate: a few counter
rows per app and minute) are not held to this; a table is "large" here from
LARGE rows on, after ANALYZE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from service.queries import QUERIES

APP = "hot"
OTHER_APP = "cold"
RUNS_PER_APP = 10_000
FLEET = 1_000  # other apps (bound, counted), old deployment versions, their pods, ended dispatcher sessions
RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5G00"
LARGE = 500  # rows: a table this big must be reached through an index

# Finished history for both apps: each run has 4 events, a step, a hook and a
# wait; every 5th run a stream of 3 chunks; every run a delivered message and
# every 10th a dead one. Besides them a fleet of other apps with usage rows and
# k8s bindings, expired deployment versions with their pods, and ended
# dispatcher sessions, so per-app and per-deployment lookups must use indexes too.
POPULATE = """
SELECT workflow.ensure_app(a) FROM unnest(%(apps)s::text[]) a;
INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, spec_version, input, output,
                           created_at, updated_at, started_at, completed_at)
SELECT a, 'wrun_old' || lpad(i::text, 8, '0'), 'completed', 'v1', 'wf', 3, '[]', '1',
       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
  FROM unnest(%(apps)s::text[]) a, generate_series(1, %(n)s) i;
INSERT INTO workflow.events (app_id, run_id, run_ordinal, event_id, event_type, correlation_id, event_data,
                             spec_version, created_at, event_json)
SELECT r.app_id, r.run_id, o, 'evnt_' || r.run_seq || '_' || o,
       (ARRAY['run_created', 'run_started', 'step_created', 'run_completed'])[o],
       CASE WHEN o = 3 THEN 'step_' || r.run_seq END, '{}', 3, r.created_at, '{}'
  FROM workflow.runs r, generate_series(1, 4) o;
INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, spec_version,
                            created_at, updated_at, started_at, completed_at)
SELECT app_id, run_id, 'step_' || run_seq, 'add', 'completed', 1, 3, created_at, created_at, created_at, created_at
  FROM workflow.runs;
INSERT INTO workflow.hooks (app_id, run_id, hook_id, token, spec_version, created_at, disposed_at)
SELECT app_id, run_id, 'hook_' || run_seq, 'tok_' || run_seq, 3, created_at,
       CASE WHEN run_seq %% 2 = 0 THEN created_at END
  FROM workflow.runs;
INSERT INTO workflow.waits (app_id, run_id, wait_id, status, spec_version, created_at, updated_at, completed_at)
SELECT app_id, run_id, 'wait_' || run_seq, 'completed', 3, created_at, created_at, created_at FROM workflow.runs;
INSERT INTO workflow.streams (app_id, name, run_id, next_index, created_at, updated_at, closed_at)
SELECT app_id, 'strm_' || run_seq, run_id, 3, created_at, created_at, created_at
  FROM workflow.runs WHERE run_seq %% 5 = 0;
INSERT INTO workflow.stream_chunks (app_id, name, chunk_index, data)
SELECT s.app_id, s.name, c, '\\x00ff'::bytea FROM workflow.streams s, generate_series(0, 2) c;
INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, run_id, deployment_id, payload, status,
                               attempt, due_at, created_at, updated_at, delivered_at, dead_at)
SELECT app_id, 'msg_' || run_seq || '_' || k, '__wkf_workflow_wf', 'workflow', run_id, 'v1',
       jsonb_build_object('runId', run_id), CASE k WHEN 1 THEN 'delivered' ELSE 'dead' END,
       1, created_at, created_at, created_at,
       CASE k WHEN 1 THEN created_at END, CASE k WHEN 2 THEN created_at END
  FROM workflow.runs, generate_series(1, 2) k WHERE k = 1 OR run_seq %% 10 = 0;
SELECT workflow.ensure_app('tenant' || i) FROM generate_series(1, %(fleet)s) i;
INSERT INTO workflow.app_usage (app_id, active_runs) SELECT app_id, 0 FROM workflow.apps ON CONFLICT DO NOTHING;
INSERT INTO workflow.k8s_bindings (app_id, namespace, service_account)
SELECT app_id, 'ns-' || app_id, 'runner' FROM workflow.apps WHERE app_id LIKE 'tenant%%';
INSERT INTO workflow.deployment_versions (app_id, deployment_id, created_at, expired_at)
SELECT a, 'old' || i, now() - interval '30 days', now() - interval '29 days'
  FROM unnest(%(apps)s::text[]) a, generate_series(1, %(fleet)s) i;
INSERT INTO workflow.handlers (app_id, pod_id, deployment_version, workflow_url, step_url, registered_at, seen_at)
SELECT a, 'oldpod' || i, 'old' || i, 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step', now(), now()
  FROM unnest(%(apps)s::text[]) a, generate_series(1, %(fleet)s) i;
INSERT INTO workflow.dispatcher_sessions (name, pid, opened_at, lost_at, reaped_at)
SELECT 'gone:' || i, 0, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
  FROM generate_series(1, %(fleet)s) i;
"""


@dataclass
class Plan:
    statement: str  # the hot call it came from
    query: str      # the statement inside it that was planned
    root: dict[str, Any]


@dataclass
class Capture:
    """auto_explain's LOG notices, attributed to the hot call running when they came."""
    current: str = "setup"
    plans: list[Plan] = field(default_factory=list)

    def on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        text = diag.message_primary or ""
        if "plan:" not in text:
            return
        doc = json.loads(text.split("plan:", 1)[1])
        self.plans.append(Plan(self.current, doc.get("Query Text", ""), doc["Plan"]))


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def rows_read(node: dict[str, Any]) -> float:
    """Rows a scan node took from its relation: those it returned and those its filters dropped, every loop."""
    per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0))
    return per_loop * node.get("Actual Loops", 1)


def wide_reads(plan: Plan, large: set[str], limit: int) -> list[str]:
    return [f"{n['Node Type']} on {n['Relation Name']} read {rows_read(n):.0f} rows" for n in nodes(plan.root)
            if n.get("Schema") == "workflow" and n.get("Relation Name") in large and rows_read(n) > limit]


def seq_scans(plan: Plan, large: set[str]) -> list[str]:
    return [n["Relation Name"] for n in nodes(plan.root)
            if n["Node Type"] == "Seq Scan" and n.get("Schema") == "workflow" and n["Relation Name"] in large]


def event(event_type: str, correlation_id: str | None = None, data: dict[str, Any] | None = None,
          enqueue: dict[str, Any] | None = None, run_id: str | None = RUN) -> dict[str, Any]:
    return {"run_id": run_id, "event_type": event_type, "correlation_id": correlation_id,
            "event_data": None if data is None else Jsonb(data), "spec_version": 3, "resolve_data": None,
            "state_updated_at": None, "enqueue": None if enqueue is None else Jsonb(enqueue), "options": None}


RUN5 = "wrun_01ARZ3NDEKTSV4RRFFQ69G5G05"


def event5(event_type: str, correlation_id: str | None = None, data: dict[str, Any] | None = None,
           **options: Any) -> dict[str, Any]:
    """A DevKit 5 (spec 7) write: slot ids, bump-and-report, sinceCursor deltas."""
    return {**event(event_type, correlation_id, data, run_id=RUN5), "spec_version": 7, "options": Jsonb(options)}


def step_message(step_id: str) -> dict[str, Any]:
    return {"queueName": "__wkf_step_add", "deploymentId": "v1", "idempotencyKey": step_id,
            "message": {"workflowName": "wf", "workflowRunId": RUN, "stepId": step_id}}


WAKE_UP = {"queueName": "__wkf_workflow_wf", "deploymentId": "v1", "message": {"runId": RUN}}

# (label, named query, parameters): a new run's hot path, on a tenant connection.
TENANT_PATH: list[tuple[str, str, dict[str, Any]]] = [
    ("run_created", "create_event",
     event("run_created", data={"deploymentId": "v1", "workflowName": "wf", "input": []})),
    ("run_started", "create_event", event("run_started")),
    ("step_created", "create_event", event("step_created", "s1", {"stepName": "add"})),
    ("step_created+enqueue", "create_event",
     event("step_created", "s2", {"stepName": "add"}, step_message("s2"))),
    ("step_started", "create_event", event("step_started", "s1")),
    ("step_completed+enqueue", "create_event", event("step_completed", "s1", {"result": 2}, WAKE_UP)),
    ("wait_created", "create_event", event("wait_created", "w1", {"resumeAt": "2026-11-30T05:00:00.000Z"})),
    ("wait_completed", "create_event", event("wait_completed", "w1")),
    ("hook_created", "create_event", event("hook_created", "h1", {"token": "tok_new"})),
    ("hook_received", "create_event", event("hook_received", "h1", {"payload": 1})),
    ("run_created (spec 7)", "create_event",
     event5("run_created", data={"deploymentId": "v1", "workflowName": "wf", "input": [], "attributes": {"a": "1"}})),
    ("run_started (spec 7)", "create_event", event5("run_started", eventCount=1)),
    ("lazy step_started (spec 7)", "create_event", event5("step_started", "s1", {"stepName": "add", "input": []})),
    ("step_completed+sinceCursor (spec 7)", "create_event",
     event5("step_completed", "s1", {"result": 2}, sinceCursor="2")),
    ("wait_created, stale eventCount (spec 7)", "create_event",
     event5("wait_created", "w1", {"resumeAt": "2026-11-30T05:00:00.000Z"}, eventCount=2)),
    ("attr_set (spec 7)", "create_event",
     event5("attr_set", data={"changes": [{"key": "b", "value": "2"}], "writer": {"type": "workflow"}}, eventCount=6)),
    ("list_events, slot cursor (spec 7)", "list_events",
     {"run_id": RUN5, "correlation_id": None, "limit": 100, "cursor": "evnt_00000000000000000000000002",
      "sort_order": None, "resolve_data": None}),
    ("get_run", "get_run", {"run_id": RUN, "resolve_data": None}),
    ("list_events", "list_events", {"run_id": RUN, "correlation_id": None, "limit": 100, "cursor": None,
                                    "sort_order": None, "resolve_data": None}),
    ("enqueue", "enqueue", {"queue_name": "__wkf_step_add", "message": Jsonb({"workflowRunId": RUN}),
                            "deployment_id": "v1", "idempotency_key": None, "delay_seconds": None}),
    ("write_stream", "write_stream", {"run_id": RUN, "name": "strm_new", "chunks": [b"a", b"b"], "close": False}),
    ("read_stream", "read_stream", {"name": "strm_new", "start_index": 0}),
]
FINISH = ("run_completed", "create_event", event("run_completed", data={"output": 3}))


# The service's connections are long-lived: after a few calls PL/pgSQL may
# switch a statement to its generic plan, so both kinds are checked.
@pytest.fixture(params=["force_custom_plan", "force_generic_plan"])
def explained(fresh_db: str, request: pytest.FixtureRequest) -> Iterator[tuple[psycopg.Connection[Any], Capture]]:
    """A connection on a populated, analysed database, logging every plan to itself."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        # Several statements in one round trip: bound client-side.
        psycopg.ClientCursor(conn).execute(POPULATE, {"apps": [APP, OTHER_APP], "n": RUNS_PER_APP, "fleet": FLEET})
        conn.execute("ANALYZE")
        capture = Capture()
        conn.add_notice_handler(capture.on_notice)
        conn.execute("LOAD 'auto_explain'")
        # With actual row counts (not timings): a statement that reaches a large table through an index but
        # reads much of it (a filter applied after the index) is caught too.
        for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"),
                               ("log_format", "json"), ("log_verbose", "on"), ("log_analyze", "on"),
                               ("log_timing", "off")):
            conn.execute(f"SET auto_explain.{setting} = {value}")
        conn.execute(f"SET plan_cache_mode = {request.param}")
        conn.execute("SET client_min_messages = log")
        yield conn, capture


def large_tables(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'workflow'::regnamespace "
                        "AND relkind = 'r' AND reltuples > %s", (LARGE,)).fetchall()
    return {name for (name,) in rows}


def run_as_tenant(conn: psycopg.Connection[Any], capture: Capture, label: str, name: str,
                  params: dict[str, Any]) -> Any:
    capture.current = label
    conn.execute("SET ROLE pgw_tenant")
    try:
        row = conn.execute(QUERIES[name], {**params, "app_id": APP, "principal": None}).fetchone()
    finally:
        conn.execute("RESET ROLE")
    assert row is not None
    return row[0]


def test_hot_statements_never_scan_a_large_table_sequentially(
        explained: tuple[psycopg.Connection[Any], Capture]) -> None:
    conn, capture = explained
    large = large_tables(conn)
    # The history is big enough to matter: otherwise the test proves nothing.
    assert {"runs", "events", "steps", "hooks", "waits", "streams", "stream_chunks", "messages", "apps", "app_usage",
            "k8s_bindings", "deployment_versions", "handlers", "dispatcher_sessions"} <= large

    run_as_tenant(conn, capture, "register_handler", "register_handler", {
        "pod_id": "pod", "deployment_version": "v1", "workflow_url": "http://127.0.0.1:9/flow",
        "step_url": "http://127.0.0.1:9/step", "webhook_url": None, "source_address": "127.0.0.1",
        "features": ["run-started"], "ttl_seconds": 60})  # so claims build run snapshots (with_run_snapshots)
    for label, name, params in TENANT_PATH:
        run_as_tenant(conn, capture, label, name, params)

    # The dispatcher, as the service: its session, a claim of what the path queued, the acks.
    capture.current = "open_dispatcher_session"
    (session_id, *_) = conn.execute(QUERIES["open_dispatcher_session"], {"name": "hot-plans:1"}).fetchone() or ()
    capture.current = "claim_messages"
    claimed = json.loads(conn.execute(QUERIES["claim_messages"], {
        "session_id": session_id, "limit": 10, "lease_seconds": 30, "grace_seconds": 60, "app_concurrency": 25,
        "batch_bytes": 4 << 20, "snapshot_max_bytes": 1 << 20, "one_at_a_time": False,
        "synchronous_commit": "off"}).fetchone()[0])
    deliveries = claimed["deliveries"]
    assert deliveries, claimed
    capture.current = "ack_messages"
    acks = [{"seq": d["seq"], "attempt": d["attempt"], "podId": d["podId"], "outcome": "done"} for d in deliveries]
    settled = conn.execute(QUERIES["ack_messages"], {
        "results": Jsonb(acks), "max_attempts": 5, "retry_base_seconds": 1, "retry_max_seconds": 60,
        "cooldown_seconds": 5, "grace_seconds": 60, "retention_seconds": 3600,
        "min_redelivery_seconds": 0.1, "synchronous_commit": "off"}).fetchone()[0]
    assert settled == len(deliveries)

    run_as_tenant(conn, capture, *FINISH)
    capture.current = "done"

    checked = [label for label, _, _ in TENANT_PATH] + ["claim_messages", "ack_messages", FINISH[0]]
    planned = {p.statement for p in capture.plans}
    assert set(checked) <= planned, f"no plans captured for {sorted(set(checked) - planned)}"

    offences = [f"{p.statement}: Seq Scan on workflow.{table} in {' '.join(p.query.split())[:300]!r}"
                for p in capture.plans if p.statement in checked for table in seq_scans(p, large)]
    assert not offences, "hot statements scan large tables sequentially:\n" + "\n".join(offences)

    # Nor read much of one through an index: a hot statement touches about its own rows (a page of 100 at most
    # on this path), never a share of the app's history (10,000 runs each with a delivered message).
    wide = [f"{p.statement}: {what} in {' '.join(p.query.split())[:300]!r}"
            for p in capture.plans if p.statement in checked for what in wide_reads(p, large, 2 * 100)]
    assert not wide, "hot statements read much of a large table:\n" + "\n".join(wide)
