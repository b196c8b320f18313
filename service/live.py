"""Live stream readers: one LISTEN connection per process rings the readers
of the streams that workflow.write_stream notified about (SPEC section 7).

A reader subscribes first, then reads from the database, then waits for its
bell, so a chunk committed between its read and its wait still rings it.
Notifications are hints, never data: readers always re-read the database, so
a lost notification (the listener was reconnecting) costs nothing once every
reader is rung after the reconnect. Idle readers hold no database connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

from aiohttp import web

from .listener import Listener

log = logging.getLogger("pg_workflow.live")

StreamKey = tuple[str, str]  # (app id, stream name)

# Notice a dead network path to PostgreSQL without sending queries.


class Subscription:
    """One reader's bell: rung when its stream may have changed."""

    def __init__(self, key: StreamKey) -> None:
        self.key = key
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self) -> None:
        """Until rung; resets the bell, so a ring during the reader's next read is kept for its next wait."""
        await self._rung.wait()
        self._rung.clear()


class LiveStreams:
    """The process's stream listener and the registry of its live readers."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._subscribers: dict[StreamKey, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        # After a reconnect everyone re-reads: notifications sent meanwhile are gone.
        self._listener = Listener(database_url, "listen_streams", "live", self._deliver, self._ring_all)
        self.closing = False

    @property
    def listening(self) -> bool:
        return self._listener.listening

    @property
    def reader_count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    @contextlib.contextmanager
    def subscribe(self, app_id: str, name: str) -> Iterator[Subscription]:
        key = (app_id, name)
        sub = Subscription(key)
        self._subscribers.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]

    def start(self) -> None:
        self._task = asyncio.create_task(self._listener.run_forever(), name="pg-workflow live streams")

    def release_readers(self) -> None:
        """Shutting down: every reader ends its response (clients reconnect elsewhere)."""
        self.closing = True
        self._ring_all()

    async def stop(self) -> None:
        self.release_readers()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            key = (note["appId"], note["name"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed stream notification %r", payload[:200])
            return
        for sub in self._subscribers.get(key, ()):
            sub.ring()

    def _ring_all(self) -> None:
        for subs in self._subscribers.values():
            for sub in subs:
                sub.ring()


LIVE_KEY = web.AppKey("live_streams", LiveStreams)


def setup(app: web.Application, database_url: str) -> None:
    """Runs the listener for the app's lifetime; readers end before the server waits for handlers."""
    app[LIVE_KEY] = LiveStreams(database_url)

    async def start(app: web.Application) -> None:
        app[LIVE_KEY].start()

    async def release(app: web.Application) -> None:
        app[LIVE_KEY].release_readers()

    async def stop(app: web.Application) -> None:
        await app[LIVE_KEY].stop()

    app.on_startup.append(start)
    app.on_shutdown.append(release)
    app.on_cleanup.append(stop)
