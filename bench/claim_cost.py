"""Claim cost with and without dispatcher sessions, measured in the same run.

    .venv/bin/python -m bench.claim_cost [--rounds 300] [--batch 1 --batch 50]

On one throwaway database, alternates claims through the session-less
workflow.claim_messages(limit, lease, grace) (the previous release's call)
and the session one, claim_messages(session, limit, lease, grace), each
followed by an (untimed) ack of what it claimed, and prints the median and p90
wall time of a claim call (one round trip on an idle local connection) for
each batch size, and the ratio to the session-less claim.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from service import migrate
from tests.pgw import create_database, db_url, drop_database

APP = "bench"
OLD = "SELECT workflow.claim_messages(%s::integer, 330::numeric, 60::numeric)"
NEW = "SELECT workflow.claim_messages(%s::integer, %s::integer, 330::numeric, 60::numeric)"


def refill(conn: psycopg.Connection[Any], n: int) -> None:
    conn.execute("SELECT count(workflow.enqueue(%s, '__wkf_step_s', jsonb_build_object('workflowRunId', 'r' || i),"
                 " 'v1')) FROM generate_series(1, %s) i", (APP, n))


def ack(conn: psycopg.Connection[Any], deliveries: list[dict[str, Any]]) -> None:
    results = [{"seq": d["seq"], "attempt": d["attempt"], "podId": d["podId"], "outcome": "done"} for d in deliveries]
    conn.execute("SELECT workflow.ack_messages(%s)", (Jsonb(results),))


def measure(url: str, rounds: int, batch: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"without session": [], "with session": []}
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url, autocommit=True) as holder:
        session = holder.execute("SELECT workflow.open_dispatcher_session('bench')").fetchone()[0]  # type: ignore[index]
        refill(conn, batch * 20)
        for i in range(rounds * 2):
            name = "without session" if i % 2 == 0 else "with session"
            query, params = (OLD, (batch,)) if i % 2 == 0 else (NEW, (session, batch))
            started = time.perf_counter()
            row = conn.execute(query, params).fetchone()
            times[name].append((time.perf_counter() - started) * 1000)
            assert row is not None
            deliveries = row[0]["deliveries"]
            assert len(deliveries) == batch, "the queue ran dry"
            ack(conn, deliveries)
            refill(conn, batch)
        conn.execute("SELECT workflow.purge_delivered_messages('0', 100000)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, action="append")
    args = parser.parse_args()
    name = create_database(prefix="pgw_bench")
    try:
        url = db_url(name)
        migrate.deploy(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT workflow.ensure_app(%s)", (APP,))
            conn.execute("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/f', "
                         "'http://127.0.0.1:9/s')", (APP,))
        for batch in args.batch or [1, 50]:
            times = measure(url, args.rounds, batch)
            base = statistics.median(times["without session"])
            for label, values in times.items():
                p90 = statistics.quantiles(values, n=10)[-1]
                print(f"claim of {batch:>3} {label:<16}: median {statistics.median(values):6.3f} ms  "
                      f"p90 {p90:6.3f} ms  ({statistics.median(values) / base:.2f}x)")
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
