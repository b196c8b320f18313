"""A LISTEN connection that outlives database restarts.

Used by the queue dispatcher and the live stream readers. Notifications sent
while the connection is down are lost, so after every (re)connect it calls
``on_connect``: its owner must then re-read what it cares about.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from .queries import QUERIES

log = logging.getLogger("pg_workflow.listener")

# TCP keepalives notice a silently dead server; the libpq defaults never would.
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
_FIRST_RECONNECT_DELAY = 0.1
_MAX_RECONNECT_DELAY = 5.0

Prepare = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


class Listener:
    """``prepare`` (optional) runs on every new connection before it counts as
    listening: the dispatcher ties its claim session to this connection."""

    def __init__(self, url: str, listen_query: str, name: str,
                 on_notify: Callable[[str], None], on_connect: Callable[[], None],
                 prepare: Prepare | None = None, max_reconnect_delay: float = _MAX_RECONNECT_DELAY) -> None:
        self._url = url
        self._listen_query = listen_query
        self._name = name
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._prepare = prepare
        self._max_delay = max_reconnect_delay
        self.listening = False

    async def run_forever(self) -> None:
        """Listens until cancelled, reconnecting with capped exponential backoff."""
        delay = _FIRST_RECONNECT_DELAY
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name=f"pg-workflow {self._name}", **_KEEPALIVE
                )
                async with conn:
                    await conn.execute(QUERIES[self._listen_query])
                    if self._prepare is not None:
                        await self._prepare(conn)
                    self.listening = True
                    delay = _FIRST_RECONNECT_DELAY
                    self._on_connect()
                    async for note in conn.notifies():
                        self._on_notify(note.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("%s listener lost its connection (%s); reconnecting in %.1fs", self._name, exc, delay)
            except Exception:
                log.exception("%s listener failed; restarting in %.1fs", self._name, delay)
            finally:
                self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)
