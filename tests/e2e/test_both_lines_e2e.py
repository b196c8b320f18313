"""Both DevKit lines on ONE pg-workflow at the same time: the 4.8.9 app (e2e_app) and
the 5.x app (e2e_app5) share the session's service and app id; a run of each is in
flight at once, and each completes under the protocol it was started with — the
5.x run with slot event ids and eventCount bump-and-report (no 412), the 4.8.9 run
with ULID event ids and its stateUpdatedAt guard (a stale write is refused with 412
and the runtime recovers)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .conftest import E2EApp, http_json

SLOT_ID = re.compile(r"^evnt_[0-9]{26}$")
ULID_EVENT_ID = re.compile(r"^wevt_[0-9A-HJKMNP-TV-Z]{26}$")


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def sleeping(app: E2EApp, run_id: str) -> bool:
    return "wait_created" in event_types(app.events(run_id))


def test_a_4x_run_and_a_5x_run_in_flight_together(e2e_app: E2EApp, e2e_app5: E2EApp) -> None:
    assert e2e_app.service is e2e_app5.service and e2e_app.app_id == e2e_app5.app_id
    sleep_ms = 3000
    run4 = e2e_app.start("sleepThenReport", sleep_ms)
    run5 = e2e_app5.start("sleepThenReport", sleep_ms)
    e2e_app.wait_for(lambda: sleeping(e2e_app, run4), "the 4.8.9 run to sleep")
    e2e_app5.wait_for(lambda: sleeping(e2e_app5, run5), "the 5.x run to sleep")
    # Both are running now, in the same service, app and event log.
    assert {e2e_app.api("GET", f"runs/{r}")["status"] for r in (run4, run5)} == {"running"}

    # While both sleep: a stale write on each line.
    # 5.x: eventCount 1 on a longer log is not refused; the event takes the next free slot and the
    # answer reports the events the writer had not seen.
    # (An attr_set written as by a step: the workflow's replay only waits for the ones its own body wrote.)
    log5 = e2e_app5.events(run5)
    [step] = e2e_app5.api("GET", f"runs/{run5}/steps")["data"]
    answer = http_json("POST", f"{e2e_app5.service.url}/api/v1/apps/default/runs/{run5}/events", {
        "eventType": "attr_set", "specVersion": 7, "eventCount": 1,
        "eventData": {"changes": [{"key": "line", "value": "5"}],
                      "writer": {"type": "step", "stepId": step["stepId"], "attempt": 1}},
    })
    assert answer["event"]["eventId"] == f"evnt_{len(log5) + 1:026d}", answer["event"]
    assert [e["eventId"] for e in answer["events"]] == [e["eventId"] for e in log5[1:]], answer
    # 4.8.9: the runtime's own guarded write, made stale by a hook resumed just before it, gets a 412;
    # the runtime reloads and the run completes (as tests/e2e/test_state_guard_e2e.py, with a 5.x run in flight).
    token = f"e2e-both-{uuid.uuid4().hex}"
    e2e_app.control("POST", "interleave", {"token": token, "payload": {"n": 5}, "before": "step_created"})
    guarded = e2e_app.start("hookDuringSuspension", token)
    assert e2e_app.result(guarded) == {"first": "step:first", "payload": {"n": 5}, "second": "step:5"}
    creates = e2e_app.control("GET", f"guard/{guarded}")["creates"]
    assert [c["status"] for c in creates if c["outcome"] == "PreconditionFailedError"] == [412], creates

    out4, out5 = e2e_app.outcome(run4), e2e_app5.outcome(run5)
    assert (out4["status"], out5["status"]) == ("completed", "completed"), (out4, out5, e2e_app5.log_tail())
    for out in (out4, out5):
        assert sleep_ms <= out["result"]["after"] - out["result"]["before"], out
    # In flight at the same time: each started before the other ended.
    assert out4["startedAt"] < out5["completedAt"] and out5["startedAt"] < out4["completedAt"], (out4, out5)

    # Each kept its own protocol.
    assert e2e_app.api("GET", f"runs/{run4}")["specVersion"] == 3
    assert e2e_app5.api("GET", f"runs/{run5}")["specVersion"] == 7
    ids4 = [e["eventId"] for e in e2e_app.events(run4)]
    ids5 = [e["eventId"] for e in e2e_app5.events(run5)]
    assert all(ULID_EVENT_ID.match(i) for i in ids4), ids4
    assert ids5 == [f"evnt_{i:026d}" for i in range(1, len(ids5) + 1)], ids5
    assert e2e_app5.api("GET", f"runs/{run5}")["attributes"] == {"line": "5"}
    # The 4.8.9 suite's runs and the 5.x suite's runs sit side by side in one list.
    listed = {r["runId"]: r["specVersion"] for r in e2e_app.api("GET", "runs?limit=100")["data"]}
    assert (listed[run4], listed[run5]) == (3, 7)
