"""`python -m bench.floor_service --host H --port P DATABASE_URL [--no-sql | --insert]`: the floor of a request's cost.

A bare aiohttp server (asyncio loop, as the service's) whose one POST route reads the body, runs one statement on
a pooled psycopg connection (as the service's call_row does: autocommit, prepared after 5 uses) and answers its
text. No validation, authentication, logging or metrics: what any aiohttp + psycopg service pays per request.
bench/service_cost.py measures it against the service (--b-module bench.floor_service --phases events);
--no-sql (FLOOR_NO_SQL=1) leaves out the statement too; --insert (FLOOR_INSERT=1) makes the statement store the
body durably (one INSERT and a synchronous commit, as an event write must), the floor of events.create.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

ANSWER = '{"run": {"runId": "wrun_floor"}, "event": {"eventId": "wevt_floor"}}'


INSERT = "INSERT INTO floor_events (body) VALUES (%(body)s::jsonb) RETURNING %(answer)s::text"


def make_app(url: str, sql: bool, insert: bool = False) -> web.Application:
    app = web.Application()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=2, max_size=4, open=False,
                                                         kwargs={"autocommit": True})

    async def event(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            return await answer(request)
        finally:
            # The service's request line, reduced to what bench.service_cost reads: its service time.
            print(f"pg_workflow.request: {request.method} {request.path} 201 "
                  f"durationMs={(time.perf_counter() - started) * 1000:.3f} "
                  f"userAgent={request.headers.get('user-agent', '-').split()[0]}", flush=True)

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        if not sql:
            return web.Response(text=ANSWER, content_type="application/json")
        statement = INSERT if insert else "SELECT %(answer)s::text WHERE length(%(body)s) >= 0"
        async with pool.connection() as conn:
            row = await (await conn.execute(statement, {"answer": ANSWER, "body": body.decode()})).fetchone()
        assert row is not None
        return web.Response(text=row[0], content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def opened(app: web.Application) -> None:
        await pool.open(wait=True)
        if insert:
            async with pool.connection() as conn:
                await conn.execute("CREATE TABLE IF NOT EXISTS floor_events (id bigserial PRIMARY KEY, body jsonb)")

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
    parser.add_argument("--insert", action="store_true", default=os.environ.get("FLOOR_INSERT") == "1")
    parser.add_argument("database_url")
    args = parser.parse_args()
    web.run_app(make_app(args.database_url, not args.no_sql, args.insert), host=args.host, port=args.port,
                access_log=None, print=None, loop=asyncio.new_event_loop())


if __name__ == "__main__":
    main()
