"""/ready answers within 1 s (the default timeout of a Kubernetes probe) whatever the database does: a closed
port, or a server that accepts TCP connections but never answers. The database sits behind a loopback proxy
(tests/db_proxy.py) that is made to misbehave after the service has started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from .db_proxy import DatabaseProxy
from .pgw import ADMIN_URL, Service, create_database, db_url, drop_database

PROBE_TIMEOUT = 1.0  # Kubernetes' default timeoutSeconds


@pytest.fixture
def proxied_service(template_db: str) -> Iterator[tuple[DatabaseProxy, Service]]:
    proxy = DatabaseProxy.in_front_of(ADMIN_URL)
    name = create_database(template_db)
    service = Service(proxy.url(db_url(name)))
    try:
        yield proxy, service.start()
    finally:
        service.kill()  # a graceful stop would wait out the dispatcher's drain against a broken database
        proxy.stop()
        drop_database(name)


async def timed_ready(http: aiohttp.ClientSession, service: Service) -> tuple[float, int, dict[str, object], str]:
    started = time.monotonic()
    async with http.get(service.url + "/ready", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        body = await resp.json()
        return time.monotonic() - started, resp.status, body, resp.headers.get("Retry-After", "")


@pytest.mark.parametrize("failure", ["closed port", "never answers"])
async def test_ready_answers_within_a_second(proxied_service: tuple[DatabaseProxy, Service], failure: str) -> None:
    proxy, service = proxied_service
    async with aiohttp.ClientSession() as http:
        elapsed, status, body, _ = await timed_ready(http, service)
        assert status == 200 and body["ready"] is True, body
        if failure == "closed port":
            proxy.close_port()
        else:
            proxy.go_silent()
        for _ in range(4):  # the first check meets the failure; later ones find it (or its successor) still stuck
            elapsed, status, body, retry_after = await timed_ready(http, service)
            assert elapsed < PROBE_TIMEOUT, (elapsed, body)
            assert status == 503 and body["ready"] is False and body["checks"]["database"] is False, body
            assert isinstance(body["reason"], str) and body["reason"], body
            assert int(retry_after) >= 1
            await asyncio.sleep(0.3)
    assert "Traceback" not in service.log_tail(200_000)
