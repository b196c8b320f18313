"""queueBatch benchmark: enqueue throughput of DevKit 5 step messages sent one
POST /queue each versus POST /queue-batches in batches, against a real
pg-workflow process on a throwaway database, both in the same run.

    .venv/bin/python -m bench.queue_batch [--messages 1000] [--batch 100] [--concurrency 8]
                                          [--checkout DIR] [--module bench.floor_queue]

Each message is a DevKit 5 step message ({runId, stepId, stepName, runContext}
on __wkf_workflow_bench, with an idempotency key), as core's fan-out publishes
them. Prints messages/s for: one POST per message sent one after the other,
one POST per message from --concurrency concurrent senders (core's fallback
sends a fan-out's messages concurrently), and batches of --batch sent one after
the other; then the ratios. No handler is registered, so the dispatcher only
parks the messages (held) and delivery costs stay out of the figures. Uses
PGW_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) to
create and drop its database.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from service import migrate
from tests.pgw import Service, create_database, db_url, drop_database

QUEUE = "__wkf_workflow_bench"


def step(run: str, i: int) -> dict[str, Any]:
    return {"queueName": QUEUE, "deploymentId": "bench", "idempotencyKey": f"{run}:step_{i}",
            "message": {"runId": run, "stepId": f"step_{i}", "stepName": "step//./bench//work",
                        "runContext": {"deploymentId": "bench", "specVersion": 7}}}


async def singles(http: aiohttp.ClientSession, base: str, run: str, n: int, concurrency: int) -> float:
    next_i = 0

    async def sender() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            async with http.post(base + "/queue", json=step(run, i)) as resp:
                assert resp.status == 201, await resp.text()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def batches(http: aiohttp.ClientSession, base: str, run: str, n: int, size: int) -> float:
    started = time.perf_counter()
    for first in range(0, n, size):
        body = {"messages": [step(run, i) for i in range(first, min(n, first + size))]}
        async with http.post(base + "/queue-batches", json=body) as resp:
            assert resp.status == 201, await resp.text()
            assert len((await resp.json())["results"]) == len(body["messages"])
    return n / (time.perf_counter() - started)


async def run(messages: int, size: int, concurrency: int, checkout: Path | None = None,
              module: str = "service") -> None:
    name = create_database(prefix="pgw_bench")
    url = db_url(name)
    service: Service | None = None
    try:
        if checkout is None and module == "service":
            print(f"database {name}: deploying schema", flush=True)
            migrate.deploy(url)
        where = {} if checkout is None else {"python": str(checkout / ".venv/bin/python"), "cwd": checkout}
        service = Service(url, env={"LOG_LEVEL": "WARNING"}, module=module, **where).start()
        if module == "service":  # (another checkout's service deploys its own schema)
            with psycopg.connect(url, autocommit=True) as conn:  # the rate quota must not be what is measured
                conn.execute("UPDATE workflow.apps SET max_queue_per_minute = 1000000")
        base = service.url + "/api/v1/apps/default"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(concurrency, 1))) as http:
            await singles(http, base, "wrun_warm", 50, 1)  # warm-up: connections, plans
            async with http.post(base + "/queue-batches", json={"messages": [step("wrun_probe", 0)]}) as resp:
                has_batches = resp.status != 404  # a checkout from before the batch route
            if has_batches:
                await batches(http, base, "wrun_warmb", 200, size)
            print(f"{messages} messages, one POST /queue each, sequential ...", flush=True)
            serial = await singles(http, base, "wrun_serial", messages, 1)
            print(f"{messages} messages, one POST /queue each, {concurrency} concurrent senders ...", flush=True)
            parallel = await singles(http, base, "wrun_parallel", messages, concurrency)
            if has_batches:
                print(f"{messages} messages, POST /queue-batches of {size}, sequential ...", flush=True)
                batched = await batches(http, base, "wrun_batched", messages, size)
        print()
        print(f"one POST each, sequential        : {serial:8,.0f} messages/s")
        print(f"one POST each, {concurrency:2d} concurrent     : {parallel:8,.0f} messages/s")
        if not has_batches:
            print("batches: no POST /queue-batches in this checkout")
            return
        print(f"batches of {size:4d}, sequential     : {batched:8,.0f} messages/s")
        print(f"ratio batched / sequential singles : {batched / serial:.1f}x")
        print(f"ratio batched / concurrent singles : {batched / parallel:.1f}x")
    finally:
        if service is not None:
            service.stop()
        drop_database(name)
        print(f"dropped database {name}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--checkout", type=Path, metavar="DIR",
                        help="run the service of another checkout (with its own .venv), e.g. the base of a change")
    parser.add_argument("--module", default="service",
                        help="the service module to run (bench.floor_queue: the floor, one INSERT per batch)")
    args: Any = parser.parse_args(argv)
    asyncio.run(run(args.messages, args.batch, args.concurrency,
                    None if args.checkout is None else args.checkout.resolve(), args.module))


if __name__ == "__main__":
    main()
