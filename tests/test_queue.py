"""Queue over real HTTP (SPEC section 6): enqueue, delivery protocol,
delays, redelivery, retries, dead letters, idempotency, routing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from .pgw import Service
from .queue_support import (
    Delivery,
    HandlerServer,
    QueueClient,
    eventually,
    handler_server,
    new_app,
    queue_client,
    queue_service,
    sql,
)

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures


async def test_immediate_delivery_protocol(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    wf_message = {"runId": "wrun_1", "runInput": {"input": {"__type": "Uint8Array", "data": "ZGV2bAA="}}}
    started = time.monotonic()
    status, body = await queue_client.post(
        "/queue", {"queueName": "__wkf_workflow_order", "message": wf_message, "deploymentId": "v1"})
    assert status == 201 and body["messageId"].startswith("msg_") and len(body["messageId"]) == 30
    step_id = await queue_client.enqueue(
        "__ns_wkf_step_charge", {"workflowRunId": "wrun_1", "stepId": "step_1"}, deploymentId="v1")

    flow, step = sorted(await handler_server.wait_for(2), key=lambda d: d.kind)
    assert (flow.kind, flow.queue_name, flow.message_id, flow.attempt) == (
        "flow", "__wkf_workflow_order", body["messageId"], 1)
    assert flow.message == wf_message
    assert (step.kind, step.queue_name, step.message_id, step.attempt) == ("step", "__ns_wkf_step_charge", step_id, 1)
    assert max(flow.at, step.at) - started < 1.0
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"})



async def test_registration_without_a_step_url(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    # A DevKit 5 handler has only the flow route (steps travel on the workflow queue): no endpoints.step.
    flow_url = handler_server.endpoints["workflow"]
    status, answer = await queue_client.post("/handlers", {"podId": "pod-5", "deploymentVersion": "v5",
                                                           "endpoints": {"workflow": flow_url}})
    assert (status, answer) == (201, {"registered": True, "ttlSeconds": 60}), answer
    assert sql(queue_client.database_url, "SELECT step_url FROM workflow.handlers WHERE app_id = %s AND pod_id = %s",
               queue_client.app_id, "pod-5") == [(flow_url,)]
    await queue_client.enqueue("__wkf_workflow_order", {"runId": "wrun_5", "stepId": "step_1", "stepName": "s"},
                               deploymentId="v5")
    # A step-kind message (a step queue, which DevKit 5 never uses) is still delivered: to the flow route.
    await queue_client.enqueue("__wkf_step_charge", {"workflowRunId": "wrun_5", "stepId": "step_2"},
                               deploymentId="v5")
    deliveries = await handler_server.wait_for(2)
    assert sorted((d.kind, d.queue_name) for d in deliveries) == [
        ("flow", "__wkf_step_charge"), ("flow", "__wkf_workflow_order")]
    # The flow endpoint is still required, and checked.
    for endpoints in ({}, {"step": flow_url}, {"workflow": "ftp://x.invalid/flow"}):
        status, body = await queue_client.post("/handlers", {"podId": "pod-6", "endpoints": endpoints})
        assert status == 400 and body["meta"]["field"].startswith("endpoints"), (endpoints, body)

async def test_delay_seconds_honoured(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    sent: dict[str, tuple[float, float]] = {}
    for delay in (1.5, 0.4, 1):
        sent[await queue_client.enqueue("__wkf_step_s", {"workflowRunId": "r", "d": delay},
                                        deploymentId="v1", delaySeconds=delay)] = (time.monotonic(), delay)
    deliveries = await handler_server.wait_for(3, within=5)
    for d in deliveries:
        enqueued_at, delay = sent[d.message_id]
        assert abs((d.at - enqueued_at) - delay) <= 0.2, (d.at - enqueued_at, delay)
    assert [d.message["d"] for d in deliveries] == [0.4, 1, 1.5]


async def test_timeout_seconds_redelivers_same_message(queue_client: QueueClient,
                                                       handler_server: HandlerServer) -> None:
    async def sleep_once(d: Delivery) -> tuple[int, Any]:
        return (200, {"timeoutSeconds": 0.5}) if d.attempt == 1 else (200, {"ok": True})

    handler_server.respond = sleep_once
    await queue_client.register(handler_server)
    message_id = await queue_client.enqueue("__wkf_workflow_w", {"runId": "wrun_t"}, deploymentId="v1")
    first, second = await handler_server.wait_for(2, within=5)
    assert (first.message_id, first.attempt) == (message_id, 1)
    assert (second.message_id, second.attempt) == (message_id, 2)
    assert 0.45 <= second.at - first.at <= 0.8
    await eventually(lambda: queue_client.statuses() == {message_id: "delivered"})
    await asyncio.sleep(0.3)
    assert len(handler_server.deliveries) == 2


async def test_failures_retry_then_dead_letter_then_retry(queue_client: QueueClient,
                                                           handler_server: HandlerServer) -> None:
    healthy = False

    async def failing(_: Delivery) -> tuple[int, Any]:
        return (200, {"ok": True}) if healthy else (500, {"error": "boom"})

    handler_server.respond = failing
    await queue_client.register(handler_server)
    message_id = await queue_client.enqueue("__wkf_step_s", {"workflowRunId": "r", "stepId": "s"}, deploymentId="v1")
    deliveries = await handler_server.wait_for(3, within=5)
    assert [(d.message_id, d.attempt) for d in deliveries] == [(message_id, 1), (message_id, 2), (message_id, 3)]
    await eventually(lambda: queue_client.statuses() == {message_id: "dead"})
    await asyncio.sleep(0.4)
    assert len(handler_server.deliveries) == 3, "no delivery after the maximum attempts"

    (dead,) = await queue_client.dead_letters()
    assert dead["messageId"] == message_id and dead["status"] == "dead" and dead["attempt"] == 3
    assert dead["lastError"].startswith("HTTP 500") and dead["message"] == {"workflowRunId": "r", "stepId": "s"}

    healthy = True
    status, body = await queue_client.post(f"/dead-letters/{message_id}/retry", {})
    assert status == 200 and body["status"] == "queued" and body["attempt"] == 0
    retried = (await handler_server.wait_for(4, within=5))[3]
    assert (retried.message_id, retried.attempt) == (message_id, 1), "a retry resets the attempt count"
    await eventually(lambda: queue_client.statuses() == {message_id: "delivered"})
    assert await queue_client.dead_letters() == []
    status, body = await queue_client.post(f"/dead-letters/{message_id}/retry", {})
    assert status == 409 and body["code"] == "WF_MESSAGE_NOT_DEAD"
    status, body = await queue_client.post("/dead-letters/msg_nope/retry", {})
    assert status == 404 and body["code"] == "WF_MESSAGE_NOT_FOUND"


async def test_dead_letters_paginate(queue_client: QueueClient) -> None:
    sql(queue_client.database_url, "SELECT workflow.expire_version(%s, 'gone')", queue_client.app_id)
    ids = [await queue_client.enqueue("__wkf_step_s", {"i": i}, deploymentId="gone") for i in range(5)]
    async with queue_client.http.get(queue_client.base + "/dead-letters?limit=2&sortOrder=asc") as resp:
        page = await resp.json()
    assert [m["messageId"] for m in page["data"]] == ids[:2] and page["hasMore"] is True
    next_page = f"/dead-letters?limit=3&sortOrder=asc&cursor={page['cursor']}"
    async with queue_client.http.get(queue_client.base + next_page) as resp:
        page = await resp.json()
    assert [m["messageId"] for m in page["data"]] == ids[2:] and page["hasMore"] is False


async def test_idempotency_key(queue_service: Service, queue_client: QueueClient,
                               handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    body = {"queueName": "__wkf_step_s", "message": {"workflowRunId": "r", "stepId": "s1"},
            "deploymentId": "v1", "idempotencyKey": "step-s1"}
    first = await queue_client.post("/queue", body)
    second = await queue_client.post("/queue", body)
    assert first[0] == 201 and second == (200, first[1])
    await handler_server.wait_for(1)
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"})
    assert await queue_client.post("/queue", body) == (200, first[1]), "recently delivered: still deduplicated"
    await asyncio.sleep(0.2)
    assert len(handler_server.deliveries) == 1

    async with aiohttp.ClientSession() as http:
        other = QueueClient(http, queue_service, new_app(queue_service.database_url))
        status, answer = await other.post("/queue", body)
        assert status == 201 and answer != first[1], "idempotency keys are per app"


async def test_no_handler_holds_until_registration(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    message_id = await queue_client.enqueue("__wkf_step_s", {"workflowRunId": "r"}, deploymentId="v2")
    await eventually(lambda: queue_client.statuses() == {message_id: "held"})
    await asyncio.sleep(0.3)
    assert sql(queue_client.database_url, "SELECT attempt, failures FROM workflow.messages WHERE message_id = %s",
               message_id) == [(0, 0)], "waiting burns no attempt"
    registered = time.monotonic()
    await queue_client.register(handler_server, version="v2")
    (delivery,) = await handler_server.wait_for(1)
    assert (delivery.message_id, delivery.attempt) == (message_id, 1) and delivery.at - registered < 1.0


async def test_default_deployment(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server, pod_id="local-pod", version="local")
    first = await queue_client.enqueue("__wkf_step_s", {"n": 1})
    await handler_server.wait_for(1)
    unversioned = await HandlerServer().start()
    try:
        await queue_client.register(unversioned, pod_id="plain-pod", version=None)
        second = await queue_client.enqueue("__wkf_step_s", {"n": 2})
        (delivery,) = await unversioned.wait_for(1)
        assert delivery.message_id == second
    finally:
        await unversioned.stop()
    rows = dict(sql(queue_client.database_url,
                    "SELECT message_id, deployment_id FROM workflow.messages WHERE app_id = %s", queue_client.app_id))
    assert rows == {first: "local", second: None}


async def test_expired_version(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    held = await queue_client.enqueue("__wkf_step_s", {"n": 1}, deploymentId="old")
    await eventually(lambda: queue_client.statuses() == {held: "held"})
    (result,) = sql(queue_client.database_url, "SELECT workflow.expire_version(%s, 'old')", queue_client.app_id)
    assert result[0] == {"cancelledRuns": 0, "deadLetteredMessages": 1, "removedHandlers": 0}
    late = await queue_client.enqueue("__wkf_step_s", {"n": 2}, deploymentId="old")
    assert queue_client.statuses() == {held: "dead", late: "dead"}
    assert {m["lastError"] for m in await queue_client.dead_letters()} == {"deployment expired"}
    status, body = await queue_client.post(
        "/handlers", {"podId": "p", "deploymentVersion": "old", "endpoints": handler_server.endpoints})
    assert status == 410 and body["code"] == "WF_DEPLOYMENT_EXPIRED"
    status, body = await queue_client.post(f"/dead-letters/{late}/retry", {})
    assert status == 410
    assert handler_server.deliveries == []


async def test_unregister(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    async with queue_client.http.delete(queue_client.base + "/handlers/pod-1") as resp:
        assert resp.status == 200 and await resp.json() == {"deregistered": True}
    async with queue_client.http.delete(queue_client.base + "/handlers/pod-1") as resp:
        assert resp.status == 200 and await resp.json() == {"deregistered": False}
    message_id = await queue_client.enqueue("__wkf_step_s", {"n": 1}, deploymentId="v1")
    await eventually(lambda: queue_client.statuses() == {message_id: "held"})
    status, _ = await queue_client.post(
        "/handlers", {"machineId": "pod-2", "deploymentVersion": "v1", "endpoints": handler_server.endpoints})
    assert status == 201
    assert (await handler_server.wait_for(1))[0].message_id == message_id


async def test_refusing_pod_is_skipped_then_dropped(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    dead_pod = await HandlerServer().start()
    await dead_pod.stop()  # its port now refuses connections
    status, _ = await queue_client.post(
        "/handlers", {"podId": "dead-pod", "deploymentVersion": "v1", "endpoints": dead_pod.endpoints})
    assert status == 201
    await queue_client.register(handler_server, pod_id="live-pod")
    ids = {await queue_client.enqueue("__wkf_step_s", {"i": i}, deploymentId="v1") for i in range(20)}
    deliveries = await handler_server.wait_for(20, within=10)
    assert {d.message_id for d in deliveries} == ids
    assert {d.attempt for d in deliveries} == {1}, "a refused connection is not an attempt"
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"})
    # Still refusing after the grace period (1.5 s here): the registration is dropped.
    await asyncio.sleep(1.6)
    for i in range(3):
        await queue_client.enqueue("__wkf_step_s", {"late": i}, deploymentId="v1")
    await handler_server.wait_for(23, within=10)

    def dropped() -> bool:
        pods = sql(queue_client.database_url, "SELECT pod_id FROM workflow.handlers WHERE app_id = %s",
                   queue_client.app_id)
        return pods == [("live-pod",)]

    await eventually(dropped)


async def test_bad_input_changes_nothing(queue_client: QueueClient) -> None:
    # Shape refusals name the field (WF_BAD_REQUEST, meta.field) before SQL runs.
    bad = [
        ({"queueName": "orders", "message": {}}, "queueName"),
        ({"queueName": "__wkf_job_x", "message": {}}, "queueName"),
        ({"queueName": "__Bad_wkf_step_x", "message": {}}, "queueName"),
        ({"queueName": "__wkf_step_", "message": {}}, "queueName"),
        ({"message": {}}, "queueName"),
        ({"queueName": 5, "message": {}}, "queueName"),
        ({"queueName": "__wkf_step_x", "message": [1]}, "message"),
        ({"queueName": "__wkf_step_x", "message": "hi"}, "message"),
        ({"queueName": "__wkf_step_x"}, "message"),
        ({"queueName": "__wkf_step_x", "message": {}, "delaySeconds": -1}, "delaySeconds"),
        ({"queueName": "__wkf_step_x", "message": {}, "delaySeconds": "5"}, "delaySeconds"),
        ({"queueName": "__wkf_step_x", "message": {}, "delaySeconds": True}, "delaySeconds"),
        ({"queueName": "__wkf_step_x", "message": {}, "delaySeconds": 1e12}, "delaySeconds"),
        ({"queueName": "__wkf_step_x", "message": {}, "deploymentId": ""}, "deploymentId"),
        ({"queueName": "__wkf_step_x", "message": {}, "idempotencyKey": 7}, "idempotencyKey"),
    ]
    for body, field in bad:
        status, answer = await queue_client.post("/queue", body)
        assert (status, answer["code"], answer["meta"]) == (400, "WF_BAD_REQUEST", {"field": field}), (body, answer)
        assert answer["statusCode"] == 400 and field in answer["message"]
    for raw in (b"{nope", b"", b"[1,2]", b'{"queueName": "__wkf_step_x", "message": {}, "delaySeconds": NaN}'):
        async with queue_client.http.post(queue_client.base + "/queue", data=raw,
                                          headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400, raw
            assert (await resp.json())["statusCode"] == 400
    handler_bad = [
        {"deploymentVersion": "v1", "endpoints": {"workflow": "http://a/f", "step": "http://a/s"}},
        {"podId": "p", "endpoints": {"workflow": "ftp://a/f", "step": "http://a/s"}},
        {"podId": "p", "endpoints": {"step": "http://a/s"}},  # the flow URL is required (a step URL is not)
        {"podId": "p/q", "endpoints": {"workflow": "http://a/f", "step": "http://a/s"}},
        {"podId": "p", "deploymentVersion": "v1"},
    ]
    for body in handler_bad:
        status, answer = await queue_client.post("/handlers", body)
        assert status == 400, (body, answer)
    assert queue_client.statuses() == {}
    assert sql(queue_client.database_url, "SELECT count(*) FROM workflow.handlers WHERE app_id = %s",
               queue_client.app_id) == [(0,)]


async def test_unknown_app(queue_service: Service) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(queue_service.url + "/api/v1/apps/nope/queue",
                             json={"queueName": "__wkf_step_x", "message": {}}) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == "WF_APP_NOT_FOUND"


async def test_rate_quota(queue_client: QueueClient) -> None:
    sql(queue_client.database_url, "UPDATE workflow.apps SET max_queue_per_minute = 3 WHERE app_id = %s",
        queue_client.app_id)
    for i in range(3):
        await queue_client.enqueue("__wkf_step_s", {"i": i})
    async with queue_client.http.post(queue_client.base + "/queue",
                                      json={"queueName": "__wkf_step_s", "message": {"i": 3}}) as resp:
        body = await resp.json()
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert body["code"] == "WF_QUOTA_EXCEEDED" and "maxQueuePerMinute" in body["message"]
    assert body["meta"]["quota"] == "maxQueuePerMinute" and body["meta"]["limit"] == 3
    assert len(queue_client.statuses()) == 3, "a refused enqueue writes nothing"
