"""One locked run, one slow statement, one exhausted pool or one slow client never stalls the others:
they get 503 WF_BUSY (or lose their connection), everybody else keeps being served."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg

from .pgw import Service

RUN_CREATED = {"eventType": "run_created", "eventData": {"deploymentId": "d", "workflowName": "w", "input": None}}


def new_run_id() -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "wrun_" + "".join(alphabet[b % 32] for b in uuid.uuid4().bytes + uuid.uuid4().bytes[:10])


async def create_run(http: aiohttp.ClientSession, base: str, app_id: str = "default") -> str:
    run_id = new_run_id()
    async with http.post(f"{base}/api/v1/apps/{app_id}/runs/{run_id}/events", json=RUN_CREATED) as resp:
        assert resp.status == 200, await resp.text()
    return run_id


async def post_event(http: aiohttp.ClientSession, base: str, run_id: str, body: dict[str, Any],
                     app_id: str = "default") -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    async with http.post(f"{base}/api/v1/apps/{app_id}/runs/{run_id}/events", json=body) as resp:
        return resp.status, await resp.json(), resp.headers


def ensure_app(database_url: str, app_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT workflow.ensure_app(%s)", (app_id,))


def assert_busy(status: int, body: dict[str, Any], headers: Any) -> None:
    assert status == 503, body
    assert body["code"] == "WF_BUSY", body
    assert int(headers["Retry-After"]) >= 1


async def test_a_locked_run_gets_503_while_other_runs_and_apps_are_served(
        start_service: Callable[..., Service]) -> None:
    # A pool smaller than the burst at the locked run: without lock_timeout it would drain.
    service = start_service(WF_DB_LOCK_TIMEOUT_SECONDS="0.3", WF_DB_POOL_MAX="3", WF_DB_POOL_MIN="1",
                            WF_DB_POOL_TIMEOUT_SECONDS="20")
    ensure_app(service.database_url, "other")
    async with aiohttp.ClientSession() as http:
        hot = await create_run(http, service.url)
        calm = await create_run(http, service.url)
        elsewhere = await create_run(http, service.url, "other")
        with psycopg.connect(service.database_url) as holder:  # a transaction holding the hot run's row lock
            holder.execute("SELECT 1 FROM workflow.runs WHERE run_id = %s FOR UPDATE", (hot,))

            started = {"eventType": "run_started"}
            burst = [post_event(http, service.url, hot, started) for _ in range(8)]
            others = [post_event(http, service.url, calm, started),
                      post_event(http, service.url, elsewhere, started, app_id="other")]
            results = await asyncio.gather(*burst, *others)
            for status, body, headers in results[:8]:
                assert_busy(status, body, headers)
            assert [status for status, _, _ in results[8:]] == [200, 200], results[8:]
            async with http.get(service.url + "/ready") as resp:
                assert resp.status == 200, await resp.text()
            holder.rollback()  # still holding the lock until here: the others did not wait for it
        status, body, _ = await post_event(http, service.url, hot, started)
        assert status == 200, body


async def test_a_statement_over_its_timeout_is_503_busy(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_DB_STATEMENT_TIMEOUT_SECONDS="0.3", WF_DB_LOCK_TIMEOUT_SECONDS="0")
    async with aiohttp.ClientSession() as http:
        run_id = await create_run(http, service.url)
        with psycopg.connect(service.database_url) as holder:
            holder.execute("LOCK TABLE workflow.runs IN ACCESS EXCLUSIVE MODE")  # even reads wait
            async with http.get(f"{service.url}/api/v1/apps/default/runs/{run_id}") as resp:
                assert_busy(resp.status, await resp.json(), resp.headers)
            holder.rollback()
        async with http.get(f"{service.url}/api/v1/apps/default/runs/{run_id}") as resp:
            assert resp.status == 200


async def test_no_free_connection_within_the_pool_timeout_is_503_busy(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_DB_POOL_MAX="1", WF_DB_POOL_MIN="1", WF_DB_POOL_TIMEOUT_SECONDS="0.3",
                            WF_DB_LOCK_TIMEOUT_SECONDS="30")
    async with aiohttp.ClientSession() as http:
        hot = await create_run(http, service.url)
        calm = await create_run(http, service.url)
        with psycopg.connect(service.database_url) as holder:
            holder.execute("SELECT 1 FROM workflow.runs WHERE run_id = %s FOR UPDATE", (hot,))
            stuck = asyncio.create_task(post_event(http, service.url, hot, {"eventType": "run_started"}))
            await asyncio.sleep(0.5)  # let it take the pool's only connection and wait for the lock
            assert not stuck.done()
            async with http.get(f"{service.url}/api/v1/apps/default/runs/{calm}") as resp:
                body = await resp.json()
                assert_busy(resp.status, body, resp.headers)
                assert "busy" in body["message"]
            holder.rollback()
        status, _, _ = await stuck
        assert status == 200


# -- slow clients ------------------------------------------------------------------------------

def raw_connection(service: Service) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket timeout is a safety net)."""
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def test_an_unfinished_header_block_is_cut_off(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_HTTP_HEADER_TIMEOUT_SECONDS="1")
    with raw_connection(service) as silent, raw_connection(service) as partial:
        partial.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: the head never ends
        # closed by the header deadline: aiohttp's own keep-alive timer (75 s) would outlast the socket timeout
        assert read_until_closed(partial) == b""
        assert read_until_closed(silent) == b"", "a connection that sends nothing at all is closed too"


def test_a_trickled_header_block_is_cut_off(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_HTTP_HEADER_TIMEOUT_SECONDS="1")
    with raw_connection(service) as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\n")
        closed = False
        for i in range(40):  # one header line every 0.1 s: always active, never finished
            try:
                sock.sendall(f"X-Slow-{i}: x\r\n".encode())
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            sock.settimeout(5)
            try:
                assert read_until_closed(sock) == b""
            except OSError:
                pass  # reset by the server: closed too
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as fresh:
            fresh.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until_closed(fresh).startswith(b"HTTP/1.1 200"), "the server itself is fine"


def test_a_slow_body_gets_408_and_the_connection_is_closed(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_HTTP_BODY_TIMEOUT_SECONDS="1")
    with raw_connection(service) as sock:
        sock.sendall(b"POST /api/v1/apps/default/runs/null/events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"eventTy")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"WF_REQUEST_TIMEOUT" in answer


def test_a_declared_oversized_body_is_refused_before_reading(start_service: Callable[..., Service]) -> None:
    service = start_service()
    with raw_connection(service) as sock:
        sock.sendall(b"POST /api/v1/apps/default/runs/null/events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 41943040\r\n\r\n0123456789")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"WF_PAYLOAD_TOO_LARGE" in answer


def test_a_chunked_body_over_the_limit_is_413_payload_too_large(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_MAX_BODY_BYTES="1000")
    chunk = b"x" * 600
    with raw_connection(service) as sock:
        sock.sendall(b"POST /api/v1/apps/default/runs/null/events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(2):  # no Content-Length: the limit is only found out while reading
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"WF_PAYLOAD_TOO_LARGE" in answer


def test_an_idle_keepalive_connection_is_not_a_slow_header(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_HTTP_HEADER_TIMEOUT_SECONDS="1")
    request = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
    with raw_connection(service) as sock:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(1.5)  # idle longer than the header deadline, between requests
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
