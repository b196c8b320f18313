"""The admin API in multi-tenant mode: quotas (each one reached, then
raised), version status and expiry end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .api import binary, event, new_run
from .k8s_fake import Cluster, cluster, fake_k8s
from .queue_support import HandlerServer, handler_server
from .tenants import admin, app_client, new_bound_app

__all__ = ["cluster", "fake_k8s", "handler_server"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _refused_by_quota(resp: aiohttp.ClientResponse, quota: str) -> None:
    body = await resp.json()
    assert (resp.status, body["code"]) == (429, "WF_QUOTA_EXCEEDED"), body
    assert quota in body["message"]
    assert int(resp.headers["Retry-After"]) >= 1


async def test_quotas_read_and_partial_update(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    status, before = await admin(http, cluster, "GET", f"/{app_id}/quotas")
    assert (status, before) == (200, {"maxRuns": 100000, "maxEventsPerRun": 100000, "maxQueuePerMinute": 600000,
                                      "maxMessageBytes": 262144, "maxQueuedBytes": 1073741824,
                                      "maxStreamBytes": 10737418240, "maxConcurrentRequests": 0}), "the defaults"
    status, after = await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxRuns": 7})
    assert (status, after) == (200, {**before, "maxRuns": 7})
    changes = {"maxMessageBytes": 4096, "maxQueuedBytes": 2**40, "maxStreamBytes": 2**53 - 1,
               "maxConcurrentRequests": 4}
    status, after = await admin(http, cluster, "PUT", f"/{app_id}/quotas", changes)
    assert (status, after) == (200, {**before, "maxRuns": 7, **changes}), "the new quotas, beyond int4 for bytes"
    for field, value in (("maxMessageBytes", 0), ("maxQueuedBytes", 2**53), ("maxStreamBytes", 1.5),
                         ("maxConcurrentRequests", -1), ("maxConcurrentRequests", 100001)):
        status, body = await admin(http, cluster, "PUT", f"/{app_id}/quotas", {field: value})
        assert status == 400 and body["meta"]["field"] == field, (field, value, body)
    status, body = await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxRuns": 3, "maxEventz": 1})
    assert status == 400 and "maxEventz" in body["message"]
    status, body = await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxQueuePerMinute": 0})
    assert status == 400 and body["meta"]["field"] == "maxQueuePerMinute"
    assert (await admin(http, cluster, "GET", f"/{app_id}/quotas"))[1] == after, "a refused update changes nothing"
    assert (await admin(http, cluster, "GET", "/no-such-app/quotas"))[0] == 404


async def test_max_runs(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxRuns": 1})
    async with app_client(cluster, app_id, "tok-a") as client:
        await new_run(client)
        created = {"deploymentId": "d", "workflowName": "w", "input": binary(b"x")}
        async with client.post("runs/null/events", json={"eventType": "run_created", "eventData": created}) as resp:
            await _refused_by_quota(resp, "maxRuns")
        await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxRuns": 2})
        await new_run(client)


async def test_max_events_per_run(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxEventsPerRun": 3})
    async with app_client(cluster, app_id, "tok-a") as client:
        run_id = await new_run(client)  # run_created, run_started
        step = {"stepName": "s", "input": binary(b"i")}
        assert (await event(client, run_id, "step_created", "step_1", step))[0] == 200
        async with client.post(f"runs/{run_id}/events", json={
                "eventType": "step_created", "correlationId": "step_2", "eventData": step}) as resp:
            await _refused_by_quota(resp, "maxEventsPerRun")
        await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxEventsPerRun": 10})
        assert (await event(client, run_id, "step_created", "step_2", step))[0] == 200


async def test_max_queue_per_minute(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxQueuePerMinute": 1})
    message = {"queueName": "__wkf_step_s", "message": {"workflowRunId": "wrun_x"}, "deploymentId": "held-version",
               "delaySeconds": 3600}
    async with app_client(cluster, app_id, "tok-a") as client:
        async with client.post("queue", json=message) as resp:
            assert resp.status == 201
        async with client.post("queue", json=message) as resp:
            await _refused_by_quota(resp, "maxQueuePerMinute")
        await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxQueuePerMinute": 100})
        async with client.post("queue", json=message) as resp:
            assert resp.status == 201


async def test_expiring_a_version(cluster: Cluster, http: aiohttp.ClientSession, handler_server: HandlerServer) -> None:
    app_id = await new_bound_app(http, cluster)
    registration = {"podId": "pod-1", "deploymentVersion": "v1", "endpoints": handler_server.endpoints}
    async with app_client(cluster, app_id, "tok-a") as client:
        async with client.post("handlers", json=registration) as resp:
            assert resp.status == 201, await resp.text()
        run_id = await new_run(client, deployment_id="v1")
        await new_run(client, deployment_id="v2")  # another version is left alone
        status, _ = await event(client, run_id, "hook_created", "hook_1", {"token": f"tok-{run_id}"})
        assert status == 200
        async with client.post("queue", json={"queueName": "__wkf_workflow_w", "message": {"runId": run_id},
                                              "deploymentId": "v1", "delaySeconds": 3600}) as resp:
            assert resp.status == 201
            message_id = (await resp.json())["messageId"]

        status, body = await admin(http, cluster, "GET", f"/{app_id}/versions/v1/status")
        assert (status, body) == (200, {"activeRuns": 1, "pendingHooks": 1, "pendingWaits": 0, "queuedMessages": 1})
        status, body = await admin(http, cluster, "POST", f"/{app_id}/versions/v1/expire")
        assert status == 200, body
        assert body == {"cancelledRuns": 1, "deadLetteredMessages": 1, "removedHandlers": 1}

        status, body = await admin(http, cluster, "GET", f"/{app_id}/versions/v1/status")
        assert body == {"activeRuns": 0, "pendingHooks": 0, "pendingWaits": 0, "queuedMessages": 0}
        async with client.get(f"runs/{run_id}") as resp:
            assert (await resp.json())["status"] == "cancelled"
        async with client.get("runs", params={"deploymentId": "v2"}) as resp:
            assert [r["status"] for r in (await resp.json())["data"]] == ["running"]
        async with client.get("dead-letters") as resp:
            dead = (await resp.json())["data"]
            assert [(m["messageId"], m["lastError"]) for m in dead] == [(message_id, "deployment expired")]
        async with client.post("handlers", json=registration) as resp:
            assert resp.status == 410, "an expired version takes no new handlers"
        # and a tenant cannot expire versions itself
        async with client.post("versions/v2/expire") as resp:
            assert resp.status == 403
    assert handler_server.deliveries == [], "the delayed message was never due"
