"""The runtime's optimistic-concurrency guard (stateUpdatedAt) against pg-workflow, in a real
DevKit run: a write based on a stale event log is refused with 412, the runtime reloads and
retries, and the run still completes with the right result; ordinary runs never see a 412."""

from __future__ import annotations

import uuid

from .conftest import E2EApp


def event_types(events: list[dict]) -> list[str]:
    return [e["eventType"] for e in events]


def test_stale_write_is_refused_and_the_run_still_completes(e2e_app: E2EApp) -> None:
    token = f"e2e-guard-{uuid.uuid4().hex}"
    # Just before the run's first guarded step_created, the app resumes the
    # hook from outside: that step_created then carries a stale snapshot.
    e2e_app.control("POST", "interleave", {"token": token, "payload": {"n": 7}, "before": "step_created"})
    run_id = e2e_app.start("hookDuringSuspension", token)
    assert e2e_app.result(run_id) == {"first": "step:first", "payload": {"n": 7}, "second": "step:7"}

    creates = e2e_app.control("GET", f"guard/{run_id}")["creates"]
    step_creates = [c for c in creates if c["eventType"] == "step_created"]
    refused, retried = step_creates[0], step_creates[1]
    assert refused["outcome"] == "PreconditionFailedError" and refused["status"] == 412, creates
    assert refused["meta"]["stateUpdatedAt"] > refused["stateUpdatedAt"], refused
    # The runtime reloaded its log and retried the same step with a snapshot that includes the hook payload.
    assert retried["correlationId"] == refused["correlationId"] and retried["outcome"] == "ok", creates
    assert retried["stateUpdatedAt"] >= refused["meta"]["stateUpdatedAt"], creates
    assert [c["outcome"] for c in creates].count("PreconditionFailedError") == 1, creates

    types = event_types(e2e_app.events(run_id))
    assert types.index("hook_received") < types.index("step_created"), types
    assert types.count("step_created") == types.count("step_completed") == 2, "the refused write appended nothing"
    assert types[-1] == "run_completed"


def test_sequential_runs_never_get_a_412(e2e_app: E2EApp) -> None:
    # With no event from outside the replay, every snapshot is up to date: the
    # guard is armed (each create carries one) and never refuses.
    run_id = e2e_app.start("sequentialSteps", 6)
    assert e2e_app.result(run_id) == list(range(6))
    creates = e2e_app.control("GET", f"guard/{run_id}")["creates"]
    assert [c["eventType"] for c in creates] == ["step_created"] * 6 + ["run_completed"], creates
    assert all(c["outcome"] == "ok" for c in creates), creates
