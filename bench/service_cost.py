"""What the service costs per event and per queue message, A/B against another checkout in the same run.

    .venv/bin/python -m bench.service_cost [--rounds 4] [--runs 20] [--steps 10] [--messages 400]
                                           [--compare ../other-worktree] [--env-b NAME=VALUE ...]

Each round, for each service in turn (the order rotates, so load from elsewhere on the machine hits both alike):

- events: ``--runs`` runs one request at a time (idle), each run_created, run_started, ``--steps`` x
  (step_created, step_started, step_completed), run_completed — POST /runs/:id/events. Reported: the
  service time of each request (durationMs of the service's own request log line), the client's round
  trip, the service process's CPU per event (user + system, /proc) and that of the PostgreSQL backends
  connected to its database;
- queue: ``--messages`` POST /queue from 16 concurrent enqueuers to a no-op handler in this process;
  reported: messages/s delivered and the service's and its backends' CPU per message (enqueue + claim +
  delivery + ack);
  then 100 messages one at a time: enqueue → handler p50 (idle).

Services run with the production defaults (WF_ACCESS_LOG=true, LOG_LEVEL=info), each on its own fresh
database (migrated by the service at start). ``--compare DIR`` runs DIR's code with DIR/.venv/bin/python
as service B; without it, ``--env-b`` (extra environment: an env switch) or ``--b-module`` (e.g.
bench.uvloop_service: the same code on uvloop) start B from this checkout.
Every database made is dropped on exit. PGW_TEST_ADMIN_URL as for the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

from bench.queue_latency import NoopHandler, percentile
from tests.pgw import ADMIN_URL, ROOT, create_database, db_url, drop_database, free_port, service_env

# The service's own request line (WF_ACCESS_LOG=true, text format): its durationMs is the service time.
REQUEST_RE = re.compile(r"pg_workflow\.request: (\S+) (\S+) \d+ .*durationMs=([\d.]+) .*userAgent=(\S+)")
EVENTS_AGENT = "bench-service-cost-events"
QUEUE_AGENT = "bench-service-cost-queue"


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


@dataclass
class Target:
    """One service under test: its checkout, interpreter and extra environment."""

    label: str
    root: Path
    python: str
    env: dict[str, str]
    module: str = "service"
    database: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = Path()
    results: dict[str, list[float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, workdir: Path) -> None:
        self.database = create_database(prefix="pgw_bench_cost")
        self.port = free_port()
        self.log_path = workdir / f"{self.label}.log"
        env = service_env(**{"WF_ACCESS_LOG": "true", "LOG_LEVEL": "info", **self.env})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.python, "-m", self.module, "--host", "127.0.0.1", "--port", str(self.port),
                 db_url(self.database)], cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.database:
            drop_database(self.database)

    def cpu(self) -> tuple[float, float]:
        assert self.process is not None
        return process_cpu(self.process.pid)

    def backend_cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) of each PostgreSQL backend connected to this service's database."""
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:  # from elsewhere: looking costs the database nothing
            pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                                   (self.database,))]
        return {pid: sum(process_cpu(pid)) for pid in pids}

    def note_backend_cpu(self, name: str, before: dict[int, float], after: dict[int, float], count: int) -> None:
        """PostgreSQL CPU ms per item: the service's backends (a backend that left during the phase is not counted)."""
        self.note(name, sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) * 1000 / count)

    def note_cpu(self, name: str, before: tuple[float, float], after: tuple[float, float], count: int) -> None:
        """CPU ms per item: user + system, and the system (kernel) part alone."""
        user, system = after[0] - before[0], after[1] - before[1]
        self.note(name, (user + system) * 1000 / count)
        self.note(f"{name}, kernel part", system * 1000 / count)

    def note(self, name: str, *values: float) -> None:
        self.results.setdefault(name, []).extend(values)


def service_times(log_path: Path, offset: int, agent: str, route_part: str) -> list[float]:
    """Service times (ms) of the requests of ``agent`` whose route contains ``route_part``, after ``offset``."""
    with log_path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [float(m.group(3)) for m in REQUEST_RE.finditer(text) if m.group(4) == agent
            and route_part in m.group(2)]


async def post_event(http: aiohttp.ClientSession, base: str, run_id: str | None, event_type: str,
                     correlation_id: str | None = None, data: Any = None) -> tuple[dict[str, Any], float]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    sent = time.perf_counter()
    async with http.post(f"{base}/runs/{run_id or 'null'}/events", json=body) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
    return answer, (time.perf_counter() - sent) * 1000


async def events_phase(target: Target, runs: int, steps: int) -> None:
    base = target.url + "/api/v1/apps/default"
    round_trips: list[float] = []
    offset = target.log_path.stat().st_size
    async with aiohttp.ClientSession(headers={"User-Agent": EVENTS_AGENT}) as http:
        await one_run(http, base, steps)  # warm: connections, plans
        cpu_before, pg_before = target.cpu(), target.backend_cpu()
        for _ in range(runs):
            round_trips += await one_run(http, base, steps)
        cpu_after, pg_after = target.cpu(), target.backend_cpu()
    await asyncio.sleep(0.2)
    times = service_times(target.log_path, offset, EVENTS_AGENT, "/events")[steps * 3 + 3:]  # not the warm-up
    target.note("event service ms", *times)
    target.note("event round trip ms", *round_trips)
    target.note_cpu("event service CPU ms", cpu_before, cpu_after, len(round_trips))
    target.note_backend_cpu("event PostgreSQL CPU ms", pg_before, pg_after, len(round_trips))


async def one_run(http: aiohttp.ClientSession, base: str, steps: int) -> list[float]:
    data = {"deploymentId": "bench", "workflowName": "workflow//bench//seq", "input": [1, 2, 3]}
    answer, first = await post_event(http, base, None, "run_created", data=data)
    run_id = answer["run"]["runId"]
    times = [first]
    times.append((await post_event(http, base, run_id, "run_started"))[1])
    for i in range(steps):
        step = f"step_{i:02d}"
        times.append((await post_event(http, base, run_id, "step_created", step,
                                       {"stepName": "step//bench//add", "input": [i, 1]}))[1])
        times.append((await post_event(http, base, run_id, "step_started", step))[1])
        times.append((await post_event(http, base, run_id, "step_completed", step, {"result": i + 1}))[1])
    times.append((await post_event(http, base, run_id, "run_completed", data={"output": steps}))[1])
    return times


async def enqueue(http: aiohttp.ClientSession, base: str, i: int) -> str:
    body = {"queueName": "__wkf_step_bench", "message": {"workflowRunId": f"wrun_{i}", "stepId": f"s{i}"},
            "deploymentId": "bench"}
    async with http.post(base + "/queue", json=body) as resp:
        answer = await resp.json()
        assert resp.status == 201, answer
        return str(answer["messageId"])


async def queue_phase(target: Target, handler: CountingHandler, messages: int, concurrency: int = 16,
                      idle: int = 100) -> None:
    base = target.url + "/api/v1/apps/default"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": QUEUE_AGENT}) as http:
        for i in range(20):  # warm
            await asyncio.wait_for(handler.arrival(await enqueue(http, base, i)), 10)
        sent: dict[str, float] = {}
        counter = iter(range(messages))

        async def client() -> None:
            for i in counter:
                t = time.perf_counter()
                sent[await enqueue(http, base, i)] = t

        cpu_before, pg_before = target.cpu(), target.backend_cpu()
        handler.connections.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        await asyncio.wait_for(asyncio.gather(*(handler.arrival(m) for m in sent)), 120)
        finished = max(handler.arrived[m] for m in sent)
        await asyncio.sleep(0.3)  # the last acks
        cpu_after, pg_after = target.cpu(), target.backend_cpu()
        target.note("queue msg/s (16 enqueuers)", messages / (finished - started))
        target.note_cpu("queue service CPU ms/msg", cpu_before, cpu_after, messages)
        target.note_backend_cpu("queue PostgreSQL CPU ms/msg", pg_before, pg_after, messages)
        target.note("handler connections per 100 msgs", len(handler.connections) * 100 / messages)
        latencies = []
        for i in range(idle):
            t = time.perf_counter()
            message_id = await enqueue(http, base, i)
            arrived = await asyncio.wait_for(handler.arrival(message_id), 10)
            latencies.append((arrived - t) * 1000)
        target.note("enqueue→handler ms (idle)", *latencies)


class CountingHandler(NoopHandler):
    """The no-op handler (answers {"ok": true}, as world-local's does), counting the connections deliveries use."""

    def __init__(self) -> None:
        super().__init__()
        self.connections: set[object] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.connections.add(request.transport.get_extra_info("peername") if request.transport else None)
        return await super().handle(request)


def diagnosis(target: Target) -> str:
    """What the database and the service's log say when messages stop arriving."""
    lines = [f"--- {target.label}: messages not delivered in time; its log: {target.log_path}"]
    with psycopg.connect(db_url(target.database), autocommit=True) as conn:
        lines += [f"  messages {row}" for row in conn.execute(
            "SELECT status, attempt, count(*), min(due_at), max(lease_until) FROM workflow.messages GROUP BY 1, 2")]
        lines += [f"  session {row}" for row in conn.execute(
            "SELECT state, wait_event_type, wait_event, left(query, 100), now() - query_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    log = target.log_path.read_text(errors="replace").splitlines()
    lines += ["  " + line for line in log if " WARNING " in line or " ERROR " in line][-20:]
    return "\n".join(lines)


def summary(values: list[float]) -> tuple[float, str]:
    if len(values) == 1:
        return values[0], f"{values[0]:8.3f}"
    med = statistics.median(values)
    return med, f"{med:8.3f} (p90 {percentile(values, 0.9):.3f}, n={len(values)})"


def targets_of(args: argparse.Namespace) -> list[Target]:
    targets = [Target("A", ROOT, sys.executable, {})]
    if args.compare:
        other = Path(args.compare).resolve()
        targets.append(Target("B", other, str(other / ".venv" / "bin" / "python"), dict(args.env_b), args.b_module))
    elif args.env_b or args.b_module != "service":
        targets.append(Target("B", ROOT, sys.executable, dict(args.env_b), args.b_module))
    return targets


async def run(args: argparse.Namespace, targets: list[Target], workdir: Path) -> None:
    handler = CountingHandler()
    runner = await handler.start()
    try:
        endpoint = f"http://127.0.0.1:{handler.port}/.well-known/workflow/v1"
        registration = {"podId": "bench", "deploymentVersion": "bench",
                        "endpoints": {"workflow": endpoint + "/flow", "step": endpoint + "/step"}}
        for target in targets:
            target.start(workdir)
            print(f"{target.label}: {target.root} ({target.python}) {target.module} {target.env or ''} "
                  f"on :{target.port}", flush=True)
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[: r % len(targets)]
            for target in order:
                t0 = time.perf_counter()
                if "events" in args.phases:
                    await events_phase(target, args.runs, args.steps)
                if "queue" in args.phases:
                    # (Re)register: a registration is a lease the pod must renew, or its messages are held.
                    async with aiohttp.ClientSession() as http:
                        async with http.post(target.url + "/api/v1/apps/default/handlers", json=registration) as resp:
                            assert resp.status == 201, await resp.text()
                    try:
                        await queue_phase(target, handler, args.messages)
                    except TimeoutError:
                        print(diagnosis(target), flush=True)
                        raise RuntimeError(f"{target.label}: messages not delivered in time") from None
                print(f"round {r + 1}/{args.rounds} {target.label}: {time.perf_counter() - t0:.1f} s", flush=True)
        print()
        print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
              f"{args.rounds} rounds; medians (per-round figures: median of the rounds)")
        names = list(targets[0].results)
        for name in names:
            if not all(target.results.get(name) for target in targets):
                continue  # e.g. no request lines from a service that writes none
            line = f"  {name:<36}"
            meds = []
            for target in targets:
                med, text = summary(target.results.get(name, [float("nan")]))
                meds.append(med)
                line += f"  {target.label} {text}"
            if len(meds) == 2 and meds[1]:
                line += f"   A/B {meds[0] / meds[1]:.2f}"
                a_values, b_values = (t.results.get(name, []) for t in targets)
                if len(a_values) == len(b_values) == args.rounds > 1:  # one figure per round: paired by round
                    paired = statistics.median(x / y for x, y in zip(a_values, b_values, strict=True) if y)
                    line += f" (paired by round {paired:.2f})"
            print(line)
    finally:
        await runner.cleanup()
        for target in targets:
            target.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=20, help="runs per round in the events phase")
    parser.add_argument("--steps", type=int, default=10, help="steps per run")
    parser.add_argument("--messages", type=int, default=400, help="messages per round in the queue phase")
    parser.add_argument("--phases", default="events,queue")
    parser.add_argument("--compare", metavar="DIR", help="another checkout (with its own .venv) as service B")
    parser.add_argument("--b-module", default="service",
                        help="service B runs `python -m MODULE` (e.g. bench.uvloop_service)")
    parser.add_argument("--env-b", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                        metavar="NAME=VALUE", help="extra environment of service B")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pgw-service-cost-"))
    asyncio.run(run(args, targets_of(args), workdir))
    shutil.rmtree(workdir)  # kept when the run failed: the services' logs are there


if __name__ == "__main__":
    main()
