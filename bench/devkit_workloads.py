"""SPEC §11 workloads, end to end, with the real Workflow DevKit runtime.

    .venv/bin/python -m bench.devkit_workloads [--line 4|5] [--rounds 5] [--only NAME[,NAME]] [--worlds W[,W]]

The e2e app (tests/e2e/app: workflow 4.8.9 built with `wf build`) runs each
workload through its /control/bench route — start the runs, wait until they are
terminal — and reports the time from just before start() to the latest
`completedAt` the World recorded. One app process per World; all are started first and every
round runs each World in turn (rotating the order), so other load on the machine hits all alike
(--sequential: one World at a time, as before):

  pg-workflow     a pg-workflow service on a fresh, migrated database; the app uses pg-workflow-world
  world-local     WORKFLOW_TARGET_WORLD=local (@workflow/world-local 4.4.1), data in a temp dir
  world-postgres  WORKFLOW_TARGET_WORLD=@workflow/world-postgres on a fresh database (schema by its `bootstrap`)
  pgw-separate-queue  pg-workflow with PGW_WORLD_EVENT_MESSAGES=0: every queue message its own POST /queue
                  (the state before the event_messages change), to measure it in the same run
  pgw-no-snapshots  pg-workflow with PGW_WORLD_RUN_SNAPSHOTS=0: every run_started goes to the service
                  (the state before the run_snapshots change)
  pgw-base        pg-workflow from another checkout (--base-checkout DIR): its service (DIR/.venv, its own
                  schema) and its client World (DIR/clients/world, after npm install there): before and after
                  a change, in the same run
  memory          bench/memory_world.mjs: storage in Maps in the app, world-local's HTTP queue — the
                  runtime's floor (SPEC §13), not durable, only what these workloads use

DevKit 5 (--line 5): the same workloads in tests/e2e/app5 (workflow 5.0.0-beta.55, `wf build`), whose client
World serves its 5 line (picked from the app's @workflow/core). Worlds:

  pg-workflow     as above, the client's 5 line with events.createBatch, event deltas and queueBatch
  world-local     WORKFLOW_TARGET_WORLD=local: the @workflow/world-local core 5.0.0-beta.55 depends on
                  (5.0.0-beta.46), data in a temp dir
  memory          bench/memory_world5.mjs: the floor on the 5.x World interface (world-local 5's queue)
  pgw-no-create-batch, pgw-no-deltas, pgw-no-queue-batch
                  pg-workflow with one round-trip feature of the client off (PGW_WORLD_EVENT_BATCHES=0,
                  PGW_WORLD_EVENT_DELTAS=0, PGW_WORLD_QUEUE_BATCHES=0); pgw-none: all three off

and `profile` on line 5: seq10 and par10 on pg-workflow and each of those variants, all up at once, windows
interleaved (--profile-rounds, --profile-runs runs each), reporting per step the client's HTTP calls by route,
the commits and rows of each variant's own database (less its idle rate) and the CPU of the app, the service
and the PostgreSQL backends serving it.

Workloads (--only): noop, seq10, par10, conc20x10, seq110, and `profile`: the
10-sequential-steps workload on pg-workflow again, with the client's request
trace (PGW_WORLD_TRACE=1) and the service's access log with request durations
(bench.timed_service), broken down into calls per step, service and client
latency per route, enqueue → delivery delay and handler times.

Prints progress while it runs and a table at the end (median and min over the
rounds, pg-workflow / baseline ratios, the SPEC's published figures). Every
process, database and temp dir it makes is removed on exit, Ctrl-C or failure.
Databases: PGW_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from service import migrate
from tests.e2e.conftest import APP5_DIR, APP_DIR, ControlError, ensure_app_built, http_json
from tests.pgw import ADMIN_URL, Service, create_database, db_url, drop_database, free_port

# pg-workflow with one optimisation switched off, to measure what it buys in the same run.
PGW_VARIANTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {  # world -> (app env, service env)
    "pgw-separate-queue": ({"PGW_WORLD_EVENT_MESSAGES": "0"}, {}),
    "pgw-no-snapshots": ({"PGW_WORLD_RUN_SNAPSHOTS": "0"}, {}),
}
WORLDS = ("pg-workflow", "world-local", "world-postgres", "memory", *PGW_VARIANTS)
BASELINES = ("world-local", "world-postgres", "memory", "pgw-base", *PGW_VARIANTS)
# --base-checkout: the checkout whose service the "pgw-base" World runs.
BASE_CHECKOUT: Path | None = None
MEMORY_WORLD = Path(__file__).resolve().parent / "memory_world.mjs"

# DevKit 5 (--line 5): the client's 5 line with one round-trip feature off (or all three), in the same run.
PGW5_SWITCHES = {"create-batch": "PGW_WORLD_EVENT_BATCHES", "deltas": "PGW_WORLD_EVENT_DELTAS",
                 "queue-batch": "PGW_WORLD_QUEUE_BATCHES"}
PGW5_VARIANTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    **{f"pgw-no-{name}": ({env: "0"}, {}) for name, env in PGW5_SWITCHES.items()},
    "pgw-none": ({env: "0" for env in PGW5_SWITCHES.values()}, {}),
}
WORLDS5 = ("pg-workflow", "world-local", "memory", *PGW5_VARIANTS)
BASELINES5 = ("world-local", "memory", *PGW5_VARIANTS)
MEMORY_WORLD5 = Path(__file__).resolve().parent / "memory_world5.mjs"
PROFILE5_WORLDS = ("pg-workflow", *PGW5_VARIANTS)


@dataclass(frozen=True)
class Line:
    """A DevKit line: its app, its Worlds and what each is."""

    major: int
    app_dir: Path
    worlds: tuple[str, ...]
    baselines: tuple[str, ...]
    variants: dict[str, tuple[dict[str, str], dict[str, str]]]
    memory_world: Path
    devkit: str


LINES = {
    4: Line(4, APP_DIR, WORLDS, BASELINES, PGW_VARIANTS, MEMORY_WORLD, "workflow 4.8.9"),
    5: Line(5, APP5_DIR, WORLDS5, BASELINES5, PGW5_VARIANTS, MEMORY_WORLD5, "workflow 5.0.0-beta.55"),
}


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    workflow: str
    args: tuple[Any, ...]
    runs: int = 1
    spec: tuple[float, float] | None = None  # SPEC §11 in ms: (world-postgres, world-local)
    floor: str = ""  # SPEC §13/§6: the runtime alone on an in-memory World


WORKLOADS = (
    Workload("noop", "workflow with no steps", "benchNoSteps", (), spec=(36, 39)),
    Workload("seq10", "10 sequential no-op steps", "benchSequential", (10,), spec=(349, 326), floor="65-75 ms"),
    Workload("par10", "10 parallel no-op steps", "benchParallel", (10,), spec=(152, 184), floor="34-41 ms"),
    Workload("conc20x10", "20 concurrent runs x 10 sequential steps", "benchSequential", (10,), runs=20,
             spec=(5400, 5400), floor="≈0.7 s"),
    Workload("seq110", "110 sequential no-op steps", "benchSequential", (110,), floor="≈1.4 s"),
)
WORKLOAD_NAMES = tuple(w.name for w in WORKLOADS)


def progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# Resources: everything goes through one ExitStack, so it is undone in reverse on any exit.


def pg_url(dbname: str) -> str:
    """A postgresql:// URL (node-postgres wants one) for a database on the admin server."""
    info = conninfo_to_dict(db_url(dbname))
    user = urllib.parse.quote(str(info.get("user") or "postgres"))
    password = info.get("password")
    auth = f"{user}:{urllib.parse.quote(str(password))}" if password else user
    host = info.get("host") or "127.0.0.1"
    if str(host).startswith("/"):
        return f"postgresql://{auth}@/{dbname}?host={urllib.parse.quote(str(host))}&port={info.get('port') or 5432}"
    return f"postgresql://{auth}@{host}:{info.get('port') or 5432}/{dbname}"


def scratch_database(stack: contextlib.ExitStack, prefix: str) -> str:
    name = create_database(prefix=prefix)
    stack.callback(drop_database, name)
    return name


def start_service(stack: contextlib.ExitStack, workdir: Path, *, timed: bool = False,
                  env_extra: dict[str, str] | None = None, checkout: Path | None = None) -> Service:
    name = scratch_database(stack, "pgw_bench")
    url = db_url(name)
    if timed:  # the profile also reports time per SQL function (pg_stat_user_functions)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET track_functions = \'all\'')
    if checkout is None:
        migrate.deploy(url)  # another checkout's service deploys its own schema (its sqitch.plan) at start
    env = {"WF_ACCESS_LOG": "true"} if timed else {}
    env.update(env_extra or {})
    service = Service(url, env=env, log_path=workdir / f"service-{name}.log",
                      module="bench.timed_service" if timed else "service")
    if checkout is not None:
        service.python, service.cwd = str(checkout / ".venv" / "bin" / "python"), checkout
    stack.callback(service.stop)
    service.start()
    return service


@dataclass
class App:
    """The e2e app (node server.mjs) on one World."""

    world: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def bench(self, workload: Workload, timeout: float = 600.0) -> float:
        body = {"workflow": workload.workflow, "args": list(workload.args), "runs": workload.runs,
                "timeoutMs": int(timeout * 1000)}
        out = http_json("POST", f"{self.url}/control/bench", body, timeout=timeout + 30)
        if out["elapsedMs"] is None:
            raise RuntimeError(f"{self.world} {workload.name}: runs ended {out['statuses']}\n{self.log_tail()}")
        return float(out["elapsedMs"])

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- app log ({self.world}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_app(stack: contextlib.ExitStack, app_dir: Path, workdir: Path, world: str, env_extra: dict[str, str]) -> App:
    """node server.mjs on a free port; its URL is also where the World delivers queue messages."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WORKFLOW_", "PLT_WORLD_", "PGW_WORLD_")) and k not in ("K8S_SERVICE_ACCOUNT_DIR",
                                                                                        "DATABASE_URL")}
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "NODE_NO_WARNINGS": "1",
                "WORKFLOW_APP_URL": url,          # pg-workflow-world: registered with the service
                "WORKFLOW_LOCAL_BASE_URL": url,   # world-local / world-postgres: their HTTP delivery target
                **env_extra})
    log_path = workdir / f"app-{world}-{port}.log"
    with log_path.open("ab") as log:
        # Own session: a Ctrl-C in the terminal reaches only us, and we stop the app cleanly.
        process = subprocess.Popen(["node", "server.mjs"], cwd=app_dir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    app = App(world=world, url=url, process=process, log_path=log_path)
    stack.callback(app.stop)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app ({world}) exited with {process.returncode}\n{app.log_tail()}")
        with contextlib.suppress(OSError, ControlError):
            if http_json("GET", f"{url}/control/ready", timeout=2)["ready"]:
                return app
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app ({world}) did not become ready\n{app.log_tail()}")
        time.sleep(0.1)


def start_world(stack: contextlib.ExitStack, world: str, app_dir: Path, workdir: Path, *,
                extra_env: dict[str, str] | None = None, timed_service: bool = False,
                line: int = 4, service_env: dict[str, str] | None = None) -> tuple[App, Service | None]:
    """The app on `world`, with whatever that World needs (service, database, data dir)."""
    service: Service | None = None
    variants = LINES[line].variants
    if world in ("pg-workflow", "pgw-base") or world in variants:
        app_env, variant_service_env = variants.get(world, ({}, {}))
        if world == "pgw-base" and BASE_CHECKOUT is None:
            raise RuntimeError("pgw-base needs --base-checkout DIR")
        service = start_service(stack, workdir, timed=timed_service,
                                env_extra={**variant_service_env, **(service_env or {})},
                                checkout=BASE_CHECKOUT if world == "pgw-base" else None)
        # pgw-base: that checkout's own client World with its service (an older World may not speak to a newer
        # service, nor the reverse); its dependencies must be installed (npm install in its clients/world).
        target = ("pg-workflow-world" if world != "pgw-base" or BASE_CHECKOUT is None
                  else str(BASE_CHECKOUT / "clients" / "world" / "index.js"))
        env = {"WORKFLOW_TARGET_WORLD": target, "WORKFLOW_SERVICE_URL": service.url,
               "WORKFLOW_APP_ID": "default", "WORKFLOW_DEPLOYMENT_ID": f"bench-{uuid.uuid4().hex[:8]}", **app_env}
    elif world == "world-local" and line == 5:
        # `local` in core 5 is the @workflow/world-local its own package depends on (5.0.0-beta.46 for
        # @workflow/core 5.0.0-beta.55, pinned by tests/e2e/app5/package-lock.json).
        data_dir = tempfile.mkdtemp(prefix="world-local-data-", dir=workdir)
        env = {"WORKFLOW_TARGET_WORLD": "local", "WORKFLOW_LOCAL_DATA_DIR": data_dir}
    elif world == "world-local":
        data_dir = tempfile.mkdtemp(prefix="world-local-data-", dir=workdir)
        # `local` is the runtime's name for @workflow/world-local (the app's pinned 4.4.1): that package
        # exports only createLocalWorld, so WORKFLOW_TARGET_WORLD=@workflow/world-local does not load in 4.8.9.
        env = {"WORKFLOW_TARGET_WORLD": "local", "WORKFLOW_LOCAL_DATA_DIR": data_dir}
    elif world == "world-postgres":
        bootstrap = app_dir / "node_modules" / ".bin" / "bootstrap"
        if not bootstrap.exists():
            raise RuntimeError("@workflow/world-postgres is not installed in tests/e2e/app (devDependencies)")
        url = pg_url(scratch_database(stack, "pgw_bench_wpg"))
        # Its own schema (drizzle migrations) and graphile-worker's, before the app starts.
        proc = subprocess.run([str(bootstrap)], cwd=app_dir, env={**os.environ, "WORKFLOW_POSTGRES_URL": url},
                              capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"world-postgres bootstrap failed:\n{proc.stdout}\n{proc.stderr}")
        env = {"WORKFLOW_TARGET_WORLD": "@workflow/world-postgres", "WORKFLOW_POSTGRES_URL": url}
    elif world == "memory":
        env = {"WORKFLOW_TARGET_WORLD": str(LINES[line].memory_world)}
    else:
        raise ValueError(world)
    app = start_app(stack, app_dir, workdir, world, {**env, **(extra_env or {})})
    if line == 5 and service is not None:
        # The client picks its line from the app's @workflow/core; say what it picked and what it offers.
        config = http_json("GET", f"{app.url}/control/world")["config"]
        if config.get("line") != 5:
            raise RuntimeError(f"{world}: the client serves line {config.get('line')} ({config.get('lineSource')})")
        progress(f"{world}: client line 5 ({config.get('lineSource')}); createBatch {config.get('eventBatches')},"
                 f" event deltas {config.get('eventDeltas')}, queueBatch {config.get('queueBatches')}")
    return app, service


# --------------------------------------------------------------------------------------------------
# Timed workloads

Results = dict[str, dict[str, list[float]]]  # world -> workload -> ms per round
# Interleaved rounds: CPU ms per run used by every process on the machine while the round ran (the app, its
# World's service and database included, whatever they are): where the cores went, World by World.
CPU_RESULTS: Results = {}


def machine_cpu_seconds() -> float:
    """CPU seconds spent by all processes on the machine so far (Linux /proc/stat: user, nice, system, irq,
    softirq, steal), all cores."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

WARMUP = ("noop", "noop", "seq10", "seq10", "par10")


def measure_world(world: str, app_dir: Path, workdir: Path, workloads: list[Workload], rounds: int,
                  results: Results, line: int = 4) -> None:
    by_name = {w.name: w for w in WORKLOADS}
    with contextlib.ExitStack() as stack:
        progress(f"{world}: starting")
        app, _ = start_world(stack, world, app_dir, workdir, line=line)
        started = time.monotonic()
        for name in WARMUP:
            app.bench(by_name[name])
        progress(f"{world}: warmed up ({len(WARMUP)} runs, {time.monotonic() - started:.1f}s)")
        for r in range(1, rounds + 1):
            for workload in workloads:
                ms = app.bench(workload)
                results.setdefault(world, {}).setdefault(workload.name, []).append(ms)
                progress(f"{world:<14} round {r}/{rounds}  {workload.name:<10} {fmt_ms(ms):>9}")
                time.sleep(0.3 if workload.runs == 1 else 1.0)  # let trailing acks / cleanups settle
        progress(f"{world}: done, stopping")


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (Linux /proc), None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure_interleaved(worlds: list[str], app_dir: Path, workdir: Path, workloads: list[Workload], rounds: int,
                        results: Results, failures: dict[str, str], line: int = 4) -> None:
    """All Worlds up at once, each round running every World in turn (the order rotates), so load from
    elsewhere on the machine falls on all of them alike — the fair way to compare variants on a shared box."""
    by_name = {w.name: w for w in WORKLOADS}
    with contextlib.ExitStack() as stack:
        apps: dict[str, App] = {}
        services: dict[str, Service] = {}
        rss: dict[str, list[float]] = {}
        for world in worlds:
            try:
                progress(f"{world}: starting")
                apps[world], service = start_world(stack, world, app_dir, workdir, line=line)
                if service is not None and service.process is not None:
                    services[world] = service
                for name in WARMUP:
                    apps[world].bench(by_name[name])
                progress(f"{world}: warmed up")
            except (RuntimeError, OSError, ControlError, urllib.error.URLError) as exc:
                failures[world] = str(exc).splitlines()[0]
                progress(f"{world} FAILED: {exc}")
        live = [w for w in worlds if w in apps]
        for r in range(1, rounds + 1):
            order = live[(r - 1) % len(live):] + live[:(r - 1) % len(live)] if live else []
            for workload in workloads:
                for world in order:
                    if world in failures:
                        continue
                    try:
                        cpu_before = machine_cpu_seconds()
                        ms = apps[world].bench(workload)
                        cpu_ms = (machine_cpu_seconds() - cpu_before) * 1000 / workload.runs
                    except (RuntimeError, OSError, ControlError, urllib.error.URLError) as exc:
                        failures[world] = str(exc).splitlines()[0]
                        progress(f"{world} FAILED: {exc}")
                        continue
                    results.setdefault(world, {}).setdefault(workload.name, []).append(ms)
                    CPU_RESULTS.setdefault(world, {}).setdefault(workload.name, []).append(cpu_ms)
                    progress(f"{world:<18} round {r}/{rounds}  {workload.name:<10} {fmt_ms(ms):>9}")
                    time.sleep(0.3 if workload.runs == 1 else 1.0)
            for world, service in services.items():
                mb = rss_mb(service.process.pid) if service.process is not None else None
                if mb is not None:
                    rss.setdefault(world, []).append(mb)
        for world, values in rss.items():
            progress(f"{world}: service RSS after each round (MB): " + " ".join(f"{v:.0f}" for v in values))


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def print_table(results: Results, workloads: list[Workload], worlds: list[str], failures: dict[str, str],
                line: int = 4) -> None:
    baselines, devkit = LINES[line].baselines, LINES[line].devkit

    def cell(world: str, name: str) -> str:
        values = results.get(world, {}).get(name)
        if not values:
            return "-"
        return f"{fmt_ms(statistics.median(values))} / {fmt_ms(min(values))}"

    def ratio(base: str, name: str) -> str:
        ours = results.get("pg-workflow", {}).get(name)
        theirs = results.get(base, {}).get(name)
        if not ours or not theirs:
            return "-"
        return f"{statistics.median(ours) / statistics.median(theirs):.2f}"

    headers = ["workload"]
    for world in worlds:
        headers.append(f"{world} med / min")
        if world in baselines and "pg-workflow" in worlds:
            headers.append(f"pgw/{world.removeprefix('world-')}")
    headers += ["SPEC wpg", "SPEC wl", "§13 floor"]
    rows = []
    for w in workloads:
        row = [w.title]
        for world in worlds:
            row.append(cell(world, w.name))
            if world in baselines and "pg-workflow" in worlds:
                row.append(ratio(world, w.name))
        row += [fmt_ms(w.spec[0]) if w.spec else "-", fmt_ms(w.spec[1]) if w.spec else "-", w.floor or "-"]
        rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * n for n in widths)
    print()
    print(f"DevKit {devkit}. Time from start to `completed` (rounds: " +
          ", ".join(f"{wd} {len(next(iter(results.get(wd, {}).values()), []))}" for wd in worlds) + ")")
    print("  ".join(h.ljust(n) for h, n in zip(headers, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(n) if i == 0 else c.rjust(n) for i, (c, n) in enumerate(zip(row, widths,
                                                                                            strict=True))))
    print("ratio = pg-workflow median / baseline median (lower is better). SPEC: §11 (2-core machine);"
          " §13 floor: runtime alone, in-memory World.")
    for world, reason in failures.items():
        print(f"{world}: not measured — {reason}")
    cpu_worlds = [w for w in worlds if CPU_RESULTS.get(w)]
    if cpu_worlds:
        print()
        print(f"CPU per run, all processes on the machine ({os.cpu_count()} cores), median ms over the rounds:")
        for w in workloads:
            cells = [f"{wd} {statistics.median(CPU_RESULTS[wd][w.name]):.0f}" for wd in cpu_worlds
                     if CPU_RESULTS[wd].get(w.name)]
            print(f"  {w.title:<28} " + "   ".join(cells))


# --------------------------------------------------------------------------------------------------
# Profile: where the time goes in 10 sequential steps on pg-workflow

TRACE_RE = re.compile(r"^\[pgw-trace\] (\w+) ([\d.]+) ([\d.]+) (.*)$")
ACCESS_RE = re.compile(r'pgw-access (\d+) (\d+) "(\S+) (\S+) [^"]*" "(.*)"$')
ID_RE = re.compile(r"/[a-z]+_[0-9A-Za-z]{16,}")
KIND_RE = re.compile(r"wkf_(workflow|step)_")


def route_of(method: str, target: str) -> str:
    path, _, query = target.partition("?")
    path = re.sub(r"^/api/v1/apps/[^/]+", "", path)
    path = ID_RE.sub(lambda m: "/:" + m.group(0)[1:].split("_", 1)[0], path)
    keys = [kv.split("=", 1)[0] for kv in query.split("&") if kv]
    return f"{method} {path}" + (f"?{'&'.join(keys)}" if keys else "")


def kind_of(queue_name: str) -> str:
    m = KIND_RE.search(queue_name)
    return m.group(1) if m else "other"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):6.2f}  p90 {pct(values, 0.9):6.2f}  n={len(values)}"


def wait_completed(service: Service, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Polls the service API directly (not through the app), so the client trace has only the runtime's calls."""
    deadline = time.monotonic() + timeout
    while True:
        run = http_json("GET", f"{service.url}/api/v1/apps/default/runs/{run_id}")
        if run["status"] in ("completed", "failed", "cancelled"):
            if run["status"] != "completed":
                raise RuntimeError(f"profile run {run_id} ended {run['status']}")
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"profile run {run_id} did not complete in {timeout}s")
        time.sleep(0.05)


def iso_ms(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


def profile(app_dir: Path, workdir: Path, runs: int, world: str = "pg-workflow") -> None:
    steps = 10
    seq10 = next(w for w in WORKLOADS if w.name == "seq10")
    with contextlib.ExitStack() as stack:
        progress(f"profile: {world} with PGW_WORLD_TRACE=1 and a timed access log")
        app, service = start_world(stack, world, app_dir, workdir, extra_env={"PGW_WORLD_TRACE": "1"},
                                   timed_service=True)
        assert service is not None
        for _ in range(3):
            app.bench(seq10)
        time.sleep(0.5)
        db_before = db_counters(service.database_url)
        functions_before = function_times(service.database_url)
        cpu_before = cpu_seconds(app.process.pid, service.process.pid if service.process else 0)
        app_offset = app.log_path.stat().st_size
        service_offset = service.log_path.stat().st_size
        walls: list[float] = []
        for i in range(runs):
            run_id = http_json("POST", f"{app.url}/control/start", {"workflow": seq10.workflow, "args": [steps]})
            run = wait_completed(service, run_id["runId"])
            walls.append(iso_ms(run["completedAt"]) - iso_ms(run["createdAt"]))
            progress(f"profile run {i + 1}/{runs}: {walls[-1]:.0f} ms (createdAt → completedAt)")
            time.sleep(0.3)
        time.sleep(1.0)  # PostgreSQL publishes its counters with a delay
        app_lines = read_from(app.log_path, app_offset)
        service_lines = read_from(service.log_path, service_offset)
        cpu_after = cpu_seconds(app.process.pid, service.process.pid if service.process else 0)
        db_after = db_counters(service.database_url)
        functions_after = function_times(service.database_url)
        commit_ms = raw_commit_latency(service.database_url)
    report_profile(app_lines, service_lines, walls, runs, steps)
    total_steps = runs * steps
    report_function_times(functions_before, functions_after, total_steps)
    delta = {k: db_after[k] - db_before[k] for k in db_before}
    print()
    per_step = {k: v / total_steps for k, v in delta.items()}
    print(f"PostgreSQL, per step (whole database, incl. the dispatcher): {per_step['xact_commit']:.1f} commits,"
          f" {per_step['tup_inserted']:.1f} rows inserted, {per_step['tup_updated']:.1f} updated,"
          f" {per_step['tup_deleted']:.1f} deleted")
    print(f"Raw PostgreSQL here: one-row INSERT + durable COMMIT from one client, median {commit_ms:.2f} ms")
    cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / total_steps for k in cpu_before}
    print(f"CPU per step (ms, user+system, incl. the polling between runs): app (node) {cpu['app']:.2f}, "
          f"service {cpu['service']:.2f}, PostgreSQL (all its processes on this machine) {cpu['postgres']:.2f}")


def _process_cpu(pid: int | str) -> float:
    """user + system CPU seconds of a process (Linux /proc), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(app_pid: int, service_pid: int) -> dict[str, float]:
    """CPU used so far by the app, the service and every postgres process on the machine."""
    postgres = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "postgres":
                postgres += _process_cpu(comm.parent.name)
    return {"app": _process_cpu(app_pid), "service": _process_cpu(service_pid), "postgres": postgres}


def db_counters(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
            " WHERE datname = current_database()").fetchone()
    assert row is not None
    return dict(zip(("xact_commit", "tup_inserted", "tup_updated", "tup_deleted"), map(int, row), strict=True))


def function_times(conninfo: str) -> dict[str, tuple[int, float, float]]:
    """calls, total and self ms of every PL/pgSQL and SQL function of the database so far (track_functions)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT schemaname || '.' || funcname || '(' || funcid || ')', calls, total_time,"
                            " self_time FROM pg_stat_user_functions").fetchall()
    return {name: (int(calls), float(total), float(own)) for name, calls, total, own in rows}


def report_function_times(before: dict[str, tuple[int, float, float]], after: dict[str, tuple[int, float, float]],
                          steps: int, top: int = 20) -> None:
    """The functions PostgreSQL spent most of its own time in, per step (a function's self time excludes the
    functions it calls; statements run by a PL/pgSQL function count as its own)."""
    rows = []
    for name, (calls, total, own) in after.items():
        calls0, total0, own0 = before.get(name, (0, 0.0, 0.0))
        if calls > calls0:
            rows.append((own - own0, total - total0, calls - calls0, name.rsplit("(", 1)[0]))
    rows.sort(reverse=True)
    print()
    print(f"PostgreSQL functions, per step (track_functions; top {top} by self time, ms):")
    print(f"  {'function':44} {'calls':>6} {'self':>7} {'total':>7}")
    for own, total, calls, name in rows[:top]:
        print(f"  {name:44} {calls / steps:6.2f} {own / steps:7.3f} {total / steps:7.3f}")
    print(f"  {'all functions, self time':44} {'':>6} {sum(r[0] for r in rows) / steps:7.3f}")


def raw_commit_latency(conninfo: str, n: int = 300) -> float:
    """Median of a one-row INSERT + COMMIT into an ordinary (WAL-logged, so flushed) table, from one client."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_commit (id bigserial PRIMARY KEY, v text)")
        try:
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                conn.execute("INSERT INTO bench_commit (v) VALUES (%s)", (str(i),))
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.execute("DROP TABLE bench_commit")
    return statistics.median(times)


def read_from(path: Path, offset: int) -> list[str]:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").splitlines()


def report_profile(app_lines: list[str], service_lines: list[str], walls: list[float], runs: int,
                   steps: int) -> None:
    http_calls: dict[str, list[float]] = defaultdict(list)
    http_spans: list[tuple[float, float]] = []
    queued: dict[str, tuple[float, float, str]] = {}
    deliveries: list[tuple[float, float, str, str, int]] = []
    for line in app_lines:
        m = TRACE_RE.match(line)
        if not m:
            continue
        kind, start, dur, rest = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4).split()
        if kind == "http":
            event_type = f" [{rest[3]}]" if len(rest) > 3 else ""
            http_calls[route_of(rest[0], rest[1]) + event_type].append(dur)
            http_spans.append((start, dur))
        elif kind == "queued" and len(rest) >= 2:
            queued[rest[1]] = (start, dur, rest[0])
        elif kind == "deliver":
            deliveries.append((start, dur, rest[0], rest[1], int(rest[2])))

    service_times: dict[str, list[float]] = defaultdict(list)
    for line in service_lines:
        m = ACCESS_RE.search(line)
        if m and m.group(5).startswith("pg-workflow-world"):
            service_times[route_of(m.group(3), m.group(4))].append(int(m.group(1)) / 1000)

    total_steps = runs * steps
    print()
    print(f"Profile: {runs} runs x {steps} sequential no-op steps on pg-workflow "
          f"(wall, createdAt → completedAt: median {statistics.median(walls):.0f} ms = "
          f"{statistics.median(walls) / steps:.1f} ms/step)")
    print()
    print("HTTP calls by the client (per step = calls / (runs x steps)); client round trip vs service time, ms")
    width = max((len(k) for k in [*http_calls, *service_times]), default=10)
    for route, durs in sorted(http_calls.items(), key=lambda kv: -len(kv[1])):
        print(f"  {route:<{width}}  {len(durs) / total_steps:5.2f}/step  client  {stats(durs)}")
    for route, durs in sorted(service_times.items(), key=lambda kv: -len(kv[1])):
        print(f"  {route:<{width}}  {len(durs) / total_steps:5.2f}/step  service {stats(durs)}")
    n_calls = sum(len(v) for v in http_calls.values())
    client_total = sum(sum(v) for v in http_calls.values())
    service_total = sum(sum(v) for v in service_times.values())
    print(f"  total: {n_calls / total_steps:.2f} calls/step; per step {client_total / total_steps:.2f} ms waiting "
          f"on the service (client side), {service_total / total_steps:.2f} ms inside the service")

    delays: dict[str, list[float]] = defaultdict(list)
    after_response: dict[str, list[float]] = defaultdict(list)
    handler: dict[str, list[float]] = defaultdict(list)
    in_calls: dict[str, list[float]] = defaultdict(list)  # time a handler spends waiting on service calls
    unmatched: Counter[str] = Counter()
    for start, dur, queue_name, message_id, attempt in deliveries:
        kind = kind_of(queue_name)
        handler[kind].append(dur)
        # The profile runs one run at a time, so calls started inside a handler belong to it.
        in_calls[kind].append(sum(d for s0, d in http_spans if start <= s0 < start + dur))
        q = queued.get(message_id)
        if q is None or attempt != 1:
            unmatched[kind] += 1
            continue
        delays[kind].append(start - q[0])
        after_response[kind].append(start - (q[0] + q[1]))
    queued_kinds = Counter(kind_of(q[2]) for q in queued.values())
    print()
    print("Queue (ms): enqueue = the client sends POST /queue; delivery = the app's queue handler is entered")
    for kind in ("step", "workflow"):
        print(f"  {kind:<8} queued {queued_kinds[kind]:4d}  delivered {len(handler[kind]):4d}"
              f"  (not matched to a POST /queue: {unmatched[kind]})")
        print(f"           enqueue → delivery                {stats(delays[kind])}")
        print(f"           POST /queue answered → delivery   {stats(after_response[kind])}")
        print(f"           handler time in the app           {stats(handler[kind])}")
        print(f"             of which waiting on the service {stats(in_calls[kind])}")

    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else 0.0

    wall_step = statistics.median(walls) / steps
    parts = [
        ("flow handler: service calls (run_started, step_created, POST /queue)", med(in_calls["workflow"])),
        ("flow handler: runtime (replay) and app", med(handler["workflow"]) - med(in_calls["workflow"])),
        ("dispatch: step message committed → step handler entered", med(after_response["step"])),
        ("step handler: service calls (step_started, step_completed, POST /queue)", med(in_calls["step"])),
        ("step handler: runtime, step body and app", med(handler["step"]) - med(in_calls["step"])),
        ("dispatch: workflow message committed → flow handler entered", med(after_response["workflow"])),
    ]
    width = max(len(name) for name, _ in parts)
    print()
    print(f"One sequential step, medians in ms (wall per step {wall_step:.1f}):")
    for name, value in parts:
        print(f"  {name:<{width}} {value:6.2f}")
    print(f"  {'sum':<{width}} {sum(v for _, v in parts):6.2f}")


# --------------------------------------------------------------------------------------------------
# Profile on DevKit 5: round trips per step with each of the client's round-trip features on and off

STATS_FLUSH_S = 11.0  # PostgreSQL 15 backends publish their counters within 10 s of going idle
IDLE_S = 20.0  # the idle spell measured
# Background commits that play no part in a step would be noise in each database's count: the dispatcher's
# check for dead sessions (one a second by default) and the client's registration renewals (a third of the
# handler TTL: ~16 commits every 20 s by default). The profile's services do both rarely.
PROFILE5_SERVICE_ENV = {"WF_QUEUE_SESSION_CHECK_SECONDS": "3600", "WF_HANDLER_TTL_SECONDS": "3600"}


@dataclass
class Window:
    """What one variant did over its measured runs of one workload (summed over rounds)."""

    runs: int = 0
    steps: int = 0
    run_ids: list[str] | None = None
    calls: Counter[str] | None = None
    call_ms: float = 0.0
    cpu: Counter[str] | None = None
    db: dict[str, float] | None = None
    walls: list[float] | None = None

    def __post_init__(self) -> None:
        self.run_ids, self.calls, self.cpu, self.walls = [], Counter(), Counter(), []


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends connected to `database` (the service's pool, its listener), read from the admin
    database so that looking does not count as a transaction in `database`."""
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)).fetchall()
    return [int(r[0]) for r in rows]


def wait_in_trace(app: App, offset: int, run_id: str, timeout: float = 60.0) -> None:
    """Until the app's client trace shows the run's run_completed write answered: no request of our own,
    so the service, its database and the client trace see only the runtime's work."""
    done = re.compile(rf"^\[pgw-trace\] http \S+ \S+ POST \S+/runs/{re.escape(run_id)}/events OK run_completed$",
                      re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        with app.log_path.open("rb") as f:
            f.seek(offset)
            if done.search(f.read().decode(errors="replace")):
                return
        if app.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{app.world}: run {run_id} did not complete in {timeout}s\n{app.log_tail()}")
        time.sleep(0.01)


def profile5(app_dir: Path, workdir: Path, runs: int, rounds: int, worlds: list[str]) -> None:
    """seq10 and par10 on pg-workflow with the client's 5 line as shipped and with each round-trip feature
    (events.createBatch, event deltas, queueBatch) off, then all three off: one service and database per
    variant, all up at once, windows interleaved (the order rotates each round). Per step: the client's HTTP
    calls (PGW_WORLD_TRACE), the database's commits and rows (pg_stat_database of the variant's own database,
    read after each workload's phase once PostgreSQL has published them) and CPU (the app, the service, and
    the PostgreSQL backends connected to that database)."""
    workloads = [w for w in WORKLOADS if w.name in ("seq10", "par10")]
    steps_per_run = 10
    windows: dict[tuple[str, str], Window] = {(v, w.name): Window() for v in worlds for w in workloads}
    with contextlib.ExitStack() as stack:
        apps: dict[str, App] = {}
        services: dict[str, Service] = {}
        for world in worlds:
            progress(f"profile5: starting {world} (PGW_WORLD_TRACE=1)")
            apps[world], service = start_world(stack, world, app_dir, workdir, extra_env={"PGW_WORLD_TRACE": "1"},
                                               line=5, service_env=PROFILE5_SERVICE_ENV)
            assert service is not None
            services[world] = service
            for w in (*workloads, *workloads):
                apps[world].bench(w)
        # What each service's database does with no runs (registration renewals, session upkeep): measured
        # over an idle spell and taken off each phase pro rata.
        progress(f"profile5: idle baseline ({2 * STATS_FLUSH_S + IDLE_S:.0f} s)")
        time.sleep(STATS_FLUSH_S)
        idle0 = {v: db_counters(services[v].database_url) for v in worlds}
        t_idle = time.monotonic()
        time.sleep(IDLE_S + STATS_FLUSH_S)
        idle_s = time.monotonic() - t_idle
        idle1 = {v: db_counters(services[v].database_url) for v in worlds}
        idle_rate = {v: {k: (idle1[v][k] - idle0[v][k]) / idle_s for k in idle1[v]} for v in worlds}
        progress("profile5: idle commits/s: " + ", ".join(f"{v} {idle_rate[v]['xact_commit']:.2f}" for v in worlds))
        for workload in workloads:
            progress(f"profile5: {workload.name}: letting PostgreSQL publish its counters ({STATS_FLUSH_S:.0f} s)")
            time.sleep(STATS_FLUSH_S)
            db_before = {v: db_counters(services[v].database_url) for v in worlds}
            t_phase = time.monotonic()
            for r in range(1, rounds + 1):
                order = worlds[(r - 1) % len(worlds):] + worlds[:(r - 1) % len(worlds)]
                for world in order:
                    app, service = apps[world], services[world]
                    win = windows[(world, workload.name)]
                    pids = backend_pids(service_dbname(service))
                    app_offset = app.log_path.stat().st_size
                    cpu0 = process_cpu(app, service, pids)
                    for _ in range(runs):
                        offset = app.log_path.stat().st_size
                        body = {"workflow": workload.workflow, "args": list(workload.args)}
                        run_id = http_json("POST", f"{app.url}/control/start", body)["runId"]
                        wait_in_trace(app, offset, run_id)
                        assert win.run_ids is not None
                        win.run_ids.append(run_id)
                        time.sleep(0.2)
                    cpu1 = process_cpu(app, service, pids)
                    assert win.cpu is not None and win.calls is not None
                    win.cpu.update({k: cpu1[k] - cpu0[k] for k in cpu0})
                    win.runs += runs
                    win.steps += runs * steps_per_run
                    for line in read_from(app.log_path, app_offset):
                        m = TRACE_RE.match(line)
                        if m and m.group(1) == "http":
                            rest = m.group(4).split()
                            if rest[1].endswith("/handlers"):  # the registration lease, every 20 s: not a step's
                                continue
                            event_type = f" [{rest[3]}]" if len(rest) > 3 else ""
                            win.calls[route_of(rest[0], rest[1]) + event_type] += 1
                            win.call_ms += float(m.group(3))
                    progress(f"profile5 round {r}/{rounds} {workload.name:<6} {world:<20} "
                             f"{sum(win.calls.values()) / win.steps:5.2f} calls/step so far")
            time.sleep(STATS_FLUSH_S)
            phase_s = time.monotonic() - t_phase
            for world in worlds:
                after = db_counters(services[world].database_url)
                windows[(world, workload.name)].db = {
                    k: after[k] - db_before[world][k] - idle_rate[world][k] * phase_s for k in after}
        for (world, _name), win in windows.items():
            assert win.run_ids is not None and win.walls is not None
            for run_id in win.run_ids:
                run = http_json("GET", f"{services[world].url}/api/v1/apps/default/runs/{run_id}")
                win.walls.append(iso_ms(run["completedAt"]) - iso_ms(run["createdAt"]))
    report_profile5(windows, worlds, workloads)


def service_dbname(service: Service) -> str:
    return str(conninfo_to_dict(service.database_url)["dbname"])


def process_cpu(app: App, service: Service, backends: list[int]) -> dict[str, float]:
    return {"app": _process_cpu(app.process.pid),
            "service": _process_cpu(service.process.pid) if service.process is not None else 0.0,
            "postgres": sum(_process_cpu(pid) for pid in backends)}


def report_profile5(windows: dict[tuple[str, str], Window], worlds: list[str], workloads: list[Workload]) -> None:
    print()
    print("DevKit 5 (workflow 5.0.0-beta.55) on pg-workflow: per step, each round-trip feature of the client's"
          " 5 line on and off")
    for workload in workloads:
        print()
        print(f"{workload.title} ({workload.name})")
        headers = ["variant", "calls/step", "commits/step", "rows ins/upd/del per step", "CPU app", "CPU service",
                   "CPU pg backends", "CPU total", "ms/step wall (median run)"]
        rows = []
        base_total: float | None = None
        for world in worlds:
            win = windows[(world, workload.name)]
            assert win.calls is not None and win.cpu is not None and win.walls is not None
            if not win.steps or win.db is None:
                continue
            n = win.steps
            cpu = {k: win.cpu[k] * 1000 / n for k in ("app", "service", "postgres")}
            total = sum(cpu.values())
            if base_total is None:
                base_total = total
            rows.append([
                world, f"{sum(win.calls.values()) / n:.2f}", f"{win.db['xact_commit'] / n:.2f}",
                f"{win.db['tup_inserted'] / n:.1f} / {win.db['tup_updated'] / n:.1f} / {win.db['tup_deleted'] / n:.1f}",
                f"{cpu['app']:.2f}", f"{cpu['service']:.2f}", f"{cpu['postgres']:.2f}", f"{total:.2f}",
                f"{statistics.median(win.walls) / steps_of(workload):.1f}",
            ])
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        print("  ".join(h.ljust(n) for h, n in zip(headers, widths, strict=True)))
        print("  ".join("-" * n for n in widths))
        for row in rows:
            print("  ".join(c.ljust(n) if i == 0 else c.rjust(n) for i, (c, n) in enumerate(zip(row, widths,
                                                                                                strict=True))))
        print("CPU in ms per step (user+system): the app (node), the service, the PostgreSQL backends connected to"
              " the variant's database. Commits and rows: pg_stat_database of that database, less its idle rate."
              " Calls: the client's, less registration renewals.")
        routes = sorted({r for world in worlds for r in (windows[(world, workload.name)].calls or {})})
        print()
        print("Client HTTP calls per step by route [event type]:")
        width = max((len(r) for r in routes), default=10)
        print(f"  {'':<{width}}  " + "  ".join(f"{w:>20}" for w in worlds))
        for route in routes:
            cells = []
            for world in worlds:
                win = windows[(world, workload.name)]
                cells.append(f"{(win.calls or Counter())[route] / win.steps:20.2f}" if win.steps else f"{'-':>20}")
            print(f"  {route:<{width}}  " + "  ".join(cells))


def steps_of(workload: Workload) -> int:
    return int(workload.args[0]) if workload.args else 1


# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.devkit_workloads", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per workload and World (default 5)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these ({', '.join(WORKLOAD_NAMES)}, profile); repeat or comma-separate")
    parser.add_argument("--line", type=int, choices=sorted(LINES), default=4,
                        help="the DevKit line: 4 (workflow 4.8.9, tests/e2e/app; default) or 5"
                             " (workflow 5.0.0-beta.55, tests/e2e/app5)")
    parser.add_argument("--worlds", default=None,
                        help=f"comma-separated subset of {', '.join(WORLDS)} (line 4) or {', '.join(WORLDS5)}"
                             " (line 5); default all of the line's")
    parser.add_argument("--profile-runs", type=int, default=5,
                        help="runs in the profile (default 5; line 5: per variant and round)")
    parser.add_argument("--profile-rounds", type=int, default=3,
                        help="line 5 profile: interleaved rounds per workload (default 3)")
    parser.add_argument("--profile-worlds", default=",".join(PROFILE5_WORLDS),
                        help=f"line 5 profile: the variants, a subset of {', '.join(PROFILE5_WORLDS)}")
    parser.add_argument("--profile-world", default="pg-workflow", choices=["pg-workflow", "pgw-base", *PGW_VARIANTS],
                        help="profile this pg-workflow variant (default pg-workflow)")
    parser.add_argument("--base-checkout", type=Path, metavar="DIR",
                        help="the checkout (with its own .venv) whose service the pgw-base World runs")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with app/service logs")
    parser.add_argument("--sequential", action="store_true",
                        help="one World at a time, all its rounds (default: all Worlds up, rounds interleaved)")
    args = parser.parse_args(argv)
    only = {n.strip() for item in args.only for n in item.split(",") if n.strip()}
    unknown = only - {*WORKLOAD_NAMES, "profile"}
    if unknown:
        parser.error(f"unknown --only {', '.join(sorted(unknown))}")
    args.only = only
    line = LINES[args.line]
    args.worlds = [w.strip() for w in (args.worlds or ",".join(line.worlds)).split(",") if w.strip()]
    bad = [w for w in args.worlds if w not in (*line.worlds, "pgw-base")]
    if bad:
        parser.error(f"unknown world on line {args.line}: {', '.join(bad)}")
    args.profile_worlds = [w.strip() for w in args.profile_worlds.split(",") if w.strip()]
    bad = [w for w in args.profile_worlds if w not in PROFILE5_WORLDS]
    if bad:
        parser.error(f"unknown --profile-worlds {', '.join(bad)}")
    if args.line == 5 and args.profile_world != "pg-workflow":
        parser.error("--profile-world is a line 4 option (line 5: --profile-worlds)")
    if ("pgw-base" in args.worlds or args.profile_world == "pgw-base") and args.base_checkout is None:
        parser.error("pgw-base needs --base-checkout DIR")
    return args


def _interrupted(signum: int, _frame: Any) -> None:
    # First Ctrl-C / SIGTERM unwinds; further ones are ignored so the cleanup runs to the end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global BASE_CHECKOUT
    BASE_CHECKOUT = args.base_checkout.resolve() if args.base_checkout else None
    workloads = [w for w in WORKLOADS if not args.only or w.name in args.only]
    do_profile = not args.only or "profile" in args.only
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="pgw-bench-"))
    results: Results = {}
    failures: dict[str, str] = {}
    status = 0
    try:
        line = LINES[args.line]
        app_dir = ensure_app_built(line.app_dir)
        progress(f"DevKit {line.devkit}; logs in {workdir}; {args.rounds} rounds of"
                 f" {', '.join(w.name for w in workloads) or 'nothing'} on {', '.join(args.worlds)}")
        if workloads and not args.sequential:
            measure_interleaved(args.worlds, app_dir, workdir, workloads, args.rounds, results, failures, args.line)
            status = 1 if failures else 0
        elif workloads:
            for world in args.worlds:
                try:
                    measure_world(world, app_dir, workdir, workloads, args.rounds, results, args.line)
                except (RuntimeError, OSError, ControlError, urllib.error.URLError) as exc:
                    failures[world] = str(exc).splitlines()[0]
                    progress(f"{world} FAILED: {exc}")
                    status = 1
        if workloads:
            print_table(results, workloads, args.worlds, failures, args.line)
        if do_profile and args.line == 5:
            profile5(app_dir, workdir, args.profile_runs, args.profile_rounds, args.profile_worlds)
        elif do_profile:
            profile(app_dir, workdir, args.profile_runs, args.profile_world)
    except KeyboardInterrupt:
        progress("interrupted; everything started has been stopped and dropped")
        if results:
            print_table(results, workloads, args.worlds, failures, args.line)
        status = 130
    finally:
        if args.keep_logs:
            progress(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
