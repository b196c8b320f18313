"""`python -m bench.floor_service --host H --port P DATABASE_URL [--no-sql]`: the floor of a request's cost.

A bare aiohttp server (asyncio loop, as the service's) whose one POST route reads the body, runs one statement on
a pooled psycopg connection (as the service's call_row does: autocommit, prepared after 5 uses) and answers its
text. No validation, authentication, logging or metrics: what any aiohttp + psycopg service pays per request.
bench/service_cost.py measures it against the service (--b-module bench.floor_service --phases events);
--no-sql (FLOOR_NO_SQL=1) leaves out the statement too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

ANSWER = '{"run": {"runId": "wrun_floor"}, "event": {"eventId": "wevt_floor"}}'


def make_app(url: str, sql: bool) -> web.Application:
    app = web.Application()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=2, max_size=4, open=False,
                                                         kwargs={"autocommit": True})

    async def event(request: web.Request) -> web.Response:
        body = await request.read()
        if not sql:
            return web.Response(text=ANSWER, content_type="application/json")
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT %(answer)s::text WHERE length(%(body)s) >= 0",
                                            {"answer": ANSWER, "body": body.decode()})).fetchone()
        assert row is not None
        return web.Response(text=row[0], content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def opened(app: web.Application) -> None:
        await pool.open(wait=True)

    async def closed(app: web.Application) -> None:
        await pool.close()

    app.router.add_post("/api/v1/apps/{appId}/runs/{runId}/events", event)
    app.router.add_get("/ready", ready)
    app.on_startup.append(opened)
    app.on_cleanup.append(closed)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-sql", action="store_true", default=os.environ.get("FLOOR_NO_SQL") == "1")
    parser.add_argument("database_url")
    args = parser.parse_args()
    web.run_app(make_app(args.database_url, not args.no_sql), host=args.host, port=args.port, access_log=None,
                print=None, loop=asyncio.new_event_loop())


if __name__ == "__main__":
    main()
