"""Claim and ack cost with asynchronous and with durable commits, measured in the same run (issue 18).

    .venv/bin/python -m bench.async_commit [--rounds 300] [--batch 1 --batch 20]

On one throwaway database, runs the dispatcher's own statements (service/queries_sql/queue.sql:
claim_messages, then ack_messages of what it claimed, each its own transaction on an idle local
connection, as the dispatcher sends them) alternately with synchronous_commit 'off'
(WF_QUEUE_ASYNC_COMMIT=true, the default) and with the server's setting (false), and prints the
median and p90 wall time of a claim and of an ack per batch size, the ratio durable / asynchronous,
and as a baseline the same server's durable single-row INSERT commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from service import migrate
from service.dispatcher import DispatcherSettings
from service.queries import QUERIES
from tests.pgw import create_database, db_url, drop_database

APP = "bench"
MODES = {"asynchronous": "off", "durable": None}


def refill(conn: psycopg.Connection[Any], n: int) -> None:
    conn.execute("SELECT count(workflow.enqueue(%s, '__wkf_step_s', jsonb_build_object('workflowRunId', 'r' || i),"
                 " 'v1')) FROM generate_series(1, %s) i", (APP, n))


def insert_commit(conn: psycopg.Connection[Any]) -> float:
    """One durable single-row INSERT commit (ms): the baseline, timed in every round."""
    started = time.perf_counter()
    conn.execute("INSERT INTO bench_commits (v) VALUES ('x')")
    return (time.perf_counter() - started) * 1000


def measure(url: str, rounds: int, batch: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {mode: {"claim": [], "ack": [], "insert": []} for mode in MODES}
    settings = DispatcherSettings.from_env({})
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url, autocommit=True) as holder:
        for c in (conn, holder):  # enqueue and registration act for the app of the session
            c.execute("SELECT set_config('workflow.app_id', %s, false)", (APP,))
        holder.execute("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/f', "
                       "'http://127.0.0.1:9/s')", (APP,))
        session = holder.execute("SELECT workflow.open_dispatcher_session('bench')").fetchone()[0]  # type: ignore[index]
        refill(conn, batch * 20)
        for i in range(rounds * 2):
            mode = list(MODES)[i % 2]
            sync = MODES[mode]
            started = time.perf_counter()
            row = conn.execute(QUERIES["claim_messages"], {
                "session_id": session, "limit": batch, "one_at_a_time": False, **settings.claim_params(),
                "synchronous_commit": sync}).fetchone()
            times[mode]["claim"].append((time.perf_counter() - started) * 1000)
            assert row is not None
            deliveries = json.loads(row[0])["deliveries"]
            assert len(deliveries) == batch, "the queue ran dry"
            results = [{"seq": d["seq"], "attempt": d["attempt"], "podId": d["podId"], "outcome": "done"}
                       for d in deliveries]
            started = time.perf_counter()
            conn.execute(QUERIES["ack_messages"], {"results": Jsonb(results), **settings.ack_params(),
                                                   "synchronous_commit": sync})
            times[mode]["ack"].append((time.perf_counter() - started) * 1000)
            times[mode]["insert"].append(insert_commit(conn))
            refill(conn, batch)
        conn.execute("SELECT workflow.purge_delivered_messages('0', 100000)")
    return times


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.async_commit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="claim+ack pairs per mode and batch size")
    parser.add_argument("--batch", type=int, action="append", help="messages per claim (repeatable; default 1, 20)")
    args = parser.parse_args(argv)
    batches = args.batch or [1, 20]
    name = create_database(prefix="pgw_bench")
    url = db_url(name)
    try:
        migrate.deploy(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT workflow.ensure_app(%s)", (APP,))
            settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                         "('synchronous_commit', 'fsync', 'wal_sync_method', 'wal_writer_delay')"))
            conn.execute("CREATE TABLE bench_commits (id bigserial PRIMARY KEY, v text)")
        print(f"server: {settings}")
        for batch in batches:
            measure(url, 30, batch)  # warm-up: plans, caches
            times = measure(url, args.rounds, batch)
            baseline = times["asynchronous"]["insert"] + times["durable"]["insert"]
            print(f"batch {batch:3d} baseline: durable single-row INSERT commit median "
                  f"{statistics.median(baseline):.3f} ms p90 {p90(baseline):.3f}")
            for step in ("claim", "ack"):
                fast, slow = times["asynchronous"][step], times["durable"][step]
                print(f"batch {batch:3d} {step:5s}: asynchronous median {statistics.median(fast):.3f} ms "
                      f"p90 {p90(fast):.3f} | durable median {statistics.median(slow):.3f} ms p90 {p90(slow):.3f} "
                      f"| durable/asynchronous {statistics.median(slow) / statistics.median(fast):.2f}x")
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
