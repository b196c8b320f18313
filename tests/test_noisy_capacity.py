"""Noisy neighbours, shared capacity (issue 16): two apps in one multi-tenant
service. App A's burst of heavy reads is capped per app (429 at once) so app
B keeps its latency; message size, undelivered bytes and stream storage are
quotas; stream NOTIFYs carry no tenant names."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest

from .api import new_run
from .k8s_fake import Cluster, cluster, fake_k8s
from .tenants import admin, app_client, new_bound_app

__all__ = ["cluster", "fake_k8s"]

BURST = 200  # concurrent heavy reads of app A
SAMPLES = 40  # app B's requests per phase


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _sql(cluster: Cluster, query: str, *args: Any) -> Any:
    with psycopg.connect(cluster.service.database_url, autocommit=True) as conn:
        row = conn.execute(query, args).fetchone()
        return None if row is None else row[0]


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def _quota_refusal(resp: aiohttp.ClientResponse, status: int, quota: str) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == status, body
    assert body["meta"]["quota"] == quota and quota in body["message"], body
    if status == 429:
        assert body["code"] == "WF_QUOTA_EXCEEDED" and int(resp.headers["Retry-After"]) >= 1
    else:
        assert body["code"] == "WF_PAYLOAD_TOO_LARGE"
    return body


async def test_heavy_reads_of_one_app_leave_the_other_its_latency(cluster: Cluster,
                                                                  http: aiohttp.ClientSession) -> None:
    app_a = await new_bound_app(http, cluster, "team-a")
    app_b = await new_bound_app(http, cluster, "team-b")
    async with app_client(cluster, app_a, "tok-a") as a, app_client(cluster, app_b, "tok-b") as b:
        run_a = await new_run(a)
        run_b = await new_run(b)
    # A's run has as many streams as a listing returns (1000): each read of them is heavy.
    _sql(cluster, """SELECT count(workflow.write_stream(%s, %s, 'stream-' || n, ARRAY['\\x00'::bytea]))
                       FROM (SELECT set_config('workflow.app_id', %s, false)) s, generate_series(1, 1000) n""",
         app_a, run_a, app_a)

    async def b_latencies() -> tuple[list[float], Counter[int]]:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        async with app_client(cluster, app_b, "tok-b") as b:
            for _ in range(SAMPLES):
                started = time.perf_counter()
                async with b.get(f"runs/{run_b}") as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                latencies.append(time.perf_counter() - started)
        return latencies, statuses

    baseline, statuses = await b_latencies()
    assert statuses == Counter({200: SAMPLES})

    a_statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def a_burst(client: aiohttp.ClientSession) -> None:
        async def one() -> None:
            async with client.get(f"runs/{run_a}/streams") as resp:
                body = await resp.json()
                a_statuses[resp.status] += 1
                if resp.status == 200:
                    assert len(body) == 1000
                else:
                    assert body["meta"].get("quota") == "maxConcurrentRequests", body
                    assert int(resp.headers["Retry-After"]) >= 1
        for _ in range(20):  # bursts until B has its samples (bounded)
            await asyncio.gather(*(one() for _ in range(BURST)))
            if stop.is_set():
                return

    connector = aiohttp.TCPConnector(limit=0)  # really 200 at once
    async with aiohttp.ClientSession(base_url=f"{cluster.service.url}/api/v1/apps/{app_a}/",
                                     headers={"Authorization": "Bearer tok-a"}, connector=connector) as a:
        noise = asyncio.create_task(a_burst(a))
        await asyncio.sleep(0.2)  # A's first burst is under way
        loaded, statuses = await b_latencies()
        stop.set()
        await asyncio.wait_for(noise, 120)

    base95, load95 = _p95(baseline), _p95(loaded)
    bound = max(3 * base95, base95 + 0.5)
    print(f"app B p95: {base95 * 1000:.1f} ms alone, {load95 * 1000:.1f} ms during A's bursts "
          f"(bound {bound * 1000:.0f} ms); app B: {dict(statuses)}; app A: {dict(a_statuses)}")
    assert statuses == Counter({200: SAMPLES}), f"app B kept its service: {statuses}"
    assert a_statuses[429] > 0, f"app A's excess was refused at once: {a_statuses}"
    assert a_statuses[200] > 0 and set(a_statuses) <= {200, 429}, a_statuses
    assert load95 <= bound, f"app B's p95 {load95:.3f}s exceeds {bound:.3f}s (alone {base95:.3f}s)"


async def test_max_concurrent_requests_quota(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    status, quotas = await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxConcurrentRequests": 1})
    assert status == 200 and quotas["maxConcurrentRequests"] == 1
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url=f"{cluster.service.url}/api/v1/apps/{app_id}/",
                                     headers={"Authorization": "Bearer tok-a"}, connector=connector) as client:
        run_id = await new_run(client)
        limits: set[int] = set()
        deadline = time.monotonic() + 15  # the replica reloads quotas every WF_APP_QUOTA_CACHE_SECONDS (5 s)
        while 1 not in limits and time.monotonic() < deadline:
            async def one() -> None:
                async with client.get(f"runs/{run_id}") as resp:
                    if resp.status == 429:
                        limits.add((await _quota_refusal(resp, 429, "maxConcurrentRequests"))["meta"]["limit"])
                    else:
                        assert resp.status == 200
            await asyncio.gather(*(one() for _ in range(30)))
            await asyncio.sleep(0.2)
        assert 1 in limits, f"the app's own cap (1) applies within the reload interval: {limits}"


async def test_message_size_and_queued_bytes(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxMessageBytes": 1000, "maxQueuedBytes": 400})
    count = "SELECT count(*) FROM workflow.messages WHERE app_id = %s"
    async with app_client(cluster, app_id, "tok-a") as client:
        big = {"workflowRunId": "wrun_x", "stepId": "step_1", "pad": "x" * 1000}
        async with client.post("queue", json={"queueName": "__wkf_step_s", "message": big}) as resp:
            body = await _quota_refusal(resp, 413, "maxMessageBytes")
            assert body["meta"]["limit"] == 1000 and body["meta"]["bytes"] > 1000
        assert _sql(cluster, count, app_id) == 0, "nothing stored"
        statuses = []
        for n in range(10):  # ~70 bytes each: the sixth or so passes 400
            message = {"workflowRunId": "wrun_x", "stepId": f"step_{n}"}
            async with client.post("queue", json={"queueName": "__wkf_step_s", "message": message}) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    await _quota_refusal(resp, 429, "maxQueuedBytes")
                    break
                assert resp.status == 201, await resp.text()
        assert statuses[-1] == 429 and len(statuses) > 2, statuses
        assert _sql(cluster, count, app_id) == len(statuses) - 1, "the refused message is not stored"
        queued = _sql(cluster, "SELECT (workflow.app_bytes(%s)).queued_bytes", app_id)
        assert 0 < queued <= 400


async def test_stream_storage_quota(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "PUT", f"/{app_id}/quotas", {"maxStreamBytes": 100})
    async with app_client(cluster, app_id, "tok-a") as client:
        run_id = await new_run(client)
        async with client.put(f"runs/{run_id}/streams/out", json={"data": "x" * 60}) as resp:
            assert resp.status == 200, await resp.text()
        async with client.put(f"runs/{run_id}/streams/out", json={"data": "y" * 60}) as resp:
            await _quota_refusal(resp, 429, "maxStreamBytes")
        async with client.put(f"runs/{run_id}/streams/other", json={"data": "z" * 101}) as resp:
            await _quota_refusal(resp, 413, "maxStreamBytes")
        async with client.get(f"runs/{run_id}/streams/out/info") as resp:
            assert await resp.json() == {"tailIndex": 0, "done": False}, "refused chunks are not stored"
        async with client.put(f"runs/{run_id}/streams/out", headers={"x-stream-done": "true"}, json={}) as resp:
            assert resp.status == 200, "closing a stream is never refused"


async def test_stream_notifications_name_no_tenant(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    async with app_client(cluster, app_id, "tok-a") as client:
        run_id = await new_run(client)
        # Any database login may LISTEN: a plain connection, no role of the service.
        async with await psycopg.AsyncConnection.connect(cluster.service.database_url, autocommit=True) as conn:
            await conn.execute("LISTEN workflow_streams")
            async with client.put(f"runs/{run_id}/streams/secret-plans", json={"data": "x"}) as resp:
                assert resp.status == 200
            payloads = [n.payload async for n in conn.notifies(timeout=10, stop_after=1)]
    assert len(payloads) == 1
    payload = payloads[0]
    assert re.fullmatch(r"[0-9a-f]{32}", payload), payload
    assert app_id not in payload and "secret-plans" not in payload and run_id not in payload
