"""Noisy neighbours on the outbound side (issue 16): app A's handlers misbehave —
answers that expand to gigabytes, bodies of hundreds of MB, host names that
never resolve — while app B, in the same service, keeps its service. Each test
measures B's enqueue → handler latency alone and then with A misbehaving, in
the same run, and checks that the service's memory stays bounded and that A's
misbehaviour costs A (failed attempts, dead letters with a reason that names
no address). All traffic stays on loopback; `.invalid` names send none."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from service.resolver import ResolveFailed, Resolver

from .pgw import Service, create_database, db_url, drop_database
from .queue_support import FAST_QUEUE_ENV, HandlerServer, QueueClient, eventually, new_app

ENV = {**FAST_QUEUE_ENV, "WF_QUEUE_MAX_ATTEMPTS": "3", "WF_QUEUE_HANDLER_TIMEOUT_SECONDS": "10",
       "WF_QUEUE_RESOLVE_TIMEOUT_SECONDS": "2"}
SAMPLES = 30  # B's deliveries per phase
RSS_GROWTH_LIMIT = 100 * 1024 * 1024
_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}|::1|:[0-9a-f]*:")


@pytest.fixture(scope="module")
def service(template_db: str) -> Iterator[Service]:
    name = create_database(template_db)
    svc = Service(db_url(name), env=dict(ENV))
    try:
        yield svc.start()
    finally:
        svc.stop()
        drop_database(name)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


async def start_dual_stack(server: HandlerServer) -> HandlerServer:
    """B's handler on 127.0.0.1 and ::1 at one port, so it can be registered as ``localhost`` (a name: looked up)."""
    for _ in range(5):
        await server.start()
        try:
            await web.TCPSite(server._runner, "::1", server.port).start()  # type: ignore[arg-type]
            return server
        except OSError:
            await server.stop()
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def by_name(server: HandlerServer) -> dict[str, str]:
    return {key: url.replace("127.0.0.1", "localhost") for key, url in server.endpoints.items()}


async def b_latencies(b: QueueClient, server: HandlerServer, tag: str) -> list[float]:
    """Enqueues SAMPLES step messages one after the other; each one's enqueue → handler time."""
    latencies = []
    for i in range(SAMPLES):
        before = len(server.deliveries)
        started = time.monotonic()
        await b.enqueue("__wkf_step_b", {"workflowRunId": f"wrun_b{tag}", "stepId": f"{tag}{i}"}, deploymentId="v1")
        try:
            delivered = await server.wait_for(before + 1, within=10)
        except TimeoutError:
            raise AssertionError(f"B's message {tag}{i} was not delivered within 10 s") from None
        latencies.append(delivered[before].at - started)
    return latencies


class ClientOf(QueueClient):
    """QueueClient that also reads every page of dead letters."""

    async def dead_letters_all(self) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
            async with self.http.get(self.base + "/dead-letters", params=params) as resp:
                assert resp.status == 200
                page = await resp.json()
            letters += page["data"]
            cursor = page.get("cursor")
            if not page.get("hasMore"):
                break
        return letters


async def register(client: QueueClient, endpoints: dict[str, str]) -> None:
    status, answer = await client.post("/handlers", {"podId": "pod-1", "deploymentVersion": "v1",
                                                     "endpoints": endpoints})
    assert (status, answer) == (201, {"registered": True, "ttlSeconds": 60}), answer


class Flood:
    """App A enqueueing a message every ``interval`` seconds, alternating workflow and step, until stopped."""

    def __init__(self, client: QueueClient, interval: float = 0.02) -> None:
        self.client = client
        self.interval = interval
        self.ids: list[str] = []
        self.statuses: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            i = len(self.statuses)
            queue = "__wkf_workflow_a" if i % 2 == 0 else "__wkf_step_a"
            status, body = await self.client.post("/queue", {
                "queueName": queue, "message": {"runId": f"wrun_a{i}", "workflowRunId": f"wrun_a{i}"},
                "deploymentId": "v1", "idempotencyKey": f"a-{i}"})
            self.statuses.append(status)
            if status in (200, 201):
                self.ids.append(body["messageId"])
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Flood:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def measure(service: Service, b: QueueClient, server: HandlerServer, a: QueueClient
                  ) -> tuple[list[float], list[float], dict[str, int], dict[str, int], Flood]:
    """B alone, then B while A floods: B's latencies of both phases, the service's memory before and after."""
    await b_latencies(b, server, "warm")  # connections, plans and caches warm before anything is measured
    alone = await b_latencies(b, server, "alone")
    before = memory_kib(service.process.pid)  # type: ignore[union-attr]
    with Flood(a) as flood:
        await asyncio.sleep(1.0)  # A's failures are under way before B measures
        noisy = await b_latencies(b, server, "noisy")
    after = memory_kib(service.process.pid)  # type: ignore[union-attr]
    print(f"A enqueued {len(flood.ids)} messages while B measured")
    return alone, noisy, before, after, flood


def assert_b_kept_its_service(alone: list[float], noisy: list[float], before: dict[str, int],
                              after: dict[str, int], b: QueueClient) -> None:
    base = p95(alone)
    bound = max(3 * base, base + 0.5)
    growth = (after["VmHWM"] - before["VmRSS"]) * 1024
    print(f"B p95 alone {base * 1000:.1f} ms, with A misbehaving {p95(noisy) * 1000:.1f} ms; "
          f"service RSS {before['VmRSS'] // 1024} MiB before, peak {after['VmHWM'] // 1024} MiB after")
    assert p95(noisy) <= bound, f"B's p95 went from {base * 1000:.1f} ms to {p95(noisy) * 1000:.1f} ms"
    assert growth < RSS_GROWTH_LIMIT, f"the service grew by {growth / 2**20:.0f} MiB (peak {after['VmHWM']} KiB)"
    statuses = b.statuses()
    assert set(statuses.values()) <= {"delivered"}, "every one of B's messages was delivered"


async def a_dead_letters(a: ClientOf, flood: Flood) -> list[dict[str, Any]]:
    """Waits until every message A enqueued is a dead letter (3 attempts each); returns them."""
    assert flood.ids and set(flood.statuses) <= {200, 201}, flood.statuses
    dead: list[dict[str, Any]] = []

    async def all_dead() -> bool:
        nonlocal dead
        dead = await a.dead_letters_all()
        return {d["messageId"] for d in dead} >= set(flood.ids)

    deadline = time.monotonic() + 60
    while not await all_dead():
        assert time.monotonic() < deadline, f"{len(dead)} of {len(flood.ids)} of A's messages are dead letters"
        await asyncio.sleep(0.2)
    for letter in dead:
        assert letter["attempt"] == 3 or letter["failures"] == 3, letter
        assert not _ADDRESS.search(letter["lastError"]), f"a stored reason names an address: {letter['lastError']}"
    return dead


# -- a response bomb ------------------------------------------------------------------------------


def gzip_bomb(mebibytes: int) -> bytes:
    """A valid gzip stream of ``mebibytes`` MiB of zeros, about 1 KiB per MiB, built in about a second.

    Each MiB is compressed after a full flush, which resets the compressor, so every block is the same bytes.
    """
    zeros = b"\0" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = deflate.flush() + struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + block * mebibytes + trailer


class BombServer:
    """A's handler: the workflow endpoint answers a gzip bomb, the step endpoint streams up to 300 MB."""

    STREAM_BYTES = 300 * 1024 * 1024
    CHUNK = b"x" * 65536

    def __init__(self) -> None:
        self.bomb = gzip_bomb(2048)  # 2 GiB once decompressed
        self.accept_encodings: list[str] = []
        self.streamed: list[int] = []  # bytes each streamed answer got out before the service hung up
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> BombServer:
        app = web.Application()
        app.router.add_post("/flow", self._bomb)
        app.router.add_post("/step", self._stream)
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
        return {"workflow": f"http://127.0.0.1:{self.port}/flow", "step": f"http://127.0.0.1:{self.port}/step"}

    async def _bomb(self, request: web.Request) -> web.Response:
        await request.read()
        self.accept_encodings.append(request.headers.get("accept-encoding", ""))
        return web.Response(body=self.bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})  # chunked: no length announced
        await resp.prepare(request)
        sent = 0
        deadline = time.monotonic() + 20
        try:
            while sent < self.STREAM_BYTES and time.monotonic() < deadline:
                await resp.write(self.CHUNK)
                sent += len(self.CHUNK)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the service hung up
        finally:
            self.streamed.append(sent)
        return resp


async def test_a_response_bomb_costs_only_its_app(service: Service, http: aiohttp.ClientSession) -> None:
    b = ClientOf(http, service, new_app(service.database_url))
    a = ClientOf(http, service, new_app(service.database_url))
    b_server = await start_dual_stack(HandlerServer())
    bombs = await BombServer().start()
    try:
        await register(b, by_name(b_server))
        await register(a, bombs.endpoints)
        alone, noisy, before, after, flood = await measure(service, b, b_server, a)
        dead = await a_dead_letters(a, flood)
    finally:
        await bombs.stop()
        await b_server.stop()
    assert_b_kept_its_service(alone, noisy, before, after, b)
    reasons = {d["queueName"]: d["lastError"] for d in dead}
    assert reasons["__wkf_workflow_a"] == ("the answer is content-encoded (gzip); handlers must answer plain JSON")
    assert reasons["__wkf_step_a"] == "the answer is longer than WF_QUEUE_MAX_ANSWER_BYTES (65536 bytes)"
    assert bombs.accept_encodings and set(bombs.accept_encodings) == {"identity"}
    assert bombs.streamed and max(bombs.streamed) < 64 * 1024 * 1024, (
        f"the service stopped reading early (the most one answer got out: {max(bombs.streamed)} bytes)")


# -- an unresolvable handler host -----------------------------------------------------------------


async def test_an_unresolvable_handler_host_costs_only_its_app(service: Service, http: aiohttp.ClientSession) -> None:
    b = ClientOf(http, service, new_app(service.database_url))
    a = ClientOf(http, service, new_app(service.database_url))
    b_server = await start_dual_stack(HandlerServer())
    host = f"pod-{uuid.uuid4().hex[:8]}.something.invalid"
    try:
        await register(b, by_name(b_server))  # B's host is a name too: its lookups share the resolver with A's
        await register(a, {"workflow": f"http://{host}:3000/flow", "step": f"http://{host}:3000/step"})
        alone, noisy, before, after, flood = await measure(service, b, b_server, a)
        dead = await a_dead_letters(a, flood)
    finally:
        await b_server.stop()
    assert_b_kept_its_service(alone, noisy, before, after, b)
    for letter in dead:
        assert letter["lastError"].startswith("name resolution "), letter["lastError"]


# -- the resolver's bounds, against a DNS server on loopback that never answers --------------------


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A UDP socket on loopback that takes DNS queries and never answers: ``host:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


async def test_one_apps_hanging_lookups_leave_the_others_lookups_alone(silent_dns: str) -> None:
    resolver = Resolver(timeout=1.0, total=4, per_app=2, nameservers=[silent_dns])
    await resolver.open()
    try:
        hanging = [asyncio.create_task(resolver.resolve("app-a", f"h{i}.example", 80)) for i in range(10)]
        await asyncio.sleep(0.1)
        assert resolver.in_flight["app-a"] == 10, "A's lookups hold or wait for A's own slots"
        started = time.monotonic()
        addresses = await resolver.resolve("app-b", "localhost", 80)  # from the hosts file
        assert addresses and all(address.is_loopback for address in addresses)
        assert time.monotonic() - started < 0.5, "B got a slot while A's lookups hang"
        results = await asyncio.gather(*hanging, return_exceptions=True)
        assert all(isinstance(result, ResolveFailed) for result in results)
        reasons = {result.reason for result in results if isinstance(result, ResolveFailed)}
        assert reasons <= {"name resolution timed out after 1s (waiting for DNS)",
                           "name resolution timed out after 1s (waiting for a free lookup slot)",
                           "name resolution failed: Timeout while contacting DNS servers"}, reasons
        assert any("free lookup slot" in reason for reason in reasons), "A waited for its own slots"
        await eventually(lambda: not resolver.in_flight, within=10)  # c-ares ends abandoned lookups itself
    finally:
        await resolver.close()


async def test_a_lookup_keeps_its_slot_until_the_resolver_gives_up(silent_dns: str) -> None:
    """A caller that stops waiting early does not free the slot: abandoned lookups still count."""
    resolver = Resolver(timeout=1.0, total=1, per_app=1, nameservers=[silent_dns])
    await resolver.open()
    try:
        with pytest.raises(ResolveFailed, match=r"timed out after 0\.2s"):
            await resolver.resolve("app-a", "slow.example", 80, within=0.2)
        assert resolver.in_flight == {"app-a": 1}
        with pytest.raises(ResolveFailed, match="free lookup slot"):
            await resolver.resolve("app-b", "localhost", 80, within=0.2)
        await eventually(lambda: not resolver.in_flight, within=10)
        assert await resolver.resolve("app-b", "localhost", 80)
    finally:
        await resolver.close()


# -- the deliverer's answer bounds, one answer at a time (a real loopback handler, no service) -----


class Answers:
    """Loopback endpoints, each answering one way; ``sent`` counts what each streamed answer got out."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.peers: list[tuple[str, int]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Answers:
        app = web.Application()
        app.router.add_post("/{kind}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        kind = request.match_info["kind"]
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else ("", 0))
        if kind == "long":  # announced length over the limit
            return web.Response(body=b" " * 4096, content_type="application/json")
        if kind == "exact":  # exactly the limit: read whole
            return web.json_response({"timeoutSeconds": 2, "pad": "x" * (1024 - 34)})
        if kind == "small":
            return web.json_response({"ok": True})
        status = 500 if kind == "endless-500" else 200
        resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        sent = 0
        deadline = time.monotonic() + 20
        try:
            while sent < 300 * 1024 * 1024 and time.monotonic() < deadline:
                await resp.write(b"x" * 65536)
                sent += 65536
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self.sent[kind] = sent
        return resp


async def test_answers_are_read_only_up_to_the_limit_and_never_decompressed() -> None:
    from service.delivery import Deliverer
    from service.outbound import OutboundPolicy

    answers = await Answers().start()
    deliverer = Deliverer(4, 10.0, OutboundPolicy.from_lists(False, [], []), max_answer_bytes=1024,
                          resolve_timeout=2.0, resolve_concurrency=4, resolve_concurrency_per_app=2)
    await deliverer.open()

    async def deliver(kind: str) -> dict[str, Any]:
        claim = {"url": f"http://127.0.0.1:{answers.port}/{kind}", "appId": "app-a", "queueName": "__wkf_step_s",
                 "messageId": "msg_1", "attempt": 1, "body": "{}"}
        started = time.monotonic()
        outcome = await deliverer.deliver(claim)
        assert time.monotonic() - started < 5, f"{kind} took {time.monotonic() - started:.1f} s"
        return outcome

    try:
        assert await deliver("exact") == {"outcome": "timeout", "timeoutSeconds": 2.0}
        assert await deliver("long") == {"outcome": "failed", "error": "the answer has 4096 bytes, more than "
                                                                       "WF_QUEUE_MAX_ANSWER_BYTES (1024)"}
        assert await deliver("endless-200") == {
            "outcome": "failed", "error": "the answer is longer than WF_QUEUE_MAX_ANSWER_BYTES (1024 bytes)"}
        assert await deliver("endless-500") == {"outcome": "failed", "error": "HTTP 500 Internal Server Error"}
        assert await deliver("small") == {"outcome": "done"}
        assert await deliver("small") == {"outcome": "done"}
    finally:
        await deliverer.close()
        await answers.stop()
    assert answers.sent["endless-500"] < 64 * 1024 * 1024, "a non-2xx body is not read: the connection is dropped"
    assert answers.sent["endless-200"] < 64 * 1024 * 1024
    # exact, long, endless-200, endless-500, small, small: a connection whose answer had arrived whole (exact; long,
    # within aiohttp's buffer) is reused; one whose answer was still coming (the endless ones) is closed.
    ports = [port for _, port in answers.peers]
    assert ports[0] == ports[1] == ports[2], ports
    assert ports[3] != ports[2] and ports[4] != ports[3], f"an endless answer's connection was reused: {ports}"
    assert ports[5] == ports[4], ports
