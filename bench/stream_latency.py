"""Stream benchmark (not a test): write → live-reader latency and chunk rate.

    .venv/bin/python -m bench.stream_latency [--chunks 10000] [--batch 100]

Creates its own database (dropped at the end) and starts pg-workflow on it.
Baseline, measured in the same run on the same server: raw PostgreSQL
single-row INSERT commits per second on one connection, which is the floor
of what one sequential writer can do. Then one live reader tails a stream
while one writer PUTs the chunks one by one; every chunk carries its number,
so the reader timestamps each arrival: latency = arrival - start of its PUT.
Finally the same chunks written with x-stream-multi batches. The writer is a
minimal keep-alive HTTP/1.1 client, so the numbers are the service's rather
than a client library's (aiohttp's client alone adds 1-2 ms per request here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import aiohttp
import psycopg

from tests.pgw import Service, create_database, db_url, drop_database

RECORD = 16  # bytes per chunk: a zero-padded number and a newline
APP_PATH = "/api/v1/apps/default/"


def record(i: int) -> str:
    return f"{i:015d}\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_insert_rate(url: str, count: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea)")
        payload = record(0).encode()
        started = time.perf_counter()
        for i in range(count):
            conn.execute("INSERT INTO bench_rows (data) VALUES (%s)", (payload,))
            if (i + 1) % 2000 == 0:
                print(f"  raw inserts: {i + 1}/{count}", flush=True)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_rows")
    return count / elapsed


async def new_run(client: aiohttp.ClientSession) -> str:
    body = {"eventType": "run_created", "specVersion": 3,
            "eventData": {"deploymentId": "bench", "workflowName": "bench",
                          "input": {"__type": "Uint8Array", "data": ""}}}
    async with client.post("runs/null/events", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["run"]["runId"]


class Writer:
    """PUTs on one keep-alive connection, each request in one write."""

    def __init__(self, service_url: str, path: str) -> None:
        self._host, self._port = service_url.removeprefix("http://").split(":")
        self._path = path
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def put(self, body: object, headers: str = "") -> None:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self._host, int(self._port))
        reader, writer = self._conn
        payload = json.dumps(body).encode()
        writer.write(f"PUT {self._path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n{headers}\r\n".encode() + payload)
        status = await reader.readline()
        assert b" 200 " in status, status
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)

    async def close(self) -> None:
        await self.put({}, "x-stream-done: true\r\n")
        if self._conn is not None:
            self._conn[1].close()


async def tail(client: aiohttp.ClientSession, name: str, arrivals: list[float]) -> None:
    """Timestamps every record as its bytes arrive, until the stream ends."""
    buffered = b""
    async with client.get(f"streams/{name}") as resp:
        assert resp.status == 200
        async for piece in resp.content.iter_any():
            now = time.perf_counter()
            buffered += piece
            whole = len(buffered) // RECORD
            for k in range(whole):
                assert int(buffered[k * RECORD:(k + 1) * RECORD]) == len(arrivals), "out of order"
                arrivals.append(now)
            buffered = buffered[whole * RECORD:]


async def single_writes(client: aiohttp.ClientSession, service_url: str, count: int) -> tuple[list[float], float]:
    run_id, name = await new_run(client), f"bench_{uuid.uuid4().hex}"
    arrivals: list[float] = []
    reader = asyncio.create_task(tail(client, name, arrivals))
    await asyncio.sleep(0.2)  # the reader is connected and waiting
    writer = Writer(service_url, f"{APP_PATH}runs/{run_id}/streams/{name}")
    sent: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        sent.append(time.perf_counter())
        await writer.put({"data": record(i)})
        if (i + 1) % 1000 == 0:
            print(f"  single writes: {i + 1}/{count}, reader has {len(arrivals)}", flush=True)
    await writer.close()
    await asyncio.wait_for(reader, 30)
    elapsed = time.perf_counter() - started
    assert len(arrivals) == count
    return [(a - s) * 1000 for a, s in zip(arrivals, sent, strict=True)], count / elapsed


async def batched_writes(client: aiohttp.ClientSession, service_url: str, count: int, batch: int) -> float:
    run_id, name = await new_run(client), f"bench_{uuid.uuid4().hex}"
    arrivals: list[float] = []
    reader = asyncio.create_task(tail(client, name, arrivals))
    await asyncio.sleep(0.2)
    writer = Writer(service_url, f"{APP_PATH}runs/{run_id}/streams/{name}")
    started = time.perf_counter()
    for first in range(0, count, batch):
        await writer.put([record(i) for i in range(first, min(count, first + batch))], "x-stream-multi: true\r\n")
    await writer.close()
    await asyncio.wait_for(reader, 30)
    assert len(arrivals) == count
    return count / (time.perf_counter() - started)


async def measure(service_url: str, count: int, batch: int) -> tuple[list[float], float, float]:
    async with aiohttp.ClientSession(base_url=service_url + APP_PATH) as client:
        latencies, rate = await single_writes(client, service_url, count)
        print(f"  batched writes ({batch} per request)...", flush=True)
        batched_rate = await batched_writes(client, service_url, count, batch)
    return latencies, rate, batched_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    name = create_database(prefix="pgw_bench")
    try:
        url = db_url(name)
        print(f"database {name}: baseline, {args.chunks} raw single-row INSERT commits", flush=True)
        raw_rate = raw_insert_rate(url, args.chunks)
        print("starting pg-workflow (deploys the schema)", flush=True)
        service = Service(url).start()
        try:
            print(f"{args.chunks} chunks of {RECORD} bytes, one writer, one live reader", flush=True)
            latencies, rate, batched_rate = asyncio.run(measure(service.url, args.chunks, args.batch))
        finally:
            service.stop()
    finally:
        drop_database(name)

    print()
    print(f"raw INSERT commits/s (1 connection)     {raw_rate:10.0f}")
    print(f"stream chunks/s, one PUT per chunk      {rate:10.0f}   ratio to raw INSERT {rate / raw_rate:.2f}")
    print(f"stream chunks/s, {args.batch:4d} chunks per PUT   {batched_rate:10.0f}   "
          f"ratio to raw INSERT {batched_rate / raw_rate:.2f}")
    print(f"write → reader latency ms  p50 {percentile(latencies, 0.50):.2f}  p99 {percentile(latencies, 0.99):.2f}  "
          f"max {max(latencies):.2f}  mean {statistics.fmean(latencies):.2f}")


if __name__ == "__main__":
    main()
