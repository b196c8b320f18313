"""A PostgreSQL restart or outage: 503 WF_DB_UNAVAILABLE with Retry-After (never 500), /ready says why,
/status stays up, and the service is back by itself — the first request after a restart already works.
Uses a private throwaway cluster, never the shared one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from .pgw import Service
from .private_cluster import PrivateCluster
from .test_timeouts import RUN_CREATED, new_run_id


@pytest.fixture
def cluster_service() -> Iterator[tuple[PrivateCluster, Service]]:
    cluster = PrivateCluster().init()
    service = Service(cluster.url, env={"WF_DB_POOL_TIMEOUT_SECONDS": "1", "WF_DB_CONNECT_TIMEOUT_SECONDS": "2"})
    try:
        yield cluster, service.start()
    finally:
        service.stop()
        cluster.destroy()


async def create_run(http: aiohttp.ClientSession, service: Service) -> tuple[int, dict[str, object]]:
    async with http.post(f"{service.url}/api/v1/apps/default/runs/{new_run_id()}/events", json=RUN_CREATED) as resp:
        return resp.status, await resp.json()


async def wait_ready(http: aiohttp.ClientSession, service: Service, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with http.get(service.url + "/ready") as resp:
            if resp.status == 200:
                return
        await asyncio.sleep(0.2)
    raise AssertionError("not ready again after the database came back")


async def test_a_restart_is_invisible_to_the_next_request(cluster_service: tuple[PrivateCluster, Service]) -> None:
    cluster, service = cluster_service
    async with aiohttp.ClientSession() as http:
        for _ in range(5):  # warm the pool: several pooled connections that the restart will kill
            assert (await create_run(http, service))[0] == 200
        cluster.restart()
        status, body = await create_run(http, service)
        assert status == 200, body  # stale pooled connections were checked and replaced, not used


async def test_an_outage_is_503_unavailable_and_ends_by_itself(cluster_service: tuple[PrivateCluster, Service]) -> None:
    cluster, service = cluster_service
    async with aiohttp.ClientSession() as http:
        assert (await create_run(http, service))[0] == 200
        cluster.stop()
        try:
            for _ in range(3):
                async with http.post(f"{service.url}/api/v1/apps/default/runs/{new_run_id()}/events",
                                     json=RUN_CREATED) as resp:
                    body = await resp.json()
                    assert resp.status == 503, body
                    assert body["code"] == "WF_DB_UNAVAILABLE", body
                    assert int(resp.headers["Retry-After"]) >= 1
            async with http.get(f"{service.url}/api/v1/apps/default/runs") as resp:
                assert (resp.status, (await resp.json())["code"]) == (503, "WF_DB_UNAVAILABLE")
            async with http.get(service.url + "/ready") as resp:
                body = await resp.json()
                assert resp.status == 503, body
                assert body["ready"] is False and body["checks"]["database"] is False
                assert "database" in body["reason"]
            async with http.get(service.url + "/status") as resp:
                assert resp.status == 200, "liveness does not depend on the database"
        finally:
            cluster.start()
        await wait_ready(http, service)
        status, body = await create_run(http, service)
        assert status == 200, body
    assert "Traceback" not in service.log_tail(200_000), "an outage is expected, not a bug"
