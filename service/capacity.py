"""Per-app cap on concurrent database work in one replica (quota maxConcurrentRequests).

All tenants share one connection pool. An app may have at most its cap of
requests holding (or waiting for) a pooled connection at once; one more is
refused at once with 429 (errors.AppBusy), before it takes a connection, so
one app's burst of heavy reads cannot empty the pool for the others.

The cap must be known before a connection is taken, so the quotas are read
ahead: every replica reloads the apps whose quota is set (workflow.request_caps,
one statement for all apps) when its copy is older than WF_APP_QUOTA_CACHE_SECONDS,
in the background. A changed quota therefore takes effect within about that
long; requests meanwhile use the previous value. Apps without a set quota
(0) get the replica default, WF_APP_MAX_CONCURRENT_REQUESTS (0: no cap).
The count is per replica and exact (the event loop is single-threaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from .errors import AppBusy

log = logging.getLogger("pg_workflow.capacity")

Loader = Callable[[], Awaitable[str | None]]


class AppCapacity:
    def __init__(self, default_cap: int, refresh_seconds: float, load: Loader) -> None:
        self.default_cap = default_cap
        self._refresh_seconds = refresh_seconds
        self._load = load
        self._caps: dict[str, int] = {}
        self._loaded_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self._in_flight: dict[str, int] = {}

    def cap(self, app_id: str) -> int:
        """The app's cap (0: none) as last loaded; starts a reload when that is stale."""
        if time.monotonic() - self._loaded_at >= self._refresh_seconds and self._refreshing is None:
            self._refreshing = asyncio.create_task(self.refresh(), name="pg-workflow request caps")
        return self._caps.get(app_id, self.default_cap)

    async def refresh(self) -> None:
        try:
            text = await self._load()
            self._caps = {str(app): int(cap) for app, cap in json.loads(text or "{}").items()}
        except Exception as exc:  # the database is away: keep the last caps, try again on a later request
            log.warning("could not reload the per-app request caps: %s", exc)
        finally:
            self._loaded_at = time.monotonic()
            self._refreshing = None

    def in_flight(self, app_id: str) -> int:
        return self._in_flight.get(app_id, 0)

    @contextlib.contextmanager
    def slot(self, app_id: str) -> Iterator[None]:
        """One of the app's places, or AppBusy (429) at once when all are taken."""
        cap = self.cap(app_id)
        count = self._in_flight.get(app_id, 0)
        if cap > 0 and count >= cap:
            raise AppBusy(app_id, cap)
        self._in_flight[app_id] = count + 1
        try:
            yield
        finally:
            left = self._in_flight[app_id] - 1
            if left:
                self._in_flight[app_id] = left
            else:
                del self._in_flight[app_id]

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
