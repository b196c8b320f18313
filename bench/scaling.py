"""Cost as load and stored history grow, with a plot (not a test).

    .venv/bin/python -m bench.scaling [--loads 1,4,16] [--sizes 0,10000,100000,1000000] [--rounds 3]

Load: the DevKit app's 10-sequential-step workflow (tests/e2e/app, workflow
4.8.9) with 1, 4 and 16 runs at once, on pg-workflow and on world-postgres,
rounds interleaved in one run; cost per step = wall time / (runs x 10).

Stored history: for each size a fresh database already holding that many
finished runs (generated in SQL: each run with 4 events, a step and a
delivered message), then the median HTTP latency of the hot calls against a
real pg-workflow process — run_created, run_started, step_created with its
message, step_started, step_completed with the run's wake-up, GET run, a page
of runs — and enqueue → handler through the dispatcher, each against the
empty database (ratio; the target is ≤ 1.2).

Writes bench/scaling.png (needs the bench extra: pip install -e '.[bench]')
and prints both tables. Progress goes to stdout; every database and process it
starts is removed at the end. Databases: PGW_TEST_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.auth_overhead import RawClient
from bench.devkit_workloads import App, Workload, start_world
from bench.queue_latency import NoopHandler
from service import migrate
from tests.e2e.conftest import ensure_app_built
from tests.pgw import Service, create_database, db_url, drop_database

PLOT = Path(__file__).resolve().parent / "scaling.png"
APP = "default"

# Finished history of app `default`: n runs, each with 4 events, a completed
# step and a delivered message (delivered now, so the acks' retention sweep
# leaves them alone while we measure).
HISTORY = """
SELECT workflow.ensure_app('default');
INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, spec_version, input, output,
                           created_at, updated_at, started_at, completed_at)
SELECT 'default', 'wrun_old' || lpad(i::text, 9, '0'), 'completed', 'v1', 'wf', 3, '[]', '1',
       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
  FROM generate_series(1, %(n)s) i;
INSERT INTO workflow.events (app_id, run_id, run_ordinal, event_id, event_type, correlation_id, event_data,
                             spec_version, created_at, event_json)
SELECT r.app_id, r.run_id, o, 'evnt_' || r.run_seq || '_' || o,
       (ARRAY['run_created', 'run_started', 'step_created', 'run_completed'])[o],
       CASE WHEN o = 3 THEN 'step_' || r.run_seq END, '{}', 3, r.created_at, '{}'
  FROM workflow.runs r, generate_series(1, 4) o;
INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, spec_version,
                            created_at, updated_at, started_at, completed_at)
SELECT app_id, run_id, 'step_' || run_seq, 'add', 'completed', 1, 3, created_at, created_at, created_at, created_at
  FROM workflow.runs;
INSERT INTO workflow.messages (app_id, message_id, queue_name, kind, run_id, deployment_id, payload, status,
                               attempt, due_at, created_at, updated_at, delivered_at)
SELECT app_id, 'msg_old' || run_seq, '__wkf_workflow_wf', 'workflow', run_id, 'v1',
       jsonb_build_object('runId', run_id), 'delivered', 1, created_at, created_at, now(), now()
  FROM workflow.runs;
"""

OPERATIONS = ("run_created", "run_started", "step_created+message", "step_started", "step_completed+wake-up",
              "GET run", "GET runs (page)", "enqueue → handler")


def progress(message: str) -> None:
    print(f"[scaling] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# Load


def measure_load(loads: list[int], rounds: int) -> dict[str, dict[int, list[float]]]:
    """ms per step, per World and load."""
    app_dir = ensure_app_built()
    workdir = Path(tempfile.mkdtemp(prefix="pgw-scaling-"))
    results: dict[str, dict[int, list[float]]] = {}
    try:
        with contextlib.ExitStack() as stack:
            apps: dict[str, App] = {}
            for world in ("pg-workflow", "world-postgres"):
                progress(f"load: starting {world}")
                apps[world], _ = start_world(stack, world, app_dir, workdir)
                apps[world].bench(Workload("warm", "", "benchSequential", (10,), runs=4))
            for r in range(1, rounds + 1):
                for n in loads:
                    workload = Workload(f"{n}x10", "", "benchSequential", (10,), runs=n)
                    for world in (list(apps) if r % 2 else list(apps)[::-1]):
                        ms = apps[world].bench(workload)
                        results.setdefault(world, {}).setdefault(n, []).append(ms / (n * 10))
                        progress(f"load: round {r}/{rounds} {world:<15} {n:>2} runs x 10 steps "
                                 f"{ms:8.0f} ms = {ms / (n * 10):6.2f} ms/step")
                        time.sleep(0.5)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


# --------------------------------------------------------------------------------------------------
# Stored history


def event(event_type: str, correlation_id: str | None = None, data: Any = None,
          enqueue: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    if enqueue is not None:
        body["enqueue"] = enqueue
    return body


async def hot_calls(service: Service, handler: NoopHandler, cycles: int) -> dict[str, list[float]]:
    client = RawClient(service.url, None)
    base = f"/api/v1/apps/{APP}"
    samples: dict[str, list[float]] = {op: [] for op in OPERATIONS}

    async def timed(op: str, method: str, path: str, body: Any = None) -> Any:
        started = time.perf_counter()
        status, answer = await client.request(method, path, body)
        samples.setdefault(op, []).append((time.perf_counter() - started) * 1000)
        assert 200 <= status < 300, (op, status, answer[:300])
        return json.loads(answer)

    endpoint = f"http://127.0.0.1:{handler.port}/.well-known/workflow/v1"
    status, answer = await client.request("POST", base + "/handlers", {
        "podId": "scaling", "deploymentVersion": "v1", "endpoints": {"workflow": endpoint + "/flow",
                                                                    "step": endpoint + "/step"}})
    assert status == 201, answer
    for i in range(cycles):
        run = (await timed("run_created", "POST", base + "/runs/null/events", event(
            "run_created", data={"deploymentId": "v1", "workflowName": "wf", "input": []})))["run"]["runId"]
        events = f"{base}/runs/{run}/events"
        await timed("run_started", "POST", events, event("run_started"))
        step_message = {"queueName": "__wkf_step_add", "deploymentId": "v1", "idempotencyKey": "s1",
                        "message": {"workflowName": "wf", "workflowRunId": run, "stepId": "s1"}}
        await timed("step_created+message", "POST", events, event("step_created", "s1", {"stepName": "add"},
                                                                  step_message))
        await timed("step_started", "POST", events, event("step_started", "s1"))
        wake = {"queueName": "__wkf_workflow_wf", "deploymentId": "v1", "message": {"runId": run}}
        await timed("step_completed+wake-up", "POST", events, event("step_completed", "s1", {"result": 1}, wake))
        await timed("GET run", "GET", f"{base}/runs/{run}")
        await timed("GET runs (page)", "GET", f"{base}/runs?limit=20")
        sent = time.perf_counter()
        message_id = (await timed("enqueue", "POST", base + "/queue", {
            "queueName": "__wkf_step_add", "deploymentId": "v1",
            "message": {"workflowRunId": run, "stepId": f"x{i}"}}))["messageId"]
        arrived = await asyncio.wait_for(handler.arrival(message_id), 10)
        samples["enqueue → handler"].append((arrived - sent) * 1000)
    await client.close()
    return samples


async def measure_size(n: int, cycles: int) -> dict[str, float]:
    name = create_database(prefix="pgw_bench")
    service: Service | None = None
    runner = None
    try:
        url = db_url(name)
        migrate.deploy(url)
        if n:
            started = time.monotonic()
            progress(f"size {n:,}: generating the history ...")
            with psycopg.connect(url, autocommit=True) as conn:
                psycopg.ClientCursor(conn).execute(HISTORY, {"n": n})
                conn.execute("VACUUM ANALYZE")
                size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
            progress(f"size {n:,}: stored in {time.monotonic() - started:.0f} s ({size[0] if size else '?'})")
        service = Service(url, env={"LOG_LEVEL": "WARNING", "WF_ACCESS_LOG": "false"}).start()
        handler = NoopHandler()
        runner = await handler.start()
        await hot_calls(service, handler, 30)  # warm-up: connections, plans
        samples = await hot_calls(service, handler, cycles)
        medians = {op: statistics.median(v) for op, v in samples.items() if op in OPERATIONS}
        progress(f"size {n:,}: " + ", ".join(f"{op} {ms:.2f}" for op, ms in medians.items()))
        return medians
    finally:
        if runner is not None:
            await runner.cleanup()
        if service is not None:
            service.stop()
        drop_database(name)


# --------------------------------------------------------------------------------------------------


def plot(load: dict[str, dict[int, list[float]]], sizes: dict[int, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for world, by_load in load.items():
        xs = sorted(by_load)
        left.plot(xs, [statistics.median(by_load[x]) for x in xs], marker="o", label=world)
    left.set_xscale("log", base=2)
    left.set_xticks(sorted({x for v in load.values() for x in v}), [f"{x}x" for x in sorted(
        {x for v in load.values() for x in v})])
    left.set_xlabel("concurrent runs (x 10 sequential steps)")
    left.set_ylabel("ms per step (wall / steps), median")
    left.set_title("Cost per DevKit step against load")
    left.grid(alpha=0.3)
    left.legend()
    xs = sorted(sizes)
    labels = [f"{x:,}" if x else "empty" for x in xs]
    for op in OPERATIONS:
        right.plot(range(len(xs)), [sizes[x][op] for x in xs], marker="o", label=op)
    right.set_xticks(range(len(xs)), labels)
    right.set_xlabel("finished runs already stored")
    right.set_ylabel("median latency, ms (HTTP, loopback)")
    right.set_title("Per-operation cost against stored history")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    progress(f"wrote {PLOT}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default="1,4,16")
    parser.add_argument("--sizes", default="0,10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per load and World")
    parser.add_argument("--cycles", type=int, default=200, help="measured cycles of hot calls per size")
    args = parser.parse_args(argv)
    loads = [int(x) for x in args.loads.split(",") if x]
    sizes = [int(x) for x in args.sizes.split(",") if x]

    load = measure_load(loads, args.rounds) if loads else {}
    by_size = {n: asyncio.run(measure_size(n, args.cycles)) for n in sizes}

    if load:
        print("\nCost per step (ms, median over rounds), 10 sequential steps per run")
        print(f"{'runs at once':<14}" + "".join(f"{w:>16}" for w in load) + f"{'pgw / wpg':>12}")
        for n in loads:
            cells = [statistics.median(load[w][n]) for w in load]
            ratio = cells[0] / cells[1] if len(cells) > 1 else float("nan")
            print(f"{n:<14}" + "".join(f"{c:>16.2f}" for c in cells) + f"{ratio:>12.2f}")
    if by_size:
        base = by_size.get(0) or by_size[sizes[0]]
        print("\nMedian latency per operation (ms) and ratio to the empty database (target ≤ 1.2)")
        print(f"{'operation':<26}" + "".join(f"{(f'{n:,}' if n else 'empty'):>18}" for n in sizes))
        for op in OPERATIONS:
            print(f"{op:<26}" + "".join(f"{by_size[n][op]:>9.2f} ({by_size[n][op] / base[op]:4.2f}x)"
                                         for n in sizes))
    plot(load, by_size)


if __name__ == "__main__":
    main()
