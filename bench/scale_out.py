"""Scale-out benchmark: 1, 2 and 4 pg-workflow replicas on one database under
the same queue load, on loopback.

    .venv/bin/python -m bench.scale_out [--replicas 1 2 4] [--runs 100] [--wakeups 4] [--steps 1500]

Each round starts N replicas (every one dispatches) on a fresh database, one
handler app (a loopback HTTP server that holds each delivery --hold-ms), and
enqueues the same load through the replicas in turn: --steps step messages
plus, for --runs runs, --wakeups workflow messages each (with idempotency keys,
so they stay separate messages that must be serialised per run). It reports
delivered messages/s and enqueue → handler latency per replica count, which
replica delivered what (the handler maps each connection's port to the
replica process owning it), and checks two invariants on every delivery:
no message is delivered twice at the same time, and no two workflow messages
of one run are in the handler at the same time. Writes bench/scale_out.png.
Uses PGW_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from service import migrate
from tests.pgw import Service, create_database, db_url, drop_database

PNG = Path(__file__).resolve().parent / "scale_out.png"


def socket_owners(pids: dict[int, int]) -> dict[int, int]:
    """Local TCP port -> replica index, for the sockets the replica processes own."""
    inode_owner: dict[str, int] = {}
    for pid, replica in pids.items():
        fd_dir = f"/proc/{pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode_owner[target[8:-1]] = replica
    owners = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                port, inode = int(cols[1].rsplit(":", 1)[1], 16), cols[9]
                if inode in inode_owner:
                    owners[port] = inode_owner[inode]
    return owners


@dataclass
class Handler:
    """The app's flow/step endpoints: holds each delivery, checks the invariants."""

    hold: float
    pids: dict[int, int] = field(default_factory=dict)
    port: int = 0
    first_arrival: dict[str, float] = field(default_factory=dict)
    deliveries: int = 0
    redeliveries: int = 0
    by_replica: Counter[int] = field(default_factory=Counter)
    in_flight: set[str] = field(default_factory=set)
    runs_in_flight: set[str] = field(default_factory=set)
    duplicate_overlaps: int = 0
    run_overlaps: int = 0
    max_runs_in_flight: int = 0
    port_owner: dict[int, int] = field(default_factory=dict)
    all_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/.well-known/workflow/v1/{kind}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        self.port = runner.addresses[0][1]
        return runner

    def replica_of(self, request: web.Request) -> int:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        port = peer[1] if peer else -1
        if port not in self.port_owner:
            self.port_owner.update(socket_owners(self.pids))
        return self.port_owner.get(port, -1)

    async def handle(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        message_id = request.headers["x-vqs-message-id"]
        body = await request.json()
        run = body.get("runId") if request.match_info["kind"] == "flow" else None
        self.deliveries += 1
        self.by_replica[self.replica_of(request)] += 1
        if message_id in self.in_flight:
            self.duplicate_overlaps += 1
        if run is not None and run in self.runs_in_flight:
            self.run_overlaps += 1
        self.in_flight.add(message_id)
        if run is not None:
            self.runs_in_flight.add(run)
            self.max_runs_in_flight = max(self.max_runs_in_flight, len(self.runs_in_flight))
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.in_flight.discard(message_id)
            if run is not None:
                self.runs_in_flight.discard(run)
        if message_id in self.first_arrival:
            self.redeliveries += 1
        else:
            self.first_arrival[message_id] = now
            if len(self.first_arrival) >= self.expected:
                self.all_arrived.set()
        return web.json_response({"ok": True})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    replicas: int
    messages: int
    rate: float
    p50: float
    p95: float
    p99: float
    by_replica: list[int]
    redeliveries: int
    duplicate_overlaps: int
    run_overlaps: int
    max_runs_in_flight: int


def load(runs: int, wakeups: int, steps: int) -> list[dict[str, Any]]:
    """The same messages every round: workflow wake-ups of each run interleaved with step messages."""
    bodies: list[dict[str, Any]] = []
    for w in range(wakeups):
        for r in range(runs):
            bodies.append({"queueName": "__wkf_workflow_bench", "deploymentId": "bench",
                           "idempotencyKey": f"wake-{r}-{w}", "message": {"runId": f"wrun_bench{r:05d}"}})
    for s in range(steps):
        bodies.insert((s * 7) % (len(bodies) + 1), {
            "queueName": "__wkf_step_bench", "deploymentId": "bench",
            "message": {"workflowRunId": f"wrun_bench{s % max(runs, 1):05d}", "stepId": f"step_{s}"}})
    return bodies


async def round_with(replicas: int, bodies: list[dict[str, Any]], hold_ms: float, concurrency: int) -> Result:
    name = create_database(prefix="pgw_bench")
    url = db_url(name)
    services: list[Service] = []
    runner: web.AppRunner | None = None
    try:
        migrate.deploy(url)
        services = [Service(url, env={"LOG_LEVEL": "WARNING"}).start() for _ in range(replicas)]
        handler = Handler(hold=hold_ms / 1000, expected=len(bodies))
        handler.pids = {s.process.pid: i for i, s in enumerate(services) if s.process is not None}
        runner = await handler.start()
        bases = [s.url + "/api/v1/apps/default" for s in services]
        endpoint = f"http://127.0.0.1:{handler.port}/.well-known/workflow/v1"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            registration = {"podId": "bench", "deploymentVersion": "bench",
                            "endpoints": {"workflow": endpoint + "/flow", "step": endpoint + "/step"}}
            async with http.post(bases[0] + "/handlers", json=registration) as resp:
                assert resp.status == 201, await resp.text()
            sent: dict[str, float] = {}
            next_i = 0

            async def client() -> None:
                nonlocal next_i
                while next_i < len(bodies):
                    i = next_i
                    next_i += 1
                    t = time.perf_counter()
                    async with http.post(bases[i % replicas] + "/queue", json=bodies[i]) as resp:
                        assert resp.status == 201, await resp.text()
                        sent[(await resp.json())["messageId"]] = t

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            await asyncio.wait_for(handler.all_arrived.wait(), 300)
        finished = max(handler.first_arrival.values())
        latencies = [(handler.first_arrival[m] - t) * 1000 for m, t in sent.items()]
        return Result(replicas, len(bodies), len(bodies) / (finished - started), percentile(latencies, .5),
                      percentile(latencies, .95), percentile(latencies, .99),
                      [handler.by_replica[i] for i in range(replicas)], handler.redeliveries,
                      handler.duplicate_overlaps, handler.run_overlaps, handler.max_runs_in_flight)
    finally:
        if runner is not None:
            await runner.cleanup()
        for service in services:
            service.stop()
        drop_database(name)


def plot(results: list[Result]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.replicas for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(xs, [r.rate for r in results], marker="o")
    left.set(title="Delivered messages/s", xlabel="replicas", ylabel="messages/s", xticks=xs)
    left.set_ylim(bottom=0)
    for q, label in (("p50", "p50"), ("p95", "p95"), ("p99", "p99")):
        right.plot(xs, [getattr(r, q) for r in results], marker="o", label=label)
    right.set(title="Enqueue → handler latency", xlabel="replicas", ylabel="ms", xticks=xs)
    right.set_ylim(bottom=0)
    right.legend()
    fig.suptitle("pg-workflow: replicas on one PostgreSQL (2-core machine, loopback)")
    fig.tight_layout()
    fig.savefig(PNG, dpi=100)


async def run(replica_counts: list[int], runs: int, wakeups: int, steps: int, hold_ms: float,
              concurrency: int) -> None:
    bodies = load(runs, wakeups, steps)
    results = []
    for n in replica_counts:
        print(f"{n} replica(s): {len(bodies)} messages ...", flush=True)
        results.append(await round_with(n, bodies, hold_ms, concurrency))
    print()
    print("| replicas | messages | delivered/s | p50 ms | p95 ms | p99 ms | deliveries per replica | redeliveries "
          "| same message twice at once | one run's workflow messages at once |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.replicas} | {r.messages} | {r.rate:,.0f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} "
              f"| {' / '.join(map(str, r.by_replica))} | {r.redeliveries} | {r.duplicate_overlaps} "
              f"| {r.run_overlaps} |")
    print(f"\nmax distinct runs in the workflow handler at once: {[r.max_runs_in_flight for r in results]}")
    print("throughput relative to one replica: "
          + ", ".join(f"{r.replicas}: {r.rate / results[0].rate:.2f}x" for r in results))
    plot(results)
    print(f"wrote {PNG}")
    if any(r.duplicate_overlaps or r.run_overlaps for r in results):
        raise SystemExit("an invariant was violated")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--wakeups", type=int, default=4, help="workflow messages per run")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--hold-ms", type=float, default=5.0, help="time the handler holds each delivery")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent enqueuers")
    args = parser.parse_args(argv)
    asyncio.run(run(args.replicas, args.runs, args.wakeups, args.steps, args.hold_ms, args.concurrency))


if __name__ == "__main__":
    main()
