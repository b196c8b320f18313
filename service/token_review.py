"""Kubernetes TokenReview: is this bearer token a live service-account token?

Each review asks for the service's audience (WF_TOKEN_AUDIENCE) and a token
counts only when the answer's ``status.audiences`` names it (or one of them): a token issued
for another service (or the API server itself) is not accepted here.

Reviews go to the API server through kubernetes-asyncio, authenticated with
the service's own projected token, which is re-read from disk for every
review (the kubelet rotates it; no restart needed). Successful reviews are
cached by the SHA-256 of the token for a few minutes (never past the token's
own ``exp``), in a bounded table (oldest dropped first); refusals and failures are never cached.
Concurrent requests with the same uncached token share one review.

An API server that cannot answer (unreachable, TLS failure, 5xx, timeout,
or it refuses our own token) is an outage, 503 with Retry-After — never a
401, which would tell a legitimate client its credentials are wrong.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from .errors import ApiError

log = logging.getLogger("pg_workflow.auth")

RETRY_AFTER_SECONDS = 2


def unavailable(reason: str) -> ApiError:
    return ApiError(503, "WF_AUTH_UNAVAILABLE",
                    f"cannot check credentials right now: {reason}", {"retryAfter": RETRY_AFTER_SECONDS})


class TokenReviewer:
    """One TokenReview per call; returns the username when the token is authenticated, else None."""

    def __init__(self, api_server: str, service_account_dir: Path, timeout_seconds: float,
                 audiences: tuple[str, ...]) -> None:
        self._api_server = api_server.rstrip("/")
        self._audiences = audiences
        self._dir = service_account_dir
        self._timeout = timeout_seconds
        self._client: k8s.ApiClient | None = None
        self._api: k8s.AuthenticationV1Api | None = None

    def _own_token(self, configuration: k8s.Configuration) -> None:
        # kubernetes-asyncio calls this before every request it signs.
        configuration.api_key["BearerToken"] = (self._dir / "token").read_text().strip()

    def _open(self) -> k8s.AuthenticationV1Api:
        if self._api is None:
            configuration = k8s.Configuration(host=self._api_server)
            ca = self._dir / "ca.crt"
            if ca.exists():
                configuration.ssl_ca_cert = str(ca)
            configuration.api_key_prefix["BearerToken"] = "Bearer"
            configuration.api_key["BearerToken"] = ""
            configuration.refresh_api_key_hook = self._own_token
            self._client = k8s.ApiClient(configuration)
            self._api = k8s.AuthenticationV1Api(self._client)
        return self._api

    async def review(self, token: str) -> str | None:
        api = self._open()
        # Asking for our audience makes the API server authenticate only tokens
        # issued for it, so a token minted for another service cannot be replayed here.
        body = k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=list(self._audiences)))
        try:
            result = await api.create_token_review(body, _request_timeout=self._timeout)
        except ApiException as exc:
            # 401/403 here mean the API server refused *our* token or RBAC: still not the caller's fault.
            log.error("TokenReview answered HTTP %s: %s", exc.status, (exc.reason or "")[:200])
            raise unavailable(f"the Kubernetes API answered HTTP {exc.status}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("TokenReview failed: %s: %s", type(exc).__name__, exc)
            raise unavailable("the Kubernetes API is unreachable") from None
        status = result.status
        if status is None or not status.authenticated or status.user is None or not status.user.username:
            return None
        # An API server (or webhook authenticator) unaware of audiences answers
        # without them, meaning "valid for the API server": not proof the token is ours.
        if not set(self._audiences) & set(status.audiences or ()):
            log.debug("TokenReview authenticated %s but not for audiences %s (answered: %s)",
                      status.user.username, self._audiences, status.audiences)
            return None
        return str(status.user.username)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = self._api = None


def _token_expiry(token: str) -> float | None:
    """The JWT's ``exp`` (epoch seconds), read without verifying: only to bound how long we trust a review."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = payload.get("exp")
    except (ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class ReviewCache:
    """Cached, single-flight front of a reviewer: ``username(token)``."""

    def __init__(self, review: Callable[[str], Awaitable[str | None]], ttl_seconds: float, max_entries: int,
                 close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._review = review
        self._ttl = ttl_seconds
        self._max = max_entries
        self._close = close
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()  # digest -> (monotonic expiry, user)
        self._inflight: dict[bytes, asyncio.Future[str | None]] = {}

    async def username(self, token: str) -> str | None:
        key = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > time.monotonic():
                return entry[1]
            del self._entries[key]
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fresh_review(key, token))
            self._inflight[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # shield: a caller that goes away does not cancel the review the others wait for.
        return await asyncio.shield(pending)

    def _settled(self, key: bytes, done: asyncio.Future[str | None]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved, so an unawaited failure is not logged as "never retrieved"

    async def _fresh_review(self, key: bytes, token: str) -> str | None:
        username = await self._review(token)
        if username is not None:
            lifetime = self._ttl
            exp = _token_expiry(token)
            if exp is not None:
                lifetime = min(lifetime, exp - time.time())
            if lifetime > 0:
                self._entries[key] = (time.monotonic() + lifetime, username)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)  # oldest first: a full cache never grows
        return username

    async def close(self) -> None:
        if self._close is not None:
            await self._close()
