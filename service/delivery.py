"""One HTTP delivery of a queue message, in the DevKit's local queue protocol.

The app side is @workflow/world-local's createQueueHandler: POST the message
JSON with x-vqs-queue-name / x-vqs-message-id / x-vqs-message-attempt; a 2xx
whose JSON has a finite, non-negative ``timeoutSeconds`` asks for the same
message again after that many seconds, any other 2xx means done. This module
only classifies what happened; workflow.ack_messages decides what follows.

Tenants choose handler URLs, so a delivery must not be aimable (SPEC section
14): the host is resolved here, every address is judged by the outbound
policy (service/outbound.py), and the request goes to the IP address that
passed — never to a second lookup that could answer differently — with the
original Host header (and TLS server name). Redirects are never followed.
What is stored of an answer is its status and a short sanitised reason, not
its body.

A pod registered with the feature "run-started" may get a workflow message
followed by the run's run_started answer (RUN_STARTED_HEADER gives where the
message ends); every other delivery is the message alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from .outbound import OutboundPolicy

# Below Node's default keep-alive timeout (5 s), so we never reuse a socket
# the app is closing (that request would fail without reaching the handler).
_KEEPALIVE_SECONDS = 4.0
_CONNECT_SECONDS = 5.0
_REASON_CHARS = 200
# Workflow deliveries to a pod registered with the feature "run-started" may
# carry the run's run_started answer after the message (SQL with_run_snapshots):
# this header gives the message's length in bytes; the rest of the body is the answer.
RUN_STARTED_HEADER = "x-pgw-run-started"


def sanitised(text: str) -> str:
    """Printable ASCII only, bounded: what may be stored and shown as a delivery's last error."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return clean if len(clean) <= _REASON_CHARS else clean[: _REASON_CHARS - 3] + "..."


@dataclass(frozen=True)
class Target:
    """Where one delivery connects: ``url`` names the checked IP address; ``host`` is the original authority."""

    url: URL
    host: str
    server_hostname: str | None


class Refused(Exception):
    """The delivery may not (or cannot) connect; ``outcome`` is its ack outcome."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


async def resolve_target(raw_url: str, source: str | None, policy: OutboundPolicy) -> Target:
    """The IP address a delivery to ``raw_url`` may use, or Refused saying why not."""
    try:
        url = URL(raw_url)
        host = url.raw_host
    except (ValueError, TypeError):
        raise Refused("failed", "outbound policy: the handler URL cannot be parsed") from None
    if url.scheme not in ("http", "https") or not host or url.raw_user is not None or url.raw_password is not None:
        raise Refused("failed", "outbound policy: the handler URL must be http(s)://host[:port]/path")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
        literal = True
    except ValueError:
        literal = False
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            # Like a refused connection: the pod's name is gone (or not there yet).
            raise Refused("refused", sanitised(f"cannot resolve {host}: {exc}")) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    reasons = []
    for address in addresses:
        reason = policy.refusal(address, source)
        if reason is None:
            return Target(url.with_host(str(address)), url.raw_authority, None if literal else host)
        reasons.append(reason)
    raise Refused("failed", sanitised("outbound policy: " + "; ".join(reasons)))


def timeout_seconds(body: bytes) -> float | None:
    """The redelivery delay a 2xx answer asks for, or None when it means done."""
    try:
        value = json.loads(body).get("timeoutSeconds")
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


class Deliverer:
    """Posts deliveries over a pooled keep-alive client; a slow handler holds only its own connection."""

    def __init__(self, concurrency: int, handler_timeout: float, policy: OutboundPolicy) -> None:
        self._concurrency = concurrency
        self._policy = policy
        connect = min(_CONNECT_SECONDS, handler_timeout)
        self._timeout = aiohttp.ClientTimeout(total=handler_timeout, sock_connect=connect)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._concurrency, limit_per_host=0, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, claim: dict[str, Any]) -> dict[str, Any]:
        """POSTs one claimed message; returns the outcome fields of its ack."""
        assert self._session is not None, "Deliverer.open() first"
        try:
            target = await resolve_target(claim["url"], claim.get("sourceAddress"), self._policy)
        except Refused as refused:
            return {"outcome": refused.outcome, "error": refused.reason}
        headers = {
            "host": target.host,
            "content-type": "application/json",
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
        try:
            async with self._session.post(target.url, data=data, headers=headers,
                                          allow_redirects=False, server_hostname=target.server_hostname) as resp:
                status, reason = resp.status, resp.reason or ""
                body = await resp.read() if 200 <= status < 300 else b""
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing reached the app: the pod is gone or not listening yet.
            return {"outcome": "refused", "error": sanitised(f"connection failed: {exc}")}
        except TimeoutError:
            return {"outcome": "failed", "error": f"no answer within {self._timeout.total}s"}
        except aiohttp.ClientError as exc:
            return {"outcome": "failed", "error": sanitised(f"{type(exc).__name__}: {exc}")}
        if 200 <= status < 300:
            seconds = timeout_seconds(body)
            return {"outcome": "done"} if seconds is None else {"outcome": "timeout", "timeoutSeconds": seconds}
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return {"outcome": "failed", "error": sanitised(f"HTTP {status} {reason}{note}")}
