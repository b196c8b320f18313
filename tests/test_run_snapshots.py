"""Run snapshots (sqitch change run_snapshots): a pod registered with the feature "run-started" gets each
workflow message of a running run followed by the run's run_started answer, framed by the header
x-pgw-run-started (the message's length in bytes); other pods get the message alone."""

from __future__ import annotations

import json
from typing import Any

from .queue_support import HandlerServer, QueueClient, handler_server, queue_client, queue_service, sql

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures

RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5M00"


async def running_run(qc: QueueClient) -> dict[str, Any]:
    status, body = await qc.post(f"/runs/{RUN}/events", {
        "eventType": "run_created", "specVersion": 3,
        "eventData": {"deploymentId": "v1", "workflowName": "wf", "input": [1, "é"]}})
    assert status == 200, body
    status, body = await qc.post(f"/runs/{RUN}/events", {"eventType": "run_started", "specVersion": 3})
    assert status == 200, body
    return body


async def register(qc: QueueClient, server: HandlerServer, features: list[str] | None) -> tuple[int, Any]:
    body: dict[str, Any] = {"podId": "pod-1", "deploymentVersion": "v1", "endpoints": server.endpoints}
    if features is not None:
        body["features"] = features
    return await qc.post("/handlers", body)


async def test_a_pod_with_the_feature_gets_the_run_started_answer_after_the_message(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    registered = await register(queue_client, handler_server, ["run-started"])
    assert registered == (201, {"registered": True, "ttlSeconds": 60})
    await running_run(queue_client)
    message = {"runId": RUN, "traceCarrier": {}, "requestedAt": "2026-11-30T07:00:00.000Z", "note": "ü"}
    await queue_client.enqueue("__wkf_workflow_wf", message, deploymentId="v1")
    (delivery,) = await handler_server.wait_for(1)
    assert delivery.message == message, "the message itself is unchanged"
    assert delivery.run_started is not None
    # What the runtime's run_started would have been answered at that moment (nothing has changed since).
    status, now = await queue_client.post(f"/runs/{RUN}/events", {"eventType": "run_started", "specVersion": 3})
    assert status == 200
    assert json.loads(delivery.run_started) == now
    assert now["run"]["status"] == "running" and now["hasMore"] is False


async def test_a_pod_without_the_feature_gets_the_message_alone(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    assert await register(queue_client, handler_server, None) == (201, {"registered": True, "ttlSeconds": 60})
    await running_run(queue_client)
    await queue_client.enqueue("__wkf_workflow_wf", {"runId": RUN}, deploymentId="v1")
    (delivery,) = await handler_server.wait_for(1)
    assert (delivery.message, delivery.run_started) == ({"runId": RUN}, None)


async def test_an_unknown_feature_is_refused_and_changes_nothing(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    status, body = await register(queue_client, handler_server, ["run-started", "teleport"])
    assert status == 400, body
    assert "teleport" in body["message"]
    status, body = await register(queue_client, handler_server, ["x" * 65])
    assert status == 400 and "features" in body["message"], body
    status, body = await queue_client.post("/handlers", {"podId": "p", "endpoints": handler_server.endpoints,
                                                         "features": "run-started"})
    assert status == 400 and "features" in body["message"], body
    assert sql(queue_client.database_url, "SELECT count(*) FROM workflow.handlers WHERE app_id = %s",
               queue_client.app_id) == [(0,)]
