"""Queue latency benchmark: enqueue → handler for 1,000 messages with a no-op
handler, against a real pg-workflow process on a throwaway database.

    .venv/bin/python -m bench.queue_latency [--messages 1000] [--concurrency 16] [--env NAME=VALUE ...]
                                            [--checkout DIR] [--module bench.floor_queue]

Prints p50/p99 enqueue→handler latency one message at a time (idle system)
and under load (many enqueuers), the delivered messages/s, and as baseline
the raw single-row INSERT commit rate of the same PostgreSQL, measured in the
same run. ``--checkout DIR`` runs another checkout's service (DIR/.venv/bin/python, DIR's schema, deployed by
its service at start), to compare versions run by run; ``--module bench.floor_queue`` runs the floor of a queue
hop instead of the service. Targets: p50 ≤ 5 ms, p99 ≤ 25 ms. Uses PGW_TEST_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) to create and drop its database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

from service import migrate
from tests.pgw import Service, create_database, db_url, drop_database


class NoopHandler:
    """The app's flow/step endpoints: answers at once, notes when each message arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.port = 0

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/.well-known/workflow/v1/{kind}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]
        return runner

    async def handle(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        message_id = request.headers["x-vqs-message-id"]
        await request.read()
        self.arrived[message_id] = now
        waiter = self.waiters.pop(message_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)
        return web.json_response({"ok": True})


    async def arrival(self, message_id: str) -> float:
        if message_id in self.arrived:
            return self.arrived[message_id]
        waiter = self.waiters.setdefault(message_id, asyncio.get_running_loop().create_future())
        return await waiter


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def insert_rate(url: str, clients: int = 8, seconds: float = 3.0) -> float:
    """Single-row INSERT commits per second with ``clients`` connections (a pgbench-like baseline)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_inserts (id bigserial PRIMARY KEY, v text)")
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < stop:
                conn.execute("INSERT INTO bench_inserts (v) VALUES ('x')")
                counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


async def enqueue(http: aiohttp.ClientSession, base: str, i: int) -> str:
    body = {"queueName": "__wkf_step_bench", "message": {"workflowRunId": f"wrun_{i}", "stepId": f"s{i}"},
            "deploymentId": "bench"}
    async with http.post(base + "/queue", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["messageId"]


async def one_at_a_time(http: aiohttp.ClientSession, base: str, handler: NoopHandler, n: int,
                        stages: list[tuple[float, float]] | None = None) -> list[float]:
    """Latencies (ms) of n messages sent one at a time; ``stages`` gets (enqueue round trip, answer → handler)."""
    latencies = []
    for i in range(n):
        sent = time.perf_counter()
        async with http.post(base + "/queue", json={"queueName": "__wkf_step_bench", "deploymentId": "bench",
                                                    "message": {"workflowRunId": f"wrun_{i}"}}) as resp:
            message_id = (await resp.json())["messageId"]
        answered = time.perf_counter()
        arrived = await asyncio.wait_for(handler.arrival(message_id), 10)
        latencies.append((arrived - sent) * 1000)
        if stages is not None:
            stages.append(((answered - sent) * 1000, (arrived - answered) * 1000))
        if (i + 1) % 250 == 0:
            print(f"  {i + 1}/{n} sent", flush=True)
    return latencies


async def under_load(http: aiohttp.ClientSession, base: str, handler: NoopHandler, n: int,
                     concurrency: int) -> tuple[list[float], float]:
    sent: dict[str, float] = {}
    next_i = 0

    async def client() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter()
            sent[await enqueue(http, base, n + i)] = t

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    await asyncio.wait_for(asyncio.gather(*(handler.arrival(m) for m in sent)), 60)
    finished = max(handler.arrived[m] for m in sent)
    return [(handler.arrived[m] - t) * 1000 for m, t in sent.items()], n / (finished - started)


async def run(messages: int, concurrency: int, env: dict[str, str] | None = None, checkout: Path | None = None,
              module: str = "service") -> None:
    name = create_database(prefix="pgw_bench")
    url = db_url(name)
    service: Service | None = None
    runner: web.AppRunner | None = None
    try:
        if checkout is None:
            print(f"database {name}: deploying schema", flush=True)
            migrate.deploy(url)
        print("baseline: single-row INSERT commits/s, 8 connections, 3 s ...", flush=True)
        baseline = insert_rate(url)
        print(f"  {baseline:,.0f} inserts/s", flush=True)
        where = {} if checkout is None else {"python": str(checkout / ".venv/bin/python"), "cwd": checkout}
        service = Service(url, env={"LOG_LEVEL": "WARNING", **(env or {})}, module=module, **where).start()
        handler = NoopHandler()
        runner = await handler.start()
        base = service.url + "/api/v1/apps/default"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            endpoint = f"http://127.0.0.1:{handler.port}/.well-known/workflow/v1"
            registration = {"podId": "bench", "deploymentVersion": "bench",
                            "endpoints": {"workflow": endpoint + "/flow", "step": endpoint + "/step"}}
            async with http.post(base + "/handlers", json=registration) as resp:
                assert resp.status == 201, await resp.text()
            await one_at_a_time(http, base, handler, 50)  # warm-up: connections, plans
            print(f"one at a time: {messages} messages ...", flush=True)
            stages: list[tuple[float, float]] = []
            serial = await one_at_a_time(http, base, handler, messages, stages)
            print(f"under load: {messages} messages from {concurrency} concurrent enqueuers ...", flush=True)
            loaded, rate = await under_load(http, base, handler, messages, concurrency)
        print()
        print(f"enqueue → handler, one at a time : p50 {percentile(serial, .5):6.2f} ms   "
              f"p99 {percentile(serial, .99):6.2f} ms   mean {statistics.fmean(serial):6.2f} ms"
              "   (target p50 ≤ 5, p99 ≤ 25)")
        print(f"  of which POST /queue round trip : p50 {percentile([a for a, _ in stages], .5):6.2f} ms   "
              f"answer → handler p50 {percentile([b for _, b in stages], .5):6.2f} ms")
        print(f"enqueue → handler, under load    : p50 {percentile(loaded, .5):6.2f} ms   "
              f"p99 {percentile(loaded, .99):6.2f} ms")
        print(f"throughput                       : {rate:,.0f} messages/s delivered")
        print(f"baseline (raw INSERT commits)    : {baseline:,.0f} /s   → queue = {rate / baseline:.2f}x baseline")
    finally:
        if runner is not None:
            await runner.cleanup()
        if service is not None:
            service.stop()
        drop_database(name)
        print(f"dropped database {name}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an option of the service under test, e.g. WF_QUEUE_ASYNC_COMMIT=false (repeatable)")
    parser.add_argument("--checkout", type=Path, metavar="DIR",
                        help="run the service of another checkout (with its own .venv), e.g. the base of a change")
    parser.add_argument("--module", default="service",
                        help="the service module to run (bench.floor_queue: the floor of a queue hop)")
    args: Any = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    if env:
        print(f"service options: {env}", flush=True)
    checkout = None if args.checkout is None else args.checkout.resolve()
    print(f"service: python -m {args.module}" + (f" from {checkout}" if checkout else ""), flush=True)
    asyncio.run(run(args.messages, args.concurrency, env, checkout, args.module))


if __name__ == "__main__":
    main()
