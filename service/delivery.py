"""One HTTP delivery of a queue message, in the DevKit's local queue protocol.

The app side is @workflow/world-local's createQueueHandler: POST the message
JSON with x-vqs-queue-name / x-vqs-message-id / x-vqs-message-attempt; a 2xx
whose JSON has a finite, non-negative ``timeoutSeconds`` asks for the same
message again after that many seconds, any other 2xx means done. This module
only classifies what happened; workflow.ack_messages decides what follows.

Tenants choose handler URLs, so a delivery must not be aimable (SPEC section
14): the host is resolved here (service/resolver.py: asynchronous, bounded per
app, inside the delivery's deadline), every address is judged by the outbound
policy (service/outbound.py), and the request goes to the IP address that
passed — never to a second lookup that could answer differently — with the
original Host header (and TLS server name). Redirects are never followed.
What is stored of an answer is its status and a short sanitised reason, not
its body, and never an address the service resolved or connected to.

An answer is UTF-8 JSON (RFC 8259, what world-local sends); the common one
(``{"ok":true}`` or ``{}``) is settled from its bytes without a decode. Keep-alive
connections are pooled per checked address (with port, TLS and server name), so
reusing one never skips the outbound policy: every delivery judges its address
again, and only a connection to the address that passed is reused.

Tenants also choose what their handlers answer, so reading an answer is
bounded: a non-2xx answer's body is never read, a 2xx answer's at most
``max_answer_bytes`` (WF_QUEUE_MAX_ANSWER_BYTES) and never decompressed — we
ask for ``accept-encoding: identity``, and a content-encoded or larger answer
is a failed attempt whose connection is closed, so the rest is never read
(unless it had already arrived whole, within aiohttp's read buffer: then the
connection is clean and goes back to the pool). So the memory
held for answers is at most concurrency * (that limit + aiohttp's read
buffer), whatever the handlers send.

Time is bounded too: the handler timeout covers the whole delivery, the
lookup included. A lookup that fails or times out is a failed attempt (the
message dead-letters after WF_QUEUE_MAX_ATTEMPTS like any failure); only a
connection that was refused or timed out ("nothing reached the app") is
"refused", which cools the pod down without spending an attempt.

A pod registered with the feature "run-started" may get a workflow message
followed by the run's run_started answer (RUN_STARTED_HEADER gives where the
message ends); every other delivery is the message alone.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from . import fastjson
from .outbound import IPAddress, OutboundPolicy, literal_address
from .resolver import ResolveFailed, Resolver

# Below Node's default keep-alive timeout (5 s), so we never reuse a socket
# the app is closing (that request would fail without reaching the handler).
_KEEPALIVE_SECONDS = 4.0
_CONNECT_SECONDS = 5.0
# Every delivery's fixed headers. identity: answers are never decompressed (see read_answer).
_SESSION_HEADERS = {"user-agent": "pg-workflow", "content-type": "application/json", "accept-encoding": "identity"}
_REASON_CHARS = 200
# Workflow deliveries to a pod registered with the feature "run-started" may
# carry the run's run_started answer after the message (SQL with_run_snapshots):
# this header gives the message's length in bytes; the rest of the body is the answer.
RUN_STARTED_HEADER = "x-pgw-run-started"
# Anything that looks like an IPv4 or IPv6 address (or a clock time, which is no loss).
_ADDRESS_LIKE = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}\d{1,3}(?:\.\d{1,3}){3}"  # IPv4-mapped IPv6
                           r"|\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")

Lookup = Callable[[str, int], Awaitable[list[IPAddress]]]


def sanitised(text: str) -> str:
    """Printable ASCII only, no address-like text, bounded: what may be stored as a delivery's last error."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    clean = _ADDRESS_LIKE.sub("<address>", clean)
    return clean if len(clean) <= _REASON_CHARS else clean[: _REASON_CHARS - 3] + "..."


# Allowed addresses of one name a delivery tries in turn when a connection fails (e.g. localhost → ::1 while the
# app listens on 127.0.0.1 only); every try spends the same deadline.
_MAX_ADDRESSES = 4


@dataclass(frozen=True)
class Target:
    """Where one delivery connects: ``urls`` name the checked IP addresses (tried in order); ``host`` is the
    original authority."""

    urls: tuple[URL, ...]
    host: str
    server_hostname: str | None

    @property
    def url(self) -> URL:
        return self.urls[0]


class Refused(Exception):
    """The delivery may not (or cannot) connect; ``outcome`` is its ack outcome."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


async def resolve_target(raw_url: str, source: str | None, policy: OutboundPolicy, lookup: Lookup) -> Target:
    """The IP address a delivery to ``raw_url`` may use, or Refused saying why not.

    ``lookup(host, port)`` resolves names (raising ResolveFailed); literal addresses never reach it.
    """
    try:
        url = URL(raw_url)
        host = url.raw_host
    except (ValueError, TypeError):
        raise Refused("failed", "outbound policy: the handler URL cannot be parsed") from None
    if url.scheme not in ("http", "https") or not host or url.raw_user is not None or url.raw_password is not None:
        raise Refused("failed", "outbound policy: the handler URL must be http(s)://host[:port]/path")
    port = url.port or (443 if url.scheme == "https" else 80)
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await lookup(host, port)
        except ResolveFailed as failed:
            # An attempt like any failure: a name that never resolves dead-letters.
            raise Refused("failed", sanitised(failed.reason)) from None
    allowed: list[URL] = []
    refusals: list[str] = []
    for address in addresses:
        refusal = policy.refusal(address, source)
        if refusal is None:
            allowed.append(url.with_host(str(address)))
        elif refusal not in refusals:
            refusals.append(refusal)
    if allowed:
        return Target(tuple(allowed[:_MAX_ADDRESSES]), url.raw_authority, None if literal else host)
    raise Refused("failed", sanitised("; ".join(refusals)))


def timeout_seconds(body: bytes) -> float | None:
    """The redelivery delay a 2xx answer asks for, or None when it means done."""
    if b"timeoutSeconds" not in body and b"\\" not in body:
        # The common answer ({} or {"ok": true}): without an escape the key can only be spelled out, so it has
        # no timeoutSeconds member and means done — what the full decode below would conclude too.
        return None
    try:
        value = fastjson.loads(body).get("timeoutSeconds")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, str):  # world-local reads it with Number(...)
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


class AnswerRefused(Exception):
    """A 2xx answer we will not read: content-encoded or larger than the limit."""


async def read_answer(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of a 2xx answer, as sent (no decompression); AnswerRefused beyond that."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise AnswerRefused(f"the answer is content-encoded ({encoding[:20]}); handlers must answer plain JSON")
    if resp.content_length is not None and resp.content_length > limit:
        raise AnswerRefused(f"the answer has {resp.content_length} bytes, more than WF_QUEUE_MAX_ANSWER_BYTES "
                            f"({limit})")
    body = bytearray()
    while chunk := await resp.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise AnswerRefused(f"the answer is longer than WF_QUEUE_MAX_ANSWER_BYTES ({limit} bytes)")
    return bytes(body)


def _errno_text(exc: BaseException | None) -> str:
    number = getattr(exc, "errno", None)
    return os.strerror(number) if isinstance(number, int) else "connection error"


def _client_error_reason(exc: aiohttp.ClientError) -> str:
    """A reason from what went wrong, never from the exception's text (it names the connected address)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the handler closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer's body was cut short or malformed"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid answer: {exc.message}"
    if isinstance(exc, aiohttp.ClientOSError):
        return f"connection error: {_errno_text(exc)}"
    return f"delivery failed ({type(exc).__name__})"


class Deliverer:
    """Posts deliveries over a pooled keep-alive client; a slow handler holds only its own connection."""

    def __init__(self, concurrency: int, handler_timeout: float, policy: OutboundPolicy, *,
                 max_answer_bytes: int, resolve_timeout: float, resolve_concurrency: int,
                 resolve_concurrency_per_app: int) -> None:
        self._concurrency = concurrency
        self._policy = policy
        self._handler_timeout = handler_timeout
        self._max_answer_bytes = max_answer_bytes
        self._resolver = Resolver(min(resolve_timeout, handler_timeout), resolve_concurrency,
                                  resolve_concurrency_per_app)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        await self._resolver.open()
        connector = aiohttp.TCPConnector(
            limit=self._concurrency, limit_per_host=0, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        # auto_decompress off: a small gzip answer must not become gigabytes in our memory.
        # Minimal headers: no Accept, a short User-Agent (not aiohttp's, which names its version).
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            headers=_SESSION_HEADERS, skip_auto_headers=("Accept",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._resolver.close()

    async def deliver(self, claim: dict[str, Any]) -> dict[str, Any]:
        """POSTs one claimed message; returns the outcome fields of its ack."""
        assert self._session is not None, "Deliverer.open() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._handler_timeout
        app = str(claim.get("appId"))

        async def lookup(host: str, port: int) -> list[IPAddress]:
            return await self._resolver.resolve(app, host, port, deadline - loop.time())

        try:
            target = await resolve_target(claim["url"], claim.get("sourceAddress"), self._policy, lookup)
        except Refused as refused:
            return {"outcome": refused.outcome, "error": refused.reason}
        headers = {
            "host": target.host,
            "x-vqs-queue-name": claim["queueName"],
            "x-vqs-message-id": claim["messageId"],
            "x-vqs-message-attempt": str(claim["attempt"]),
        }
        data = claim["body"].encode()
        snapshot = claim.get("runStarted")
        if snapshot is not None:
            # The run's run_started answer follows the message; the header says where the message ends.
            headers[RUN_STARTED_HEADER] = str(len(data))
            data += snapshot.encode()
        unreachable = "connection failed"
        for url in target.urls:
            try:
                return await self._post(url, target.server_hostname, data, headers, deadline)
            except _Unreachable as exc:
                unreachable = exc.reason  # nothing reached the app at this address: try the next one
        # Nothing reached the app: the pod is gone or not listening yet.
        return {"outcome": "refused", "error": unreachable}

    async def _post(self, url: URL, server_hostname: str | None, data: bytes, headers: dict[str, str],
                    deadline: float) -> dict[str, Any]:
        """One POST to one checked address; _Unreachable when it could not connect."""
        assert self._session is not None
        no_answer = {"outcome": "failed", "error": f"no answer within {self._handler_timeout:g}s"}
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return no_answer
        timeout = aiohttp.ClientTimeout(total=remaining, sock_connect=min(_CONNECT_SECONDS, remaining))
        try:
            async with self._session.post(url, data=data, headers=headers, timeout=timeout,
                                          allow_redirects=False, server_hostname=server_hostname) as resp:
                status, reason = resp.status, resp.reason or ""
                # A non-2xx body is never read: aiohttp closes the connection on release unless it had already ended.
                body = b""
                if 200 <= status < 300:
                    try:
                        body = await read_answer(resp, self._max_answer_bytes)
                    except AnswerRefused as refused:
                        resp.close()  # the rest of the answer is never read: drop the connection
                        return {"outcome": "failed", "error": sanitised(str(refused))}
        except aiohttp.ClientSSLError:
            # Something answered, but not with a TLS endpoint we can trust: the app's misconfiguration.
            return {"outcome": "failed", "error": "TLS handshake or certificate check failed"}
        except aiohttp.ConnectionTimeoutError:
            raise _Unreachable("connection failed: timed out") from None
        except aiohttp.ClientConnectorError as exc:
            raise _Unreachable(sanitised(f"connection failed: {_errno_text(exc.os_error)}")) from None
        except TimeoutError:
            return no_answer
        except aiohttp.ClientError as exc:
            return {"outcome": "failed", "error": sanitised(_client_error_reason(exc))}
        if 200 <= status < 300:
            seconds = timeout_seconds(body)
            return {"outcome": "done"} if seconds is None else {"outcome": "timeout", "timeoutSeconds": seconds}
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return {"outcome": "failed", "error": sanitised(f"HTTP {status} {reason}{note}")}


class _Unreachable(Exception):
    """A connection to one address failed before anything reached the app."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
