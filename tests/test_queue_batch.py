"""DevKit 5 on the queue over real HTTP (change devkit5_queue): a run's steps on its workflow queue are delivered
in parallel, to the flow route of a handler without a step URL; POST /queue-batches (queueBatch)."""

from __future__ import annotations

import asyncio
from typing import Any

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


def step_message(run_id: str, step: str) -> dict[str, Any]:
    return {"runId": run_id, "stepId": step, "stepName": "step//./src/w//charge",
            "runContext": {"deploymentId": "v5", "specVersion": 7}}


async def register5(client: QueueClient, server: HandlerServer) -> None:
    status, answer = await client.post("/handlers", {"podId": "pod-5", "deploymentVersion": "v5",
                                                     "endpoints": {"workflow": server.endpoints["workflow"]}})
    assert status == 201, answer


async def test_a_runs_steps_run_in_parallel(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    # Each delivery is held until all four (the run's wake-up and three steps) are in the handler at once:
    # only possible if the steps are not serialised behind the run's orchestration message.
    everyone = asyncio.Event()

    async def hold(_: Delivery) -> tuple[int, Any]:
        if len(handler_server.deliveries) >= 4:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 10)
        return 200, {"ok": True}

    handler_server.respond = hold
    await register5(queue_client, handler_server)
    await queue_client.enqueue("__wkf_workflow_order", {"runId": "wrun_P"}, deploymentId="v5")
    status, answer = await queue_client.post("/queue-batches", {"messages": [
        {"queueName": "__wkf_workflow_order", "message": step_message("wrun_P", f"step_{i}"), "deploymentId": "v5",
         "idempotencyKey": f"step_{i}:k"} for i in range(3)]})
    assert status == 201, answer
    deliveries = await handler_server.wait_for(4)
    assert {d.kind for d in deliveries} == {"flow"}, "a DevKit 5 pod gets its steps on the flow route"
    assert sorted(d.message.get("stepId", "-") for d in deliveries) == ["-", "step_0", "step_1", "step_2"]
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"})
    assert len(handler_server.deliveries) == 4, "each message delivered once"
    assert sql(queue_client.database_url, "SELECT kind, count(*) FROM workflow.messages WHERE app_id = %s "
               "GROUP BY kind ORDER BY kind", queue_client.app_id) == [("step", 3), ("workflow", 1)]


async def test_batch_answers_in_order(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    first = await queue_client.enqueue("__wkf_step_s", {"n": 0}, idempotencyKey="k0", deploymentId="v1")
    status, answer = await queue_client.post("/queue-batches", {"messages": [
        {"queueName": "__wkf_step_s", "message": {"n": 1}, "deploymentId": "v1"},
        {"queueName": "__wkf_step_s", "message": {"n": 0}, "idempotencyKey": "k0"},
        {"queueName": "__wkf_workflow_w", "message": {"runId": "wrun_Q"}, "deploymentId": "v1", "delaySeconds": 0.5},
    ]})
    assert status == 201, answer
    results = answer["results"]
    assert [r["created"] for r in results] == [True, False, True]
    assert results[1]["messageId"] == first and all(r["messageId"].startswith("msg_") for r in results)
    again_status, again = await queue_client.post("/queue-batches", {"messages": [
        {"queueName": "__wkf_step_s", "message": {"n": 0}, "idempotencyKey": "k0"}]})
    assert (again_status, again) == (200, {"results": [{"messageId": first, "created": False}]})
    await handler_server.wait_for(3)


async def test_bad_batches_change_nothing(queue_client: QueueClient) -> None:
    good = {"queueName": "__wkf_step_x", "message": {}}
    bad: list[tuple[Any, str]] = [
        ({}, "messages"),
        ({"messages": "x"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [good] * 1001}, "messages"),
        ({"messages": [good, {"queueName": "orders", "message": {}}]}, "messages[1].queueName"),
        ({"messages": [good, good, {"queueName": "__wkf_step_x"}]}, "messages[2].message"),
        ({"messages": [{**good, "delaySeconds": -1}]}, "messages[0].delaySeconds"),
        ({"messages": [good, {**good, "idempotencyKey": ""}]}, "messages[1].idempotencyKey"),
        ({"messages": [good, 5]}, "messages[1]"),
    ]
    for body, field in bad:
        status, answer = await queue_client.post("/queue-batches", body)
        assert (status, answer["code"], answer["meta"].get("field")) == (400, "WF_BAD_REQUEST", field), (field, answer)
    assert queue_client.statuses() == {}


async def test_batch_quota_is_all_or_nothing(queue_client: QueueClient) -> None:
    sql(queue_client.database_url, "UPDATE workflow.apps SET max_queue_per_minute = 3 WHERE app_id = %s",
        queue_client.app_id)
    async with queue_client.http.post(queue_client.base + "/queue-batches", json={"messages": [
            {"queueName": "__wkf_step_s", "message": {"i": i}} for i in range(4)]}) as resp:
        body = await resp.json()
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert body["code"] == "WF_QUOTA_EXCEEDED"
    assert queue_client.statuses() == {}, "a refused batch writes nothing"


async def test_a_batch_of_steps_is_one_insert_and_counted(queue_client: QueueClient,
                                                          handler_server: HandlerServer) -> None:
    """No entry can merge into a wake-up (steps, keyed): stored by one statement, answers and counts as one by one."""
    await queue_client.register(handler_server)
    first = await queue_client.enqueue("__wkf_step_s", {"n": 0}, idempotencyKey="s0", deploymentId="v1")
    status, answer = await queue_client.post("/queue-batches", {"messages": [
        {"queueName": "__wkf_step_s", "message": {"n": 1}, "deploymentId": "v1"},
        {"queueName": "__wkf_step_s", "message": {"n": 0}, "idempotencyKey": "s0"},
        {"queueName": "__wkf_step_s", "message": {"n": 2}, "idempotencyKey": "s2", "deploymentId": "v1"},
        {"queueName": "__wkf_step_s", "message": {"n": 3}, "idempotencyKey": "s2"},
    ]})
    assert status == 201, answer
    results = answer["results"]
    assert [r["created"] for r in results] == [True, False, True, False]
    assert results[1]["messageId"] == first and results[3]["messageId"] == results[2]["messageId"]
    await handler_server.wait_for(3)
    stored = sql(queue_client.database_url,
                 "SELECT (SELECT t.queued_bytes FROM workflow.app_bytes(%s) t),"
                 " coalesce(sum(payload_bytes) FILTER (WHERE status IN ('queued', 'held', 'claimed')), 0)"
                 " FROM workflow.messages WHERE app_id = %s", queue_client.app_id, queue_client.app_id)
    assert stored[0][0] == stored[0][1], "the counter holds what is still undelivered"

    before = queue_client.statuses()
    sql(queue_client.database_url, "UPDATE workflow.apps SET max_queued_bytes = 100 WHERE app_id = %s",
        queue_client.app_id)
    status, answer = await queue_client.post("/queue-batches", {"messages": [
        {"queueName": "__wkf_step_s", "message": {"pad": "x" * 60}, "deploymentId": "v1"} for _ in range(3)]})
    assert (status, answer["code"], answer["meta"].get("quota")) == (429, "WF_QUOTA_EXCEEDED", "maxQueuedBytes"), answer
    assert queue_client.statuses() == before, "a refused batch writes nothing"
