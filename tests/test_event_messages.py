"""Events that carry the queue message they make necessary (sqitch change event_messages):
POST /runs/:runId/events with `enqueue` queues the message in the event's transaction and answers
its messageId as `queued`; the message is delivered exactly as sent; a refused event queues nothing."""

from __future__ import annotations

from typing import Any

from .queue_support import HandlerServer, QueueClient, handler_server, queue_client, queue_service, sql

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures

RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5G00"


async def event(qc: QueueClient, event_type: str, correlation_id: str | None = None,
                data: dict[str, Any] | None = None, enqueue: dict[str, Any] | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    if enqueue is not None:
        body["enqueue"] = enqueue
    return await qc.post(f"/runs/{RUN}/events", body)


def step_message(step_id: str) -> dict[str, Any]:
    return {"queueName": "__wkf_step_add", "deploymentId": "v1", "idempotencyKey": step_id,
            "message": {"workflowName": "wf", "workflowRunId": RUN, "workflowStartedAt": 1700000000123,
                        "stepId": step_id, "traceCarrier": {}, "requestedAt": "2026-11-30T05:00:00.000Z"}}


def wake_up() -> dict[str, Any]:
    return {"queueName": "__wkf_workflow_wf", "deploymentId": "v1",
            "message": {"runId": RUN, "traceCarrier": {}, "requestedAt": "2026-11-30T05:00:01.000Z"}}


async def start_run(qc: QueueClient) -> None:
    status, body = await event(qc, "run_created", data={"deploymentId": "v1", "workflowName": "wf", "input": []})
    assert status == 200, body
    assert (await event(qc, "run_started"))[0] == 200


async def test_step_created_and_step_completed_deliver_their_messages_as_sent(
        queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    await start_run(queue_client)

    status, body = await event(queue_client, "step_created", "s1", {"stepName": "add"}, step_message("s1"))
    assert status == 200, body
    assert body["step"]["status"] == "pending"
    step_id = body["queued"]["messageId"]
    assert body["queued"] == {"messageId": step_id, "created": True}
    (delivery,) = await handler_server.wait_for(1)
    assert (delivery.kind, delivery.queue_name, delivery.message_id) == ("step", "__wkf_step_add", step_id)
    assert delivery.message == step_message("s1")["message"]

    # The runtime's own queue() with the step's idempotency key finds the same message: nothing doubled.
    assert await queue_client.enqueue("__wkf_step_add", step_message("s1")["message"], idempotencyKey="s1",
                                      deploymentId="v1") == step_id

    assert (await event(queue_client, "step_started", "s1"))[0] == 200
    status, body = await event(queue_client, "step_completed", "s1", {"result": 2}, wake_up())
    assert status == 200, body
    assert body["step"]["status"] == "completed"
    deliveries = await handler_server.wait_for(2)
    assert (deliveries[1].kind, deliveries[1].message_id) == ("flow", body["queued"]["messageId"])
    assert deliveries[1].message == wake_up()["message"]


async def test_a_refused_event_queues_nothing_and_a_wrong_message_refuses_the_event(
        queue_client: QueueClient) -> None:
    await start_run(queue_client)
    assert (await event(queue_client, "step_created", "s1", {"stepName": "add"}))[0] == 200

    status, body = await event(queue_client, "step_created", "s1", {"stepName": "add"}, step_message("s1"))
    assert status == 409, body
    status, body = await event(queue_client, "step_created", "s2", {"stepName": "add"}, step_message("s1"))
    assert (status, body["code"]) == (400, "WF_BAD_REQUEST"), body
    status, body = await event(queue_client, "step_created", "s2", {"stepName": "add"}, wake_up())
    assert (status, body["code"]) == (400, "WF_BAD_REQUEST"), body
    status, body = await event(queue_client, "wait_created", "w1", {"resumeAt": "2999-01-01T00:00:00Z"}, wake_up())
    assert (status, body["code"]) == (400, "WF_BAD_REQUEST"), body
    assert queue_client.statuses() == {}, "no message was queued"
    rows = sql(queue_client.database_url, "SELECT count(*) FROM workflow.steps WHERE app_id = %s AND step_id = 's2'",
               queue_client.app_id)
    assert rows == [(0,)], "the refused event was not created either"


async def test_without_enqueue_the_answer_is_unchanged(queue_client: QueueClient) -> None:
    await start_run(queue_client)
    status, body = await event(queue_client, "step_created", "s1", {"stepName": "add"})
    assert status == 200, body
    assert "queued" not in body
    assert queue_client.statuses() == {}
