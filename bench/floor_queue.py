"""`python -m bench.floor_queue --host H --port P DATABASE_URL`: the floor of a queue hop's cost.

The least a PostgreSQL queue behind an HTTP API can do per message, in the same shape as the service: an aiohttp
route that stores the message durably and notifies in one transaction (one INSERT, one pg_notify, a synchronous
commit), and in the same process a dispatcher that wakes on LISTEN, claims with FOR UPDATE SKIP LOCKED, POSTs each
message to the one registered handler over a keep-alive connection and marks it delivered (claim and ack committed
asynchronously, as the service's are). No tenants, validation, quotas, fairness, routing by version, leases or
logging. POST /queue-batches stores a batch with one INSERT. `python -m bench.queue_latency --module
bench.floor_queue` and `python -m bench.queue_batch --module bench.floor_queue` measure it with the service's
harnesses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import aiohttp
import psycopg
from aiohttp import web
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_messages (
  id bigserial PRIMARY KEY,
  queue_name text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'queued'
);
CREATE INDEX IF NOT EXISTS floor_messages_queued ON floor_messages (id) WHERE status = 'queued';
"""
CLAIM = """
UPDATE floor_messages m SET status = 'claimed'
 WHERE m.id IN (SELECT id FROM floor_messages WHERE status = 'queued' ORDER BY id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED)
RETURNING m.id, m.queue_name, m.payload::text
"""
ACK = "UPDATE floor_messages SET status = 'delivered' WHERE id = ANY(%(ids)s)"


def make_app(url: str) -> web.Application:
    app = web.Application()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=4, max_size=8, open=False,
                                                         kwargs={"autocommit": True})
    handler: dict[str, str] = {}
    wake = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    in_flight: set[asyncio.Task[None]] = set()
    acks: list[int] = []
    ack_wake = asyncio.Event()

    async def enqueue(request: web.Request) -> web.Response:
        body = await request.json()
        async with pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(
                "INSERT INTO floor_messages (queue_name, payload) VALUES (%s, %s) RETURNING id",
                (body["queueName"], Jsonb(body["message"])))).fetchone()
            await conn.execute("SELECT pg_notify('floor_queue', '')")
        assert row is not None
        return web.json_response({"messageId": f"msg_{row[0]}"}, status=201)

    async def enqueue_batch(request: web.Request) -> web.Response:
        body = await request.json()
        messages = [{"queueName": m["queueName"], "message": m["message"]} for m in body["messages"]]
        async with pool.connection() as conn, conn.transaction():
            rows = await (await conn.execute(
                "INSERT INTO floor_messages (queue_name, payload)"
                " SELECT m ->> 'queueName', m -> 'message' FROM jsonb_array_elements(%s) WITH ORDINALITY AS e(m, i)"
                " ORDER BY e.i RETURNING id", (Jsonb(messages),))).fetchall()
            await conn.execute("SELECT pg_notify('floor_queue', '')")
        return web.json_response({"results": [{"messageId": f"msg_{r[0]}", "created": True} for r in rows]},
                                 status=201)

    async def register(request: web.Request) -> web.Response:
        body = await request.json()
        handler["url"] = body["endpoints"]["step"]
        return web.json_response({"registered": True}, status=201)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def listen() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("LISTEN floor_queue")
            wake.set()
            async for _ in conn.notifies():
                wake.set()

    async def deliver(http: aiohttp.ClientSession, seq: int, queue: str, payload: str) -> None:
        headers = {"x-vqs-queue-name": queue, "x-vqs-message-id": f"msg_{seq}", "x-vqs-message-attempt": "1",
                   "content-type": "application/json"}
        with contextlib.suppress(aiohttp.ClientError):
            async with http.post(handler["url"], data=payload.encode(), headers=headers) as resp:
                await resp.read()
        acks.append(seq)
        ack_wake.set()

    async def ack_forever() -> None:
        while True:
            await ack_wake.wait()
            ack_wake.clear()
            batch = acks[:]
            del acks[:]
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit = off")
                await conn.execute(ACK, {"ids": batch})

    async def claim_forever() -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                await wake.wait()
                wake.clear()
                if "url" not in handler:
                    continue
                async with pool.connection() as conn, conn.transaction():
                    await conn.execute("SET LOCAL synchronous_commit = off")
                    rows = await (await conn.execute(CLAIM, {"limit": 20})).fetchall()
                for seq, queue, payload in rows:
                    task = asyncio.create_task(deliver(http, seq, queue, payload))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if len(rows) == 20:
                    wake.set()

    async def opened(app: web.Application) -> None:
        await pool.open(wait=True)
        async with pool.connection() as conn:
            await conn.execute(SCHEMA)
        tasks.extend([asyncio.create_task(listen()), asyncio.create_task(claim_forever()),
                      asyncio.create_task(ack_forever())])

    async def closed(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()

    app.router.add_post("/api/v1/apps/{appId}/queue", enqueue)
    app.router.add_post("/api/v1/apps/{appId}/queue-batches", enqueue_batch)
    app.router.add_post("/api/v1/apps/{appId}/handlers", register)
    app.router.add_get("/ready", ready)
    app.on_startup.append(opened)
    app.on_cleanup.append(closed)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_queue")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("database_url")
    args = parser.parse_args()
    web.run_app(make_app(args.database_url), host=args.host, port=args.port, access_log=None, print=None,
                loop=asyncio.new_event_loop())


if __name__ == "__main__":
    main()
