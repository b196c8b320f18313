"""One HTTP delivery of a queue message, in the DevKit's local queue protocol.

The app side is @workflow/world-local's createQueueHandler: POST the message
JSON with x-vqs-queue-name / x-vqs-message-id / x-vqs-message-attempt; a 2xx
whose JSON has a finite, non-negative ``timeoutSeconds`` asks for the same
message again after that many seconds, any other 2xx means done. This module
only classifies what happened; workflow.ack_messages decides what follows.
"""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp

# Below Node's default keep-alive timeout (5 s), so we never reuse a socket
# the app is closing (that request would fail without reaching the handler).
_KEEPALIVE_SECONDS = 4.0
_CONNECT_SECONDS = 5.0
_ERROR_SNIPPET = 500


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

    def __init__(self, concurrency: int, handler_timeout: float) -> None:
        self._concurrency = concurrency
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
        headers = {
            "content-type": "application/json",
            "x-vqs-queue-name": claim["queueName"],
            "x-vqs-message-id": claim["messageId"],
            "x-vqs-message-attempt": str(claim["attempt"]),
        }
        try:
            async with self._session.post(claim["url"], data=claim["body"].encode(), headers=headers) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing reached the app: the pod is gone or not listening yet.
            return {"outcome": "refused", "error": f"connection failed: {exc}"}
        except TimeoutError:
            return {"outcome": "failed", "error": f"no answer within {self._timeout.total}s"}
        except aiohttp.ClientError as exc:
            return {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}"}
        if 200 <= status < 300:
            seconds = timeout_seconds(body)
            return {"outcome": "done"} if seconds is None else {"outcome": "timeout", "timeoutSeconds": seconds}
        snippet = body[:_ERROR_SNIPPET].decode("utf-8", "replace")
        return {"outcome": "failed", "error": f"HTTP {status}: {snippet}"}
