"""Live readers against an in-process service (real HTTP socket, real
PostgreSQL), so the test can look at the listener and the pool."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import psycopg
from aiohttp import web

from service import keys
from service.app import make_app
from service.config import Settings
from service.live import LIVE_KEY, LiveStreams
from service.routes.streams import LIVENESS_SECONDS

from .api import new_run
from .test_streams import close, info, write


@contextlib.asynccontextmanager
async def serve(database_url: str) -> AsyncIterator[tuple[aiohttp.ClientSession, web.Application]]:
    """The app on a local port and a client (no connection limit) for its default app."""
    app = make_app(Settings(database_url=database_url), database_url)
    # Like web.run_app (not aiohttp's TestServer): handlers are not cancelled
    # when their client disconnects, so readers must notice by themselves.
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}/api/v1/apps/default/"
        async with aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(limit=0)) as client:
            yield client, app
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check(), "condition not reached in time"


async def test_idle_readers_hold_no_connection_and_leave_cleanly(fresh_db: str) -> None:
    async with serve(fresh_db) as (client, app):
        live: LiveStreams = app[LIVE_KEY]
        run_id = await new_run(client)
        names = [f"strm_{uuid.uuid4().hex}" for _ in range(100)]
        readers = await asyncio.gather(*(client.get(f"streams/{name}") for name in names))
        assert all(r.status == 200 for r in readers)
        assert live.reader_count == 100

        # Idle readers keep no pooled connection: a normal request is served at once.
        started = time.monotonic()
        assert await info(client, run_id, names[0]) == {"tailIndex": -1, "done": False}
        assert time.monotonic() - started < 1.0
        stats = app[keys.DB].pool.get_stats()
        assert stats.get("requests_waiting", 0) == 0
        assert stats["pool_size"] <= Settings(database_url=fresh_db).pool_max_size
        # The request's connection goes back to the pool just after the answer: every one comes back.
        pool = app[keys.DB].pool
        await eventually(lambda: pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"], 5)

        # The one listener still fans out to the right reader.
        await write(client, run_id, names[42], "hello")
        assert await asyncio.wait_for(readers[42].content.readexactly(5), 5) == b"hello"

        for r in readers:  # clients go away without the streams closing
            r.close()
        await eventually(lambda: live.reader_count == 0, LIVENESS_SECONDS * 2 + 2)


async def test_listener_reconnects_and_readers_miss_nothing(fresh_db: str) -> None:
    async with serve(fresh_db) as (client, app):
        live: LiveStreams = app[LIVE_KEY]
        await eventually(lambda: live.listening, 5)
        run_id, name = await new_run(client), f"strm_{uuid.uuid4().hex}"
        async with client.get(f"streams/{name}") as resp:
            with psycopg.connect(fresh_db, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'pg-workflow live' AND datname = current_database()").fetchone()
            assert killed == (1,)
            # Written while the listener may be away: its notification can be lost,
            # the reader must still get it once the listener is back.
            await write(client, run_id, name, "during")
            assert await asyncio.wait_for(resp.content.readexactly(6), 10) == b"during"
            await eventually(lambda: live.listening, 10)
            await write(client, run_id, name, "after")
            await close(client, run_id, name)
            assert await asyncio.wait_for(resp.content.read(), 5) == b"after"


async def test_shutdown_ends_live_readers(fresh_db: str) -> None:
    async with serve(fresh_db) as (client, app):
        name = f"strm_{uuid.uuid4().hex}"
        resp = await client.get(f"streams/{name}")
        assert app[LIVE_KEY].reader_count == 1
        app[LIVE_KEY].release_readers()  # what on_shutdown does
        assert await asyncio.wait_for(resp.content.read(), 5) == b""
        resp.close()
