"""Live stream readers: one LISTEN connection per process rings the readers
of the streams that workflow.write_stream notified about (SPEC section 7).

A reader subscribes first, then reads from the database, then waits for its
bell, so a chunk committed between its read and its wait still rings it.
Notifications are hints, never data: readers always re-read the database, so
a lost notification (the listener was reconnecting) costs nothing once every
reader is rung after the reconnect. Idle readers hold no database connection.

Any database login may LISTEN, so a notification names its stream only by an
opaque key, sha256(secret || appId "/" name) cut to 16 bytes (SQL
workflow.stream_wake_key); the listener reads the secret after each connect
(workflow.stream_notify_secret) and maps keys back to its waiting readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from aiohttp import web

from .listener import Listener
from .queries import QUERIES

log = logging.getLogger("pg_workflow.live")

StreamKey = tuple[str, str]  # (app id, stream name)



def wake_key(secret: bytes, app_id: str, name: str) -> str:
    """The key workflow.write_stream notifies for stream ``name`` of app ``app_id`` (an app id has no "/")."""
    text = f"{app_id}/{name}".encode(errors="surrogatepass")
    return hashlib.sha256(secret + text).digest()[:16].hex()


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
        self._by_key: dict[str, StreamKey] = {}  # notification key → the stream readers wait for
        self._secret: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        # After a reconnect everyone re-reads: notifications sent meanwhile are gone.
        self._listener = Listener(database_url, "listen_streams", "live", self._deliver, self._ring_all,
                                  prepare=self._read_secret)
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
        subs = self._subscribers.setdefault(key, set())
        if not subs and self._secret is not None:
            self._by_key[wake_key(self._secret, app_id, name)] = key
        subs.add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]
                    if self._secret is not None:
                        self._by_key.pop(wake_key(self._secret, app_id, name), None)

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

    async def _read_secret(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """On every (re)connect, before notifications count: the key may differ after a redeploy."""
        row = await (await conn.execute(QUERIES["stream_notify_secret"])).fetchone()
        if row is None or not row[0]:
            raise RuntimeError("workflow.stream_notify_secret() returned nothing")
        self._secret = bytes.fromhex(row[0])
        self._by_key = {wake_key(self._secret, app, name): (app, name) for app, name in self._subscribers}

    def _deliver(self, payload: str) -> None:
        key = self._by_key.get(payload)  # another replica's reader, or nobody waiting here: ignored
        for sub in self._subscribers.get(key, ()) if key is not None else ():
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
