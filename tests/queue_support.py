"""Queue test kit: a real handler server (an app's flow/step endpoints on
127.0.0.1, ephemeral port) that records deliveries, a pg-workflow process
tuned for fast retries, and small helpers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web

from .pgw import Service, create_database, db_url, drop_database

# Fast clocks so retries, cool-downs and leases fit in a test run.
FAST_QUEUE_ENV = {
    "WF_QUEUE_RETRY_BASE_SECONDS": "0.05",
    "WF_QUEUE_RETRY_MAX_SECONDS": "0.2",
    "WF_QUEUE_MAX_ATTEMPTS": "3",
    "WF_HANDLER_COOLDOWN_SECONDS": "0.3",
    "WF_HANDLER_GRACE_SECONDS": "1.5",
    "WF_QUEUE_HANDLER_TIMEOUT_SECONDS": "20",
    "WF_QUEUE_LEASE_SECONDS": "30",
}


@dataclass
class Delivery:
    at: float  # time.monotonic() when the handler got it
    kind: str  # "flow" or "step"
    queue_name: str
    message_id: str
    attempt: int
    message: dict[str, Any]
    run_started: str | None = None  # the run_started answer framed after the message (x-pgw-run-started)


Responder = Callable[[Delivery], Awaitable[tuple[int, Any]]]


async def ok(_: Delivery) -> tuple[int, Any]:
    return 200, {"ok": True}


@dataclass
class HandlerServer:
    """Records every delivery; ``respond`` decides each answer (status, JSON body)."""

    respond: Responder = ok
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> HandlerServer:
        app = web.Application()
        app.router.add_post("/.well-known/workflow/v1/{kind}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def endpoints(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.port}/.well-known/workflow/v1"
        return {"workflow": f"{base}/flow", "step": f"{base}/step", "webhook": f"{base}/webhook"}

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        split = request.headers.get("x-pgw-run-started")
        cut = len(body) if split is None else int(split)
        delivery = Delivery(
            at=time.monotonic(),
            kind=request.match_info["kind"],
            queue_name=request.headers["x-vqs-queue-name"],
            message_id=request.headers["x-vqs-message-id"],
            attempt=int(request.headers["x-vqs-message-attempt"]),
            message=json.loads(body[:cut]),
            run_started=None if split is None else body[cut:].decode(),
        )
        async with self._arrived:
            self.deliveries.append(delivery)
            self._arrived.notify_all()
        status, body = await self.respond(delivery)
        return web.json_response(body, status=status)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Delivery]:
        """Waits until at least ``count`` deliveries arrived; returns them all."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.deliveries) >= count), within)
        return list(self.deliveries)


@pytest.fixture
async def handler_server() -> AsyncIterator[HandlerServer]:
    server = await HandlerServer().start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def queue_service(template_db: str) -> Iterator[Service]:
    """One pg-workflow with fast retry settings on its own database, for a test module."""
    name = create_database(template_db)
    service = Service(db_url(name), env=dict(FAST_QUEUE_ENV))
    try:
        yield service.start()
    finally:
        service.stop()
        drop_database(name)


def new_app(database_url: str) -> str:
    """A fresh app (tenant) in the service's database, so tests do not see each other's messages."""
    app_id = f"q{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT workflow.ensure_app(%s)", (app_id,))
    return app_id


def sql(database_url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


class QueueClient:
    """HTTP calls of one app against a service."""

    def __init__(self, http: aiohttp.ClientSession, service: Service, app_id: str) -> None:
        self.http = http
        self.base = f"{service.url}/api/v1/apps/{app_id}"
        self.app_id = app_id
        self.database_url = service.database_url

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.http.post(self.base + path, json=body) as resp:
            return resp.status, await resp.json()

    async def enqueue(self, queue_name: str, message: dict[str, Any], **options: Any) -> str:
        status, body = await self.post("/queue", {"queueName": queue_name, "message": message, **options})
        assert status in (200, 201), body
        return body["messageId"]

    async def register(self, server: HandlerServer, pod_id: str = "pod-1", version: str | None = "v1") -> None:
        body: dict[str, Any] = {"podId": pod_id, "endpoints": server.endpoints}
        if version is not None:
            body["deploymentVersion"] = version
        status, answer = await self.post("/handlers", body)
        # a lease of the service's WF_HANDLER_TTL_SECONDS (60 s unless the test's service sets it)
        assert status == 201 and answer["registered"] is True and answer.get("ttlSeconds", 1) > 0, answer

    async def dead_letters(self) -> list[dict[str, Any]]:
        async with self.http.get(self.base + "/dead-letters") as resp:
            assert resp.status == 200
            return (await resp.json())["data"]

    def statuses(self) -> dict[str, str]:
        rows = sql(self.database_url, "SELECT message_id, status FROM workflow.messages WHERE app_id = %s", self.app_id)
        return dict(rows)  # type: ignore[arg-type]


@pytest.fixture
async def queue_client(queue_service: Service) -> AsyncIterator[QueueClient]:
    async with aiohttp.ClientSession() as http:
        yield QueueClient(http, queue_service, new_app(queue_service.database_url))


async def eventually(check: Callable[[], bool], within: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
