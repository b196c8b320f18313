"""Slow clients never hold the server: header and body read deadlines (SPEC section 14).

aiohttp has no read timeout of its own (its keep-alive timer also closes
connections stuck in a header block, but only after the keep-alive time).
Two deadlines cut slow clients off:

* a protocol wrapper closes a connection whose request head is not complete
  within WF_HTTP_HEADER_TIMEOUT_SECONDS of its first byte (or of the accept);
* a middleware reads every body within WF_HTTP_BODY_TIMEOUT_SECONDS (it is
  cached, so handlers read it again for free), else answers 408 and closes.

``run`` serves the app like ``web.run_app``, with the wrapper installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from .errors import ApiError, error_response

log = logging.getLogger("pg_workflow.http")


class HeaderDeadline(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol; closes the connection when a request head is late.

    The timer runs from the accept, and again from the first byte after each
    request; ``request_started`` (called once aiohttp has parsed a head and the
    app's middlewares run) stops it, so a request's own duration and idle
    keep-alive time never count against it.
    """

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False

    # -- asyncio.Protocol, forwarded ------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_request and self._timer is None:
            self._arm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- the deadline ----------------------------------------------------------
    def request_started(self) -> None:
        self._in_request = True
        self._disarm()

    def request_finished(self) -> None:
        self._in_request = False  # the next request's first byte starts the timer again

    def _arm(self) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._in_request or self._transport is None or self._transport.is_closing():
            return
        peer = self._transport.get_extra_info("peername")
        log.warning("closing a connection from %s: no complete request head within %gs",
                    peer[0] if isinstance(peer, tuple) else "?", self._timeout)
        self._transport.abort()


def deadline_of(request: web.BaseRequest) -> HeaderDeadline | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, HeaderDeadline) else None


def body_deadline(timeout: float, max_bytes: int) -> Any:
    """Middleware: the whole body within ``timeout`` seconds, and a declared size within ``max_bytes``."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.body_exists:
            declared = request.content_length
            if declared is not None and declared > max_bytes:
                # Refused before reading: the client may be sending nothing at all.
                return _too_large(f"request body of {declared} bytes exceeds the limit of {max_bytes} bytes",
                                  max_bytes)
            try:
                async with asyncio.timeout(timeout):
                    await request.read()
            except web.HTTPRequestEntityTooLarge:
                # A chunked body (no Content-Length) that grew past the limit while being read.
                return _too_large(f"request body exceeds the limit of {max_bytes} bytes", max_bytes)
            except TimeoutError:
                response = error_response(ApiError(
                    408, "WF_REQUEST_TIMEOUT", f"the request body did not arrive within {timeout:g}s"))
                response.force_close()
                return response
        return await handler(request)

    return read_body_in_time


def _too_large(message: str, max_bytes: int) -> web.Response:
    """413 WF_PAYLOAD_TOO_LARGE; the connection is closed, since the rest of the body is never read."""
    response = error_response(ApiError(413, "WF_PAYLOAD_TOO_LARGE", message, {"limit": max_bytes}))
    response.force_close()
    return response


class _GuardedSite(web.TCPSite):
    """A TCP site whose connections get a HeaderDeadline around aiohttp's protocol."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, header_timeout: float) -> None:
        super().__init__(runner, host, port)
        self.header_timeout = header_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        timeout = self.header_timeout
        self._server = await asyncio.get_running_loop().create_server(
            lambda: HeaderDeadline(server(), timeout), self._host, self._port, backlog=self._backlog,
        )


async def _serve(app: web.Application, host: str, port: int, header_timeout: float,
                 runner_options: dict[str, Any]) -> None:
    runner = web.AppRunner(app, handle_signals=True, **{"access_log": None, **runner_options})
    await runner.setup()
    try:
        await _GuardedSite(runner, host, port, header_timeout).start()
        await asyncio.Event().wait()  # until SIGTERM/SIGINT (GracefulExit) or cancellation
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, header_timeout: float, **runner_options: Any) -> None:
    """Serves ``app`` until SIGTERM or SIGINT, then shuts it down gracefully (as web.run_app does).

    ``runner_options`` go to web.AppRunner (bench.timed_service turns aiohttp's access log back on).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port, header_timeout, runner_options))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError, web.GracefulExit):
            loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
