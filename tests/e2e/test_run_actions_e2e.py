"""Run actions (SPEC section 5) and the DevKit's own tools against a real
DevKit app: wake-up, cancel and replay through pg-workflow's API, and the
`workflow` CLI and one-off scripts run with the app's environment."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from .conftest import E2EApp


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def wait_until_sleeping(app: E2EApp, run_id: str) -> None:
    app.wait_for(lambda: "wait_created" in event_types(app.events(run_id)), f"run {run_id} to sleep")


def registrations(app: E2EApp) -> list[tuple[str, str]]:
    with psycopg.connect(app.service.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pod_id, workflow_url FROM workflow.handlers WHERE app_id = %s AND deployment_version = %s",
            (app.app_id, app.deployment_id),
        ).fetchall()
    return [(pod, url) for pod, url in rows]


def test_wake_up_ends_an_hour_long_sleep(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("sleepAnHour", "woken")
    wait_until_sleeping(e2e_app, run_id)

    assert e2e_app.api("POST", f"runs/{run_id}/wake-up") == {"stoppedCount": 1}
    # The sleep had an hour to go: only the wake-up can finish the run now.
    assert e2e_app.result(run_id, wait=20) == {"woke": "woken"}
    types = event_types(e2e_app.events(run_id))
    assert types.index("wait_completed") > types.index("wait_created")
    assert types[-1] == "run_completed"
    assert e2e_app.api("POST", f"runs/{run_id}/wake-up") == {"stoppedCount": 0}


def test_cancel_while_a_step_runs(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("slowStepBetween", 6000)

    def slow_step_running() -> bool:
        events = e2e_app.events(run_id)
        return event_types(events).count("step_started") == 2

    e2e_app.wait_for(slow_step_running, "the slow step to start")
    cancelled = e2e_app.api("POST", f"runs/{run_id}/cancel")
    assert (cancelled["runId"], cancelled["status"]) == (run_id, "cancelled")

    steps = e2e_app.api("GET", f"runs/{run_id}/steps")["data"]
    slow = next(s for s in steps if s["stepName"].endswith("//pause"))
    # The step in flight may still finish; nothing after it may start.
    e2e_app.wait_for(lambda: e2e_app.api("GET", f"runs/{run_id}/steps/{slow['stepId']}")["status"] != "running",
                     "the step in flight to end", timeout=20)
    e2e_app.wait_for(lambda: _settled(e2e_app, run_id), "the run's queue to settle", timeout=20)
    assert e2e_app.outcome(run_id)["status"] == "cancelled"
    types = event_types(e2e_app.events(run_id))
    after_cancel = types[types.index("run_cancelled") + 1:]
    assert set(after_cancel) <= {"step_completed"}, types
    assert types.count("step_created") == 2, "the last step was never created"
    assert len(steps) == 2
    with psycopg.connect(e2e_app.service.database_url, autocommit=True) as conn:
        step_messages = conn.execute(
            "SELECT count(*) FROM workflow.messages WHERE app_id = %s AND run_id = %s AND kind = 'step'",
            (e2e_app.app_id, run_id),
        ).fetchone()
    assert step_messages == (2,), "no step was sent for delivery after the cancel"


def _settled(app: E2EApp, run_id: str) -> bool:
    """No message of the run is waiting or in flight."""
    with psycopg.connect(app.service.database_url, autocommit=True) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM workflow.messages WHERE app_id = %s AND run_id = %s"
            " AND status IN ('queued', 'held', 'claimed')",
            (app.app_id, run_id),
        ).fetchone()
    return busy is not None and busy[0] == 0


def test_replay_runs_the_workflow_again(e2e_app: E2EApp) -> None:
    first = e2e_app.start("multiStep", 4, 5)
    assert e2e_app.result(first) == {"sum": 9, "product": 45, "text": "sum=9 product=45"}

    replay = e2e_app.api("POST", f"runs/{first}/replay")
    assert replay["runId"] != first
    assert replay["deploymentId"] == e2e_app.deployment_id
    assert e2e_app.result(replay["runId"]) == {"sum": 9, "product": 45, "text": "sum=9 product=45"}
    original = e2e_app.api("GET", f"runs/{first}")
    again = e2e_app.api("GET", f"runs/{replay['runId']}")
    assert (again["workflowName"], again["input"], again["executionContext"]) == (
        original["workflowName"], original["input"], original["executionContext"])

    template = e2e_app.api("GET", f"workflows/{original['workflowName'].replace('/', '%2F')}/template")
    assert template["sourceRunId"] == replay["runId"], "the newest completed run"
    assert [s["stepName"].rsplit("//", 1)[-1] for s in template["steps"]] == ["add", "multiply", "describe"]
    assert not any("parallelGroup" in s for s in template["steps"])
    assert (template["hasHooks"], template["hasWaits"]) == (False, False)


def test_cli_and_scripts_with_the_app_env_leave_its_registration_alone(e2e_app: E2EApp) -> None:
    before = registrations(e2e_app)
    assert len(before) == 1, before
    sleeper = e2e_app.start("sleepAnHour", "still registered")
    wait_until_sleeping(e2e_app, sleeper)

    # Both inherit WORKFLOW_APP_URL, WORKFLOW_SERVICE_URL, ... and exit (closing their World).
    listed = e2e_app.run_with_app_env("node_modules/.bin/workflow", "inspect", "runs", "--backend",
                                      "pg-workflow-world", "--json")
    assert sleeper in listed
    started = json.loads(e2e_app.run_with_app_env("node", "start-run.mjs", "multiStep", "[1, 2]"))["runId"]

    assert registrations(e2e_app) == before
    assert e2e_app.result(started) == {"sum": 3, "product": 6, "text": "sum=3 product=6"}
    e2e_app.api("POST", f"runs/{sleeper}/wake-up")
    assert e2e_app.result(sleeper, wait=20) == {"woke": "still registered"}


def test_workflow_inspect_lists_the_runs_with_their_statuses(e2e_app: E2EApp) -> None:
    completed = e2e_app.start("multiStep", 1, 1)
    e2e_app.result(completed)
    failed = e2e_app.start("failsFatally", "for inspect")
    assert e2e_app.outcome(failed)["status"] == "failed"
    running = e2e_app.start("sleepAnHour", "inspected")
    wait_until_sleeping(e2e_app, running)

    out = e2e_app.run_with_app_env("node_modules/.bin/workflow", "inspect", "runs", "--backend",
                                   "pg-workflow-world", "--json", "--limit", "100")
    listed = json.loads(out[out.index("{"):])
    statuses = {run["runId"]: run["status"] for run in listed["data"]}
    assert {completed: "completed", failed: "failed", running: "running"}.items() <= statuses.items(), statuses
    ours = {run["runId"]: run["status"] for run in e2e_app.api("GET", "runs?limit=100")["data"]}
    assert statuses.keys() == ours.keys(), "the CLI lists the runs the API lists"
    ended = {run_id: status for run_id, status in ours.items() if status in ("completed", "failed", "cancelled")}
    assert ended.items() <= statuses.items(), "with the same statuses"
    e2e_app.api("POST", f"runs/{running}/cancel")
