"""Long polls for a run's end (DevKit 5 ``runs.waitForTerminalStatus``).

One LISTEN connection per process hears ``workflow_run_terminal``, which a
trigger notifies when a run becomes completed, failed or cancelled (change
devkit5_run_ops). Any database login may LISTEN there, so a notification
carries only an opaque key (the run's internal run_seq); a waiter learns its
run's key from ``workflow.run_wait_state``, scoped to its app, and every answer
comes from re-reading the run through that function, never from the
notification.

No lost wake-up: a waiter is registered before it re-reads the run, so a run
that ends between the two is either seen by the re-read or rings the waiter.
Notifications sent while the listener reconnects are gone, so every waiter
re-reads after each (re)connect. Waiters hold no database connection while
they wait, and each app may hold at most WF_RUN_WAITERS_PER_APP of them per
process (429 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiohttp import web

from .errors import ApiError
from .listener import Listener

log = logging.getLogger("pg_workflow.run_waiters")


class Waiter:
    """One long poll's bell: rung when its run may have ended."""

    def __init__(self, app_id: str, key: str) -> None:
        self.app_id = app_id
        self.key = key
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float) -> bool:
        """Until rung (True) or ``seconds`` passed (False); resets the bell."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._rung.wait()
        rung = self._rung.is_set()
        self._rung.clear()
        return rung


class RunWaiters:
    """The process's terminal-status listener and its waiters."""

    def __init__(self, database_url: str, per_app: int) -> None:
        self._per_app = per_app
        self._by_key: dict[str, set[Waiter]] = {}
        self._per_app_count: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._listener = Listener(database_url, "listen_run_terminal", "run-waiters", self._deliver, self._ring_all)
        self.closing = False

    @property
    def listening(self) -> bool:
        return self._listener.listening

    def count(self, app_id: str) -> int:
        return self._per_app_count.get(app_id, 0)

    @contextlib.contextmanager
    def waiting(self, app_id: str, key: str) -> Iterator[Waiter]:
        """Registers a waiter for the run whose notification key is ``key``; 429 beyond the app's bound."""
        if self.count(app_id) >= self._per_app:
            raise ApiError(429, "WF_TOO_MANY_WAITERS",
                           f"this app already holds {self._per_app} terminal-status waits on this replica "
                           "(WF_RUN_WAITERS_PER_APP); retry later or poll the run",
                           {"limit": self._per_app, "retryAfter": 1})
        waiter = Waiter(app_id, key)
        self._by_key.setdefault(key, set()).add(waiter)
        self._per_app_count[app_id] = self.count(app_id) + 1
        try:
            yield waiter
        finally:
            waiters = self._by_key.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._by_key[key]
            left = self.count(app_id) - 1
            if left > 0:
                self._per_app_count[app_id] = left
            else:
                self._per_app_count.pop(app_id, None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._listener.run_forever(), name="pg-workflow run waiters")

    def release(self) -> None:
        """Shutting down: every waiter answers its run's snapshot now (clients retry elsewhere)."""
        self.closing = True
        self._ring_all()

    async def stop(self) -> None:
        self.release()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, payload: str) -> None:
        for waiter in self._by_key.get(payload, ()):
            waiter.ring()

    def _ring_all(self) -> None:
        for waiters in self._by_key.values():
            for waiter in waiters:
                waiter.ring()


RUN_WAITERS_KEY = web.AppKey("run_waiters", RunWaiters)


def setup(app: web.Application, database_url: str, per_app: int) -> None:
    """Runs the listener for the app's lifetime; waiters answer before the server waits for handlers."""
    app[RUN_WAITERS_KEY] = RunWaiters(database_url, per_app)

    async def start(app: web.Application) -> None:
        app[RUN_WAITERS_KEY].start()

    async def release(app: web.Application) -> None:
        app[RUN_WAITERS_KEY].release()

    async def stop(app: web.Application) -> None:
        await app[RUN_WAITERS_KEY].stop()

    app.on_startup.append(start)
    app.on_shutdown.append(release)
    app.on_cleanup.append(stop)
