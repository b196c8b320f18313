"""A TCP proxy on loopback in front of the test PostgreSQL that can be told to misbehave: close its port
(nothing listens any more, every connection through it is reset) or go silent (it keeps accepting TCP
connections and keeps the open ones, but forwards nothing, like a server that hangs).

It runs in its own thread and event loop, so it keeps serving while a test blocks (Service.start)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_CHUNK = 64 * 1024


@dataclass
class DatabaseProxy:
    upstream_host: str
    upstream_port: int
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _flowing: asyncio.Event | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @classmethod
    def in_front_of(cls, url: str) -> DatabaseProxy:
        """A started proxy to the server of ``url`` (a TCP address)."""
        params = conninfo_to_dict(url)
        host = str(params.get("host") or "127.0.0.1")
        if host.startswith("/"):
            raise ValueError("the proxy needs a TCP database address, not a unix socket")
        return cls(host, int(params.get("port") or 5432)).start()

    def url(self, database_url: str) -> str:
        """``database_url`` through the proxy."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    def start(self) -> DatabaseProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="db-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("database proxy did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()

        async def up() -> None:
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run_until_complete(up())
        ready.set()
        self._loop.run_forever()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.add(server_writer)
        await asyncio.gather(self._pump(client_reader, server_writer), self._pump(server_reader, client_writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # silent: hold everything, answer nothing
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)

    def _run(self, action: Coroutine[Any, Any, None]) -> None:
        """Runs ``action`` on the proxy's loop and waits for it."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(action, self._loop).result(10)

    def go_silent(self) -> None:
        """Keep accepting and keep every connection open, but forward nothing in either direction."""
        async def silence() -> None:
            assert self._flowing is not None
            self._flowing.clear()

        self._run(silence())

    def close_port(self) -> None:
        """Stop listening (connections to the port are refused) and reset every connection through it."""
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        self._run(close())

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def shut() -> None:
            assert self._flowing is not None
            if self._server is not None:
                self._server.close()
            self._flowing.set()  # held pumps wake up and find their connection reset
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.wait(tasks, timeout=5) if tasks else None

        self._run(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
