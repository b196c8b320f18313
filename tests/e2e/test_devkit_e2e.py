"""A real Workflow DevKit app (workflow 4.8.9, built with `wf build`) running on
pg-workflow through the pg-workflow-world client: the runtime's own behaviour,
observed from outside through the app's control routes and the service API."""

from __future__ import annotations

import time
import urllib.request
import uuid

import pytest

from .conftest import ControlError, E2EApp, tagged, untag


def event_types(events: list[dict]) -> list[str]:
    return [e["eventType"] for e in events]


def test_world_is_the_pg_workflow_client(e2e_app: E2EApp) -> None:
    world = e2e_app.control("GET", "world")
    assert world["specVersion"] == 3
    assert world["deploymentId"] == e2e_app.deployment_id
    assert world["config"]["serviceUrl"] == e2e_app.service.url
    assert world["config"]["appUrl"] == e2e_app.url


@pytest.mark.parametrize("endpoint", ["workflow", "step"])
def test_devkit_health_check(e2e_app: E2EApp, endpoint: str) -> None:
    # The runtime's health check queues {__healthCheck, correlationId} on
    # __wkf_<endpoint>_health_check; the handler answers by writing and closing a
    # __health_check__<correlationId> stream for a run that does not exist.
    health = e2e_app.control("GET", f"health/{endpoint}?timeoutMs=20000", timeout=40)
    assert health["healthy"] is True, health
    assert health["specVersion"] == 3
    assert health["workflowCoreVersion"] == "4.8.9"


def test_multi_step_result_and_event_log(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("multiStep", 2, 3)
    assert e2e_app.result(run_id) == {"sum": 5, "product": 15, "text": "sum=5 product=15"}

    run = e2e_app.api("GET", f"runs/{run_id}")
    assert run["status"] == "completed"
    assert run["deploymentId"] == e2e_app.deployment_id
    assert run["workflowName"].endswith("//multiStep")
    assert run["specVersion"] == 3

    types = event_types(e2e_app.events(run_id))
    assert types[:2] == ["run_created", "run_started"]
    assert types[-1] == "run_completed"
    assert types.count("step_created") == types.count("step_completed") == 3

    steps = e2e_app.api("GET", f"runs/{run_id}/steps")["data"]
    assert len(steps) == 3
    assert all(s["status"] == "completed" and s["attempt"] == 1 for s in steps)
    # events.listByCorrelationId through the client: one step's own history.
    step_id = steps[0]["stepId"]
    history = e2e_app.control("GET", f"correlation/{step_id}?runId={run_id}")["events"]
    assert event_types(history) == ["step_created", "step_started", "step_completed"]


def test_replays_take_the_event_log_from_run_started(e2e_app: E2EApp) -> None:
    # run_started answers with the whole log, so the runtime never needs to list
    # events while replaying a run without sleeps (one round trip per replay saved).
    e2e_app.control("POST", "reads/reset")
    assert e2e_app.run("sequentialSteps", 5) == list(range(5))
    reads = e2e_app.control("GET", "reads")
    assert not any(key.startswith("events.") for key in reads), reads


def test_ten_sequential_and_ten_parallel_steps(e2e_app: E2EApp) -> None:
    sequential = e2e_app.start("sequentialSteps", 10)
    parallel = e2e_app.start("parallelSteps", 10)
    assert e2e_app.result(sequential) == list(range(10))
    assert e2e_app.result(parallel) == list(range(10))
    for run_id in (sequential, parallel):
        steps = e2e_app.api("GET", f"runs/{run_id}/steps?limit=100")["data"]
        assert len(steps) == 10
        assert all(s["status"] == "completed" for s in steps)


def test_more_than_a_hundred_steps_in_one_run(e2e_app: E2EApp) -> None:
    n = 110
    result = e2e_app.run("manySteps", n, wait=120)
    assert result == {"count": n, "total": n * (n - 1)}


def test_hook_token_resumed_several_times_and_claimed_twice(e2e_app: E2EApp) -> None:
    token = f"e2e-token-{uuid.uuid4().hex}"
    owner = e2e_app.start("hookCollector", token, 3)
    e2e_app.wait_for(lambda: e2e_app.control("GET", f"runs/{owner}/hooks")["hooks"], "the hook to be created")
    hook = e2e_app.api("GET", f"hooks/by-token/{token}")
    assert hook["runId"] == owner

    # A second run asking for a live token gets a hook_conflict, which the
    # runtime turns into HookConflictError inside the workflow.
    rival = e2e_app.start("hookCollector", token, 1)
    rival_result = e2e_app.result(rival)
    assert rival_result["conflict"] is True
    assert rival_result["errorName"] == "HookConflictError"
    assert "hook_conflict" in event_types(e2e_app.events(rival))

    for i in range(3):
        resumed = e2e_app.control(
            "POST", "hooks/resume", {"token": token, "payload": {"n": i, "bytes": tagged(b"\0" * i)}}
        )
        assert resumed["runId"] == owner
    result = e2e_app.result(owner)
    assert result["conflict"] is False
    assert [p["n"] for p in result["payloads"]] == [0, 1, 2]
    assert [untag(p["bytes"]) for p in result["payloads"]] == [b"", b"\0", b"\0\0"]

    # The finished run released its token: resuming it now is a 404, and a new
    # run may claim it.
    with pytest.raises(ControlError) as missing:
        e2e_app.control("POST", "hooks/resume", {"token": token, "payload": {"n": 9}})
    assert missing.value.status == 404
    successor = e2e_app.start("hookCollector", token, 1)
    e2e_app.wait_for(lambda: e2e_app.control("GET", f"runs/{successor}/hooks")["hooks"], "the successor's hook")
    e2e_app.control("POST", "hooks/resume", {"token": token, "payload": {"n": 42}})
    assert e2e_app.result(successor) == {"conflict": False, "payloads": [{"n": 42}]}


def test_webhook_endpoint_resumes_a_run(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("webhookOnce")
    hooks = e2e_app.wait_for(lambda: e2e_app.control("GET", f"runs/{run_id}/hooks")["hooks"], "the webhook")
    assert hooks[0]["isWebhook"] is True
    req = urllib.request.Request(
        f"{e2e_app.url}/.well-known/workflow/v1/webhook/{hooks[0]['token']}", data=b"hello webhook", method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
    assert e2e_app.result(run_id) == {"method": "POST", "body": "hello webhook"}


def test_binary_values_round_trip_byte_exact(e2e_app: E2EApp) -> None:
    payload = b"\0" + bytes(range(256)) + b"\0\0"
    result = e2e_app.run("binaryRoundTrip", tagged(payload))
    assert untag(result["input"]) == payload
    assert untag(result["reversed"]) == payload[::-1]
    assert untag(result["padded"]) == b"\0" + payload + b"\0"
    assert result["length"] == len(payload)
    assert result["text"] == "nul:\0:end"


def test_retryable_error_waits_for_retry_after_and_fatal_error_is_caught(e2e_app: E2EApp) -> None:
    retry_after_ms = 2000
    run_id = e2e_app.start("retryThenCatchFatal", uuid.uuid4().hex, retry_after_ms)
    result = e2e_app.result(run_id, wait=60)
    first, second = result["flaky"]["times"]
    assert result["flaky"]["attempt"] == 2
    assert retry_after_ms <= second - first < retry_after_ms + 1500, second - first
    assert result["fatal"] == {"caught": True, "name": "FatalError", "message": "fatal on purpose"}

    types = event_types(e2e_app.events(run_id))
    assert "step_retrying" in types
    assert "step_failed" in types
    assert types[-1] == "run_completed"


def test_uncaught_fatal_error_fails_the_run(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("failsFatally", "broken on purpose")
    outcome = e2e_app.outcome(run_id)
    assert outcome["status"] == "failed"
    assert "broken on purpose" in outcome["error"]["message"]
    assert e2e_app.api("GET", f"runs/{run_id}")["status"] == "failed"


def test_sleep_resumes_on_time(e2e_app: E2EApp) -> None:
    sleep_ms = 2000
    result = e2e_app.run("sleepThenReport", sleep_ms, wait=30)
    elapsed = result["after"] - result["before"]
    assert sleep_ms <= elapsed < sleep_ms + 1000, elapsed


def test_cancel_during_sleep(e2e_app: E2EApp) -> None:
    run_id = e2e_app.start("sleepThenReport", 60_000)
    e2e_app.wait_for(lambda: "wait_created" in event_types(e2e_app.events(run_id)), "the sleep to start")
    e2e_app.control("POST", f"runs/{run_id}/cancel")
    assert e2e_app.outcome(run_id, wait=10)["status"] == "cancelled"

    time.sleep(1.5)  # nothing may run after the cancellation
    types = event_types(e2e_app.events(run_id))
    assert types[-1] == "run_cancelled"
    assert types.count("step_completed") == 1
    assert e2e_app.api("GET", f"runs/{run_id}")["status"] == "cancelled"


def test_streamed_output_is_read_in_order(e2e_app: E2EApp) -> None:
    n = 25
    run_id = e2e_app.start("streamValues", n)
    values = e2e_app.control("GET", f"runs/{run_id}/stream?timeoutMs=20000", timeout=40)["values"]
    assert values == [{"i": i, "text": f"chunk-{i}"} for i in range(n)]
    assert e2e_app.result(run_id) == {"written": n}
    names = e2e_app.api("GET", f"runs/{run_id}/streams")
    assert len(names) == 1


def test_child_workflow_started_from_a_step(e2e_app: E2EApp) -> None:
    result = e2e_app.run("parentWithChild", 7, wait=60)
    assert result["childResult"] == 21
    child = e2e_app.api("GET", f"runs/{result['childRunId']}")
    assert child["status"] == "completed"
    assert child["workflowName"].endswith("//childTriple")
    assert child["deploymentId"] == e2e_app.deployment_id
