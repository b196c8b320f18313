"""Run actions over real HTTP (SPEC section 5): cancel, replay and wake-up
against a real dispatcher delivering to a real handler server, and a
workflow's template."""

from __future__ import annotations

import urllib.parse
from typing import Any

from .api import binary
from .pgw import Service
from .queue_support import (
    Delivery,
    HandlerServer,
    QueueClient,
    eventually,
    handler_server,
    queue_client,
    queue_service,
    sql,
)

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures

WORKFLOW = "workflow//./src/orders//placeOrder"
UNKNOWN_RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"


async def event(qc: QueueClient, run_id: str | None, event_type: str, correlation_id: str | None = None,
                data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    status, answer = await qc.post(f"/runs/{run_id or 'null'}/events", body)
    assert status == 200, answer
    return answer


async def started_run(qc: QueueClient, workflow: str = WORKFLOW, deployment: str = "v1") -> str:
    created = await event(qc, None, "run_created", data={
        "deploymentId": deployment, "workflowName": workflow, "input": binary(b"devl\x00\x01"),
        "executionContext": {"traceCarrier": {"traceparent": "00-aa-bb-01"}, "workflowCoreVersion": "4.8.9"},
    })
    run_id: str = created["run"]["runId"]
    await event(qc, run_id, "run_started")
    return run_id


async def action(qc: QueueClient, run_id: str, name: str, body: Any = None) -> tuple[int, Any]:
    async with qc.http.post(f"{qc.base}/runs/{run_id}/{name}", json=body) as resp:
        return resp.status, await resp.json()


async def template(qc: QueueClient, workflow: str, **query: str) -> tuple[int, Any]:
    path = f"{qc.base}/workflows/{urllib.parse.quote(workflow, safe='')}/template"
    async with qc.http.get(path, params=query) as resp:
        return resp.status, await resp.json()


def messages_of(qc: QueueClient, run_id: str) -> list[tuple[Any, ...]]:
    return sql(qc.database_url, "SELECT message_id, kind, status, last_error FROM workflow.messages"
               " WHERE app_id = %s AND run_id = %s ORDER BY message_seq", qc.app_id, run_id)


async def test_cancel_ends_the_run_and_dead_letters_its_messages(queue_client: QueueClient) -> None:
    qc = queue_client
    run_id = await started_run(qc)
    await event(qc, run_id, "hook_created", "hook_1", {"token": f"tok-{qc.app_id}"})
    await event(qc, run_id, "wait_created", "wait_1", {"resumeAt": "2099-01-01T00:00:00.000Z"})
    # No handler is registered for v1: the messages wait (held) or are deferred.
    await qc.enqueue(f"__wkf_workflow_{WORKFLOW}", {"runId": run_id}, deploymentId="v1", delaySeconds=3600)
    await qc.enqueue("__wkf_step_charge", {"workflowRunId": run_id, "stepId": "step_1"}, deploymentId="v1")

    status, run = await action(qc, run_id, "cancel")
    assert status == 200, run
    assert (run["runId"], run["status"]) == (run_id, "cancelled")
    assert run["completedAt"]

    async with qc.http.get(f"{qc.base}/runs/{run_id}/events") as resp:
        events = (await resp.json())["data"]
    assert events[-1]["eventType"] == "run_cancelled"
    async with qc.http.get(f"{qc.base}/hooks", params={"runId": run_id}) as resp:
        assert (await resp.json())["data"] == [], "the run's hooks are disposed"
    assert sql(qc.database_url, "SELECT status FROM workflow.waits WHERE app_id = %s", qc.app_id) == [("completed",)]
    assert [(kind, st, err) for _, kind, st, err in messages_of(qc, run_id)] == [
        ("workflow", "dead", "run cancelled"), ("step", "dead", "run cancelled")]
    assert {d["runId"] for d in await qc.dead_letters()} == {run_id}

    status, body = await action(qc, run_id, "cancel")
    assert (status, body["code"], body["meta"]["status"]) == (409, "WF_RUN_TERMINAL", "cancelled")
    status, body = await action(qc, UNKNOWN_RUN, "cancel")
    assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND")


async def test_cancel_of_a_completed_run_is_409_and_changes_nothing(queue_client: QueueClient) -> None:
    qc = queue_client
    run_id = await started_run(qc)
    await event(qc, run_id, "run_completed", data={"output": 7})
    status, body = await action(qc, run_id, "cancel")
    assert (status, body["code"]) == (409, "WF_RUN_TERMINAL")
    async with qc.http.get(f"{qc.base}/runs/{run_id}") as resp:
        assert (await resp.json())["status"] == "completed"


async def test_replay_starts_a_new_run_delivered_to_the_original_deployment(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    qc = queue_client
    await qc.register(handler_server, pod_id="pod-v1", version="v1")
    old = await started_run(qc)
    await event(qc, old, "run_failed", data={"error": {"message": "boom"}})

    status, run = await action(qc, old, "replay")
    assert status == 200, run
    new = run["runId"]
    assert new != old and new.startswith("wrun_") and len(new) == 31
    async with qc.http.get(f"{qc.base}/runs/{old}") as resp:
        source = await resp.json()
    for key in ("workflowName", "deploymentId", "input", "executionContext", "specVersion"):
        assert run[key] == source[key], key
    assert run["status"] == "pending"

    (delivery,) = await handler_server.wait_for(1)
    assert (delivery.kind, delivery.queue_name, delivery.attempt) == ("flow", f"__wkf_workflow_{WORKFLOW}", 1)
    assert delivery.message == {
        "runId": new,
        "traceCarrier": {"traceparent": "00-aa-bb-01"},
        "runInput": {"input": source["input"], "deploymentId": "v1", "workflowName": WORKFLOW,
                     "specVersion": 3, "executionContext": source["executionContext"]},
    }
    async with qc.http.get(f"{qc.base}/runs/{new}/events") as resp:
        assert [e["eventType"] for e in (await resp.json())["data"]] == ["run_created"]

    status, body = await action(qc, UNKNOWN_RUN, "replay")
    assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND")


async def test_wake_up_completes_waits_and_redelivers_the_sleeping_run_now(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    async def sleep_an_hour_once(d: Delivery) -> tuple[int, Any]:
        return (200, {"timeoutSeconds": 3600}) if d.attempt == 1 else (200, {})

    qc = queue_client
    handler_server.respond = sleep_an_hour_once
    await qc.register(handler_server)
    run_id = await started_run(qc)
    await event(qc, run_id, "wait_created", "wait_1", {"resumeAt": "2099-01-01T00:00:00.000Z"})
    message_id = await qc.enqueue(f"__wkf_workflow_{WORKFLOW}", {"runId": run_id}, deploymentId="v1")
    await handler_server.wait_for(1)
    await eventually(lambda: [m[2] for m in messages_of(qc, run_id)] == ["queued"])  # deferred by an hour

    status, body = await action(qc, run_id, "wake-up")
    assert (status, body) == (200, {"stoppedCount": 1})
    # Without the wake-up the next delivery would be an hour away.
    _first, second = await handler_server.wait_for(2, within=5)
    assert (second.message_id, second.attempt, second.message["runId"]) == (message_id, 2, run_id)
    async with qc.http.get(f"{qc.base}/runs/{run_id}/events") as resp:
        last = (await resp.json())["data"][-1]
    assert (last["eventType"], last["correlationId"], last["eventData"]) == (
        "wait_completed", "wait_1", {"resumeAt": "2099-01-01T00:00:00.000Z"})

    status, body = await action(qc, run_id, "wake-up", {})  # an empty JSON body is no body
    assert (status, body) == (200, {"stoppedCount": 0})
    status, body = await action(qc, run_id, "wake-up", {"waitId": "wait_1"})
    assert (status, body["code"], body["meta"]) == (400, "WF_BAD_REQUEST", {"field": "waitId"})
    status, body = await action(qc, UNKNOWN_RUN, "wake-up")
    assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND")


async def test_template_of_the_newest_completed_run(queue_client: QueueClient) -> None:
    qc = queue_client
    workflow = f"workflow//./src/{qc.app_id}//shape"
    status, body = await template(qc, workflow)
    assert (status, body["code"]) == (404, "WF_TEMPLATE_NOT_FOUND")

    run_id = await started_run(qc, workflow)
    await event(qc, run_id, "step_created", "s1", {"stepName": "step//load"})
    await event(qc, run_id, "step_started", "s1")
    await event(qc, run_id, "step_completed", "s1", {"result": 1})
    for sid in ("s2", "s3"):  # awaited together: created in one replay, before either ends
        await event(qc, run_id, "step_created", sid, {"stepName": f"step//fan-{sid}"})
    for sid in ("s2", "s3"):
        await event(qc, run_id, "step_started", sid)
        await event(qc, run_id, "step_completed", sid, {"result": 1})
    await event(qc, run_id, "hook_created", "h1", {"token": f"tpl-{qc.app_id}"})
    await event(qc, run_id, "run_completed", data={"output": 1})

    status, body = await template(qc, workflow)
    assert status == 200, body
    assert body == {
        "steps": [
            {"stepName": "step//load", "order": 1},
            {"stepName": "step//fan-s2", "order": 2, "parallelGroup": 1},
            {"stepName": "step//fan-s3", "order": 2, "parallelGroup": 1},  # same order as s2 (template_order)
        ],
        "hasHooks": True,
        "hasWaits": False,
        "sourceRunId": run_id,
    }
    status, body = await template(qc, workflow, deploymentId="v1")
    assert (status, body["sourceRunId"]) == (200, run_id)
    status, body = await template(qc, workflow, deploymentId="v2")
    assert status == 404


async def test_actions_are_scoped_to_the_app(queue_client: QueueClient, queue_service: Service) -> None:
    qc = queue_client
    run_id = await started_run(qc)
    other = QueueClient(qc.http, queue_service, "default")
    for name in ("cancel", "replay", "wake-up"):
        status, body = await action(other, run_id, name)
        assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND"), name
    async with qc.http.get(f"{qc.base}/runs/{run_id}") as resp:
        assert (await resp.json())["status"] == "running"
