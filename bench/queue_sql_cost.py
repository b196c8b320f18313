"""Database time per queue message, this checkout against another, in the same run.

    .venv/bin/python -m bench.queue_sql_cost --other /path/to/checkout [--messages 600] [--batch 1] [--durable]

Deploys each checkout's schema (its own sqitch.plan) into a throwaway database and, on one connection per
database, alternates between them message by message: enqueue (as POST /queue calls it), claim (as the dispatcher
calls it: the 8-argument claim_messages when the schema has it, else the session claim of earlier releases) and
ack of what was claimed. Prints the median round-trip time of each call and the ratios to the other checkout.
Commits are asynchronous unless --durable (the enqueue's fsync would otherwise hide the database work being
compared; claims and acks are asynchronous anyway). The first 20 rounds warm the plans and are not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.pgw import ADMIN_URL, db_url

HERE = Path(__file__).resolve().parent.parent
APP = "bench"
WARM_UP = 20
ENQUEUE = ("SELECT workflow.enqueue(%s, '__wkf_step_s', "
           "jsonb_build_object('workflowRunId', %s::text, 'pad', repeat('y', 200)), 'v1')")
CLAIM_FAIR = ("SELECT workflow.claim_messages(%s, %s, 330::numeric, 60::numeric, 25, 4194304::bigint, "
              "1048576::bigint, false)")
CLAIM_SESSION = "SELECT workflow.claim_messages(%s, %s, 330::numeric, 60::numeric)"
ACK = ("SELECT workflow.ack_messages(%s, 50, 1::numeric, 300::numeric, 5::numeric, 60::numeric, "
       "3600::numeric)")


def deploy(checkout: Path) -> str:
    name = f"pgw_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(db_url(name))
    env = {**os.environ, "PGHOST": str(info.get("host", "127.0.0.1")), "PGPORT": str(info.get("port", 5432)),
           "PGUSER": str(info.get("user", "postgres")), "PGDATABASE": name,
           "SQITCH_FULLNAME": "pg-workflow bench", "SQITCH_EMAIL": "bench@localhost"}
    subprocess.run(["sqitch", "--chdir", str(checkout), "deploy", "db:pg:"], env=env, check=True,
                   capture_output=True)
    return name


class Side:
    """One checkout's database and connection."""

    def __init__(self, label: str, checkout: Path, durable: bool) -> None:
        self.label = label
        self.database = deploy(checkout)
        self.conn = psycopg.connect(db_url(self.database), autocommit=True)
        if not durable:
            self.conn.execute("SET synchronous_commit = off")
        self.conn.execute("SELECT set_config('workflow.app_id', %s, false)", (APP,))
        self.conn.execute("SELECT workflow.ensure_app(%s)", (APP,))
        self.conn.execute("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/f', "
                          "'http://127.0.0.1:9/s')", (APP,))
        row = self.conn.execute("SELECT workflow.open_dispatcher_session('bench')").fetchone()
        assert row is not None
        self.session = row[0]
        fair = self.conn.execute("SELECT to_regprocedure('workflow.claim_messages(integer, integer, numeric, "
                                 "numeric, integer, bigint, bigint, boolean)') IS NOT NULL").fetchone()
        self.claim_sql = CLAIM_FAIR if fair and fair[0] else CLAIM_SESSION
        self.times: dict[str, list[float]] = {"enqueue": [], "claim": [], "ack": []}

    def round(self, index: int, batch: int) -> None:
        started = time.perf_counter()
        for k in range(batch):
            self.conn.execute(ENQUEUE, (APP, f"r{index}-{k}"))
        enqueued = time.perf_counter()
        row = self.conn.execute(self.claim_sql, (self.session, batch)).fetchone()
        claimed = time.perf_counter()
        assert row is not None
        deliveries: list[dict[str, Any]] = row[0]["deliveries"]
        assert len(deliveries) == batch, f"{self.label}: claimed {len(deliveries)} of {batch}"
        results = [{"seq": d["seq"], "attempt": d["attempt"], "podId": d["podId"], "outcome": "done"}
                   for d in deliveries]
        self.conn.execute(ACK, (Jsonb(results),))
        acked = time.perf_counter()
        if index >= WARM_UP:
            self.times["enqueue"].append((enqueued - started) * 1000 / batch)
            self.times["claim"].append((claimed - enqueued) * 1000)
            self.times["ack"].append((acked - claimed) * 1000)

    def per_batch(self, batch: int) -> float:
        return sum(statistics.median(v) * (batch if k == "enqueue" else 1) for k, v in self.times.items())

    def close(self) -> None:
        self.conn.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_sql_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--other", type=Path, required=True, help="the checkout to compare with (the baseline)")
    parser.add_argument("--messages", type=int, default=600, help="rounds (each: a batch enqueued, claimed, acked)")
    parser.add_argument("--batch", type=int, default=1, help="messages per claim and per ack")
    parser.add_argument("--durable", action="store_true", help="synchronous commits (as the service's enqueue)")
    args = parser.parse_args()
    sides: list[Side] = []
    try:
        sides.append(Side(f"other ({args.other.name})", args.other.resolve(), args.durable))
        sides.append(Side("this checkout", HERE, args.durable))
        print(f"[bench] {args.messages} rounds of {args.batch}, alternating, load {os.getloadavg()[0]:.1f}",
              flush=True)
        for i in range(args.messages + WARM_UP):
            for side in sides if i % 2 == 0 else reversed(sides):
                side.round(i, args.batch)
        base = sides[0]
        for side in sides:
            medians = {k: statistics.median(v) for k, v in side.times.items()}
            parts = "  ".join(f"{k} {m:.3f} ms ({m / statistics.median(base.times[k]):.2f}x)"
                              for k, m in medians.items())
            total = side.per_batch(args.batch)
            print(f"{side.label:>24}: {parts}  per batch {total:.3f} ms ({total / base.per_batch(args.batch):.2f}x)")
        print(f"[bench] load {os.getloadavg()[0]:.1f} at the end")
    finally:
        for side in sides:
            side.close()


if __name__ == "__main__":
    main()
