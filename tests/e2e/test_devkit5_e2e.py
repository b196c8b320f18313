"""A real Workflow DevKit 5 app (workflow 5.0.0-beta.55, built with `wf build`) on
pg-workflow through the client World's DevKit 5 line: the runtime's own
behaviour, observed through the app's control routes, the service API and
the database. One app process (e2e_app5) on the session's service serves
every test here but the encrypted one, which needs a tenant with a secret."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..pgw import Service
from .conftest import ControlError, E2EApp, http_json, running_app, tagged, untag

SLOT_ID = re.compile(r"^evnt_[0-9]{26}$")
ENCRYPTED = b"encr"   # the runtime's prefix of an encrypted value


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def assert_slot_ids(events: list[dict[str, Any]]) -> None:
    """A spec >= 6 log: event ids are the dense 1-based positions, 26 digits."""
    assert events, "no events"
    assert [e["eventId"] for e in events] == [f"evnt_{i:026d}" for i in range(1, len(events) + 1)], \
        [e["eventId"] for e in events]


def completed(app: E2EApp, run_id: str, wait: float = 30.0) -> dict[str, Any]:
    out = app.outcome(run_id, wait)
    assert out["status"] == "completed", (f"run {run_id} ended {out['status']}: {out.get('error')}\n"
                                          f"{app.log_tail(run_id=run_id)}")
    assert out["specVersion"] == 7, out
    return out


def hooks_of(app: E2EApp, run_id: str) -> list[dict[str, Any]]:
    return app.wait_for(lambda: app.control("GET", f"runs/{run_id}/hooks")["hooks"], f"a hook of {run_id}")


def db_rows(app: E2EApp, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(app.service.database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_client_serves_the_devkit_5_line(e2e_app5: E2EApp) -> None:
    world = e2e_app5.control("GET", "world")
    assert world["config"]["line"] == 5
    assert "@workflow/core 5.0.0-beta.55" in world["config"]["lineSource"]
    assert world["specVersion"] == 7
    assert world["deploymentId"] == e2e_app5.deployment_id
    # A 5.x handler registers its flow route for workflow and step messages alike.
    rows = db_rows(e2e_app5, "SELECT workflow_url, step_url FROM workflow.handlers"
                             " WHERE app_id = %s AND deployment_version = %s", "default", e2e_app5.deployment_id)
    assert rows == [(f"{e2e_app5.url}/.well-known/workflow/v1/flow",) * 2], rows


def test_sequential_and_parallel_steps_with_slot_event_ids(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    multi = app.start("multiStep", 2, 3)
    sequential = app.start("sequentialSteps", 6)
    parallel = app.start("parallelSteps", 8)
    assert completed(app, multi)["result"] == {"sum": 5, "product": 15, "text": "sum=5 product=15"}
    assert completed(app, sequential)["result"] == list(range(6))
    assert completed(app, parallel)["result"] == list(range(8))

    run = app.api("GET", f"runs/{multi}")
    assert (run["status"], run["specVersion"], run["deploymentId"]) == ("completed", 7, app.deployment_id)
    events = app.events(multi)
    assert_slot_ids(events)
    types = event_types(events)
    assert types[:2] == ["run_created", "run_started"] and types[-1] == "run_completed", types
    assert types.count("step_created") == types.count("step_completed") == 3, types
    # The service answers the same ids (its list and one event by its slot id).
    assert [e["eventId"] for e in app.api("GET", f"runs/{multi}/events?limit=100")["data"]] == \
        [e["eventId"] for e in events]
    assert app.api("GET", f"runs/{multi}/events/{events[2]['eventId']}")["eventType"] == types[2]

    for run_id, n in ((sequential, 6), (parallel, 8)):
        steps = app.api("GET", f"runs/{run_id}/steps?limit=100")["data"]
        assert len(steps) == n and all(s["status"] == "completed" and s["attempt"] == 1 for s in steps), steps
        assert_slot_ids(app.events(run_id))
    # Steps travelled on the workflow queue: nothing was ever sent to a step queue.
    assert db_rows(app, "SELECT count(*) FROM workflow.messages WHERE app_id = 'default' AND run_id = ANY(%s)"
                        " AND queue_name LIKE '%%wkf_step_%%'", [multi, sequential, parallel]) == [(0,)]


def test_a_runs_parallel_steps_overlap_and_each_message_is_delivered_once(e2e_app5: E2EApp) -> None:
    # Steps travel on the run's workflow queue; the service stores them as step-kind messages of the run
    # (change devkit5_queue), so they are not serialised behind the run's orchestration messages.
    app = e2e_app5
    n, hold_ms = 4, 2000
    run_id = app.start("overlappingSteps", n, hold_ms)
    spans = completed(app, run_id, wait=60)["result"]
    assert sorted(s["i"] for s in spans) == list(range(n)), spans
    # Handler-side clocks (one app process): at some instant several steps were running at once, and the
    # fan-out took well under the time of running them one after the other (generous: 2-core shared machine).
    moments = sorted([(s["startedAt"], 1) for s in spans] + [(s["finishedAt"], -1) for s in spans],
                     key=lambda m: (m[0], m[1]))
    running = most = 0
    for _, delta in moments:
        running += delta
        most = max(most, running)
    assert most >= 2, f"no two steps overlapped: {spans}"
    span_ms = max(s["finishedAt"] for s in spans) - min(s["startedAt"] for s in spans)
    assert span_ms < 0.75 * n * hold_ms, f"the fan-out took {span_ms} ms, as if serialised: {spans}"
    steps = app.api("GET", f"runs/{run_id}/steps?limit=100")["data"]
    assert len(steps) == n and all(s["status"] == "completed" and s["attempt"] == 1 for s in steps), steps
    # Every step message: a step-kind message of the run on the workflow queue, delivered once, never merged.
    rows = db_rows(app, "SELECT payload ->> 'stepId', kind, status, attempt FROM workflow.messages"
                        " WHERE app_id = 'default' AND run_id = %s AND payload ? 'stepId'", run_id)
    assert rows, "no step message was queued"
    assert len({r[0] for r in rows}) == len(rows), f"a step was queued twice: {rows}"
    assert {r[0] for r in rows} <= {s["stepId"] for s in steps}, rows
    assert all(r[1:] == ("step", "delivered", 1) for r in rows), rows


def test_sleep_resumes_on_time(e2e_app5: E2EApp) -> None:
    sleep_ms = 1000
    run_id = e2e_app5.start("sleepThenReport", sleep_ms)
    result = completed(e2e_app5, run_id)["result"]
    assert sleep_ms <= result["after"] - result["before"] < sleep_ms + 5000, result
    types = event_types(e2e_app5.events(run_id))
    assert types.index("wait_created") < types.index("wait_completed"), types


def test_hook_resumed_twice_and_a_webhook(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    token = f"e2e5-{uuid.uuid4().hex}"
    owner = app.start("hookCollector", token, 2)
    hooks_of(app, owner)
    hook = app.api("GET", f"hooks/by-token/{token}")
    assert hook["runId"] == owner
    # pg-workflow attests the 5.x hook-resume dedup for hooks of spec >= 6 runs.
    assert hook.get("resumeCapabilities") == {"hookResumeDedupVersion": 1}, hook
    for i in range(2):
        assert app.control("POST", "hooks/resume", {"token": token, "payload": {"n": i, "b": tagged(b"\0" * i)}}
                           )["runId"] == owner
    result = completed(app, owner)["result"]
    assert [p["n"] for p in result["payloads"]] == [0, 1]
    assert [untag(p["b"]) for p in result["payloads"]] == [b"", b"\0"]
    assert event_types(app.events(owner)).count("hook_received") == 2

    webhook_run = app.start("webhookOnce")
    [webhook] = hooks_of(app, webhook_run)
    assert webhook["isWebhook"] is True
    req = urllib.request.Request(f"{app.url}/.well-known/workflow/v1/webhook/{webhook['token']}",
                                 data=b"hello webhook 5", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status < 300
    assert completed(app, webhook_run)["result"] == {"method": "POST", "body": "hello webhook 5"}


def test_retries_and_fatal_errors_stored_as_bytes(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    retry_after_ms = 1000
    run_id = app.start("retryThenCatchFatal", uuid.uuid4().hex, retry_after_ms)
    result = completed(app, run_id, wait=60)["result"]
    first, second = result["flaky"]["times"]
    assert result["flaky"]["attempt"] == 2
    assert second - first >= retry_after_ms, second - first
    assert result["fatal"] == {"caught": True, "name": "FatalError", "message": "fatal on purpose"}
    types = event_types(app.events(run_id))
    assert "step_retrying" in types and "step_failed" in types and types[-1] == "run_completed", types

    failed = app.start("failsFatally", "broken on purpose 5")
    out = app.outcome(failed)
    assert out["status"] == "failed", out
    assert out["errorCode"] == "USER_ERROR"
    assert "broken on purpose 5" in out["error"]["message"]  # hydrated by the runtime from the stored bytes
    # The service keeps the runtime's serialised error as given: bytes, not a {message} object.
    run = app.api("GET", f"runs/{failed}")
    assert run["errorCode"] == "USER_ERROR"
    assert b"broken on purpose 5" in untag(run["error"])
    [step] = app.api("GET", f"runs/{failed}/steps")["data"]
    assert step["status"] == "failed" and b"broken on purpose 5" in untag(step["error"])
    assert db_rows(app, "SELECT error_code FROM workflow_analytics.runs WHERE run_id = %s", failed) == [("USER_ERROR",)]


def test_streamed_output_is_read_in_order(e2e_app5: E2EApp) -> None:
    n = 12
    run_id = e2e_app5.start("streamValues", n)
    values = e2e_app5.control("GET", f"runs/{run_id}/stream?timeoutMs=20000", timeout=40)["values"]
    assert values == [{"i": i, "text": f"chunk-{i}"} for i in range(n)]
    assert completed(e2e_app5, run_id)["result"] == {"written": n}
    assert len(e2e_app5.api("GET", f"runs/{run_id}/streams")) == 1
    # Core wrote through the World's write session: its writer is on record, each chunk stored once.
    writers = db_rows(e2e_app5, "SELECT w.writer_id, w.next_seq, s.next_index FROM workflow.stream_writers w "
                                "JOIN workflow.streams s USING (app_id, name) WHERE s.run_id = %s", run_id)
    assert len(writers) == 1 and writers[0][0].startswith("wrtr_"), writers
    assert writers[0][1] == writers[0][2], "the session wrote every chunk of the stream, once"


def test_child_run_with_attributes(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    parent_id = app.start("parentWithChild", 7)
    parent = completed(app, parent_id, wait=60)
    assert parent["result"]["childResult"] == 21
    assert parent["attributes"] == {"phase": "done"}  # set, changed, one key removed by attr_set
    child_id = parent["result"]["childRunId"]
    child = completed(app, child_id)
    assert child["attributes"] == {"role": "child", "input": "7", "phase": "child-running",
                                   "$rootRunId": parent_id, "$parentRunId": parent_id}
    parent_events = app.events(parent_id)
    assert event_types(parent_events).count("attr_set") == 2
    assert_slot_ids(parent_events)
    assert app.api("GET", f"runs/{child_id}")["attributes"]["$parentRunId"] == parent_id
    # Analysts filter by attributes in plain text.
    rows = db_rows(app, "SELECT root_run_id, parent_run_id FROM workflow_analytics.runs WHERE run_id = %s", child_id)
    assert rows == [(parent_id, parent_id)]

    seeded = completed(app, app.start("multiStep", 1, 2, options={"attributes": {"customer": "acme"}}))
    assert seeded["attributes"] == {"customer": "acme"}
    assert seeded["runId"] in {r["runId"] for r in app.api("GET", "runs?limit=100")["data"]}


def test_cancel_a_sleeping_run_and_replay_a_completed_one(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    sleeper = app.start("sleepAnHour", "never")
    app.wait_for(lambda: "wait_created" in event_types(app.events(sleeper)), "the sleep to start")
    app.control("POST", f"runs/{sleeper}/cancel", {"reason": "e2e5 cancel"})
    assert app.outcome(sleeper, wait=10)["status"] == "cancelled"
    events = app.events(sleeper)
    assert event_types(events)[-1] == "run_cancelled"
    assert events[-1].get("eventData", {}).get("cancelReason") == "e2e5 cancel", events[-1]
    assert_slot_ids(events)

    original = app.start("multiStep", 4, 5, options={"attributes": {"customer": "acme"}})
    completed(app, original)
    replay = app.api("POST", f"runs/{original}/replay")
    assert replay["runId"] != original
    assert replay["executionContext"]["replayedFromRunId"] == original
    again = completed(app, replay["runId"])
    assert again["result"] == {"sum": 9, "product": 45, "text": "sum=9 product=45"}
    assert again["attributes"] == {"customer": "acme"}, "the replay starts with the run's creation attributes"
    assert_slot_ids(app.events(replay["runId"]))


def test_workflow_inspect_of_the_5x_cli(e2e_app5: E2EApp) -> None:
    app = e2e_app5
    done = app.start("multiStep", 1, 1)
    completed(app, done)
    failed = app.start("failsFatally", "for inspect 5")
    assert app.outcome(failed)["status"] == "failed"
    running = app.start("sleepAnHour", "inspected")
    app.wait_for(lambda: "wait_created" in event_types(app.events(running)), "the sleep to start")
    try:
        out = app.run_with_app_env("node_modules/.bin/workflow", "inspect", "runs", "--backend",
                                   "pg-workflow-world", "--json", "--limit", "100")
        listed = json.loads(out[out.index("{"):])
        statuses = {run["runId"]: run["status"] for run in listed["data"]}
        assert {done: "completed", failed: "failed", running: "running"}.items() <= statuses.items(), statuses
        # runs.list with a list of statuses (5.x), as a script next to the app calls it: ?status=failed&status=running.
        script = ("import { getWorld } from 'workflow/runtime';"
                  "const world = await getWorld();"
                  "const page = await world.runs.list({ status: ['failed', 'running'], resolveData: 'none',"
                  " pagination: { limit: 100 } });"
                  "console.log(JSON.stringify(page.data.map((r) => [r.runId, r.status])));"
                  "process.exit(0);")
        by_list = dict(json.loads(app.run_with_app_env("node", "--input-type=module", "-e", script).splitlines()[-1]))
        assert {failed: "failed", running: "running"}.items() <= by_list.items(), by_list
        assert done not in by_list and set(by_list.values()) <= {"failed", "running"}, by_list
        # Scripts and the CLI next to the app did not take over or drop the app's registration.
        assert db_rows(app, "SELECT count(*) FROM workflow.handlers WHERE app_id = 'default'"
                            " AND deployment_version = %s", app.deployment_id) == [(1,)]
    finally:
        app.api("POST", f"runs/{running}/cancel")


# --- encryption on the 5 line ----------------------------------------------------


@pytest.fixture(scope="module")
def encrypted_app5(pgw_server: Service, e2e_app5_build: Path) -> Iterator[E2EApp]:
    app_id = f"e2e5-enc-{uuid.uuid4().hex[:8]}"
    http_json("POST", f"{pgw_server.url}/api/v1/apps", {"appId": app_id})
    assert http_json("POST", f"{pgw_server.url}/api/v1/apps/{app_id}/encryption-secret")["version"] == 1
    with running_app(pgw_server, e2e_app5_build, app_id) as app:
        yield app


def stored_binaries(app: E2EApp, run_id: str) -> list[tuple[str, str, bytes]]:
    """(event type, member, bytes) of every binary payload stored in the run's events."""
    rows = db_rows(app, "SELECT event_type, event_data FROM workflow.events WHERE app_id = %s AND run_id = %s"
                        " ORDER BY run_ordinal", app.app_id, run_id)
    found = []
    for event_type, data in rows:
        for member, value in (data or {}).items():
            if isinstance(value, dict) and value.get("__type") == "Uint8Array":
                found.append((event_type, member, base64.b64decode(value["data"])))
    return found


def test_an_encrypted_5x_run_completes_and_stores_only_ciphertext(encrypted_app5: E2EApp,
                                                                   e2e_app5: E2EApp) -> None:
    app = encrypted_app5
    run_id = app.start("multiStep", 2, 3)
    assert completed(app, run_id)["result"] == {"sum": 5, "product": 15, "text": "sum=5 product=15"}
    found = stored_binaries(app, run_id)
    kinds = {(event_type, member) for event_type, member, _ in found}
    assert {("run_created", "input"), ("step_completed", "result"), ("run_completed", "output")} <= kinds, kinds
    for event_type, member, blob in found:
        assert blob[:4] == ENCRYPTED, f"{event_type}.{member} is stored as {blob[:16]!r}, not ciphertext"
        assert b"sum=5" not in blob
    # AES-256-GCM under the key the service derives for the run (the nonce in front).
    key = base64.b64decode(app.api("GET", f"encryption-key?runId={run_id}")["key"])
    output = next(blob for event_type, member, blob in found if (event_type, member) == ("run_completed", "output"))
    assert b"sum=5 product=15" in AESGCM(key).decrypt(output[4:16], output[16:], None)
    # Another app's token gets no key for it; the shared (secretless) 5.x app stores plaintext.
    with pytest.raises(ControlError) as other:
        e2e_app5.api("GET", f"encryption-key?runId={run_id}")
    assert other.value.status == 404
    plain = e2e_app5.start("multiStep", 2, 3)
    completed(e2e_app5, plain)
    assert all(blob[:4] != ENCRYPTED for _, _, blob in stored_binaries(e2e_app5, plain))
