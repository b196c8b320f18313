"""Claims and acks commit asynchronously (WF_QUEUE_ASYNC_COMMIT, default on); everything else stays durable.

The dispatcher's claim and ack statements set synchronous_commit for their own
transaction only: 'off', or with the option off the server's own setting, even
over what the SQL functions set for themselves. Then a real crash: the whole
PostgreSQL of a private cluster is SIGKILLed right after a batch of acks and
restarted, with the service reconnecting by itself. Every enqueued message is
delivered (enqueues are durable), and the only duplicates are the messages whose
claims and acks were still in unwritten WAL, each one counted in
wf_deliveries_repeated. With the option off the same crash repeats nothing."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.types.json import Jsonb

from service import migrate
from service.dispatcher import DispatcherSettings
from service.queries import QUERIES

from .pgw import Service
from .private_cluster import PrivateCluster
from .queue_support import FAST_QUEUE_ENV, HandlerServer, QueueClient, eventually, handler_server, sql
from .test_metrics import scrape, value

__all__ = ["handler_server"]  # fixture

APP = "commits"


def test_the_option_decides_the_claim_and_ack_commit_mode() -> None:
    assert DispatcherSettings.from_env({}).synchronous_commit == "off"
    assert DispatcherSettings.from_env({"WF_QUEUE_ASYNC_COMMIT": "false"}).synchronous_commit is None
    for statement in ("claim_messages", "ack_messages"):
        assert "%(synchronous_commit)s" in QUERIES[statement]
    assert "synchronous_commit" not in QUERIES["enqueue"] and "synchronous_commit" not in QUERIES["create_event"]


@pytest.mark.parametrize("server_setting", ["on", "remote_write"])
def test_claim_and_ack_set_synchronous_commit_for_their_transaction_only(fresh_db: str, server_setting: str) -> None:
    # The connection's own setting plays the server's (postgresql.conf, the role's or the database's).
    options = f"-c synchronous_commit={server_setting}"
    with psycopg.connect(fresh_db, autocommit=True) as holder, psycopg.connect(fresh_db, options=options) as conn:
        holder.execute("SELECT workflow.ensure_app(%s)", (APP,))
        holder.execute("SELECT set_config('workflow.app_id', %s, false)", (APP,))
        holder.execute("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/f', "
                       "'http://127.0.0.1:9/s')", (APP,))
        session = holder.execute("SELECT workflow.open_dispatcher_session('commits:1')").fetchone()[0]  # type: ignore[index]
        settings = DispatcherSettings.from_env({})
        for mode, expected in (("off", "off"), (None, server_setting)):
            holder.execute("SELECT workflow.enqueue(%s, '__wkf_step_s', %s, 'v1')",
                           (APP, Jsonb({"workflowRunId": "r1"})))
            # In an explicit transaction, to look at the setting before its commit.
            claimed = conn.execute(QUERIES["claim_messages"], {
                "session_id": session, "limit": 10, "one_at_a_time": False,
                **settings.claim_params(), "synchronous_commit": mode}).fetchone()
            assert claimed is not None
            assert conn.execute("SHOW synchronous_commit").fetchone() == (expected,), f"claim, mode {mode}"
            conn.commit()
            assert conn.execute("SHOW synchronous_commit").fetchone() == (server_setting,), "transaction-local"
            conn.commit()
            deliveries = json.loads(claimed[0])["deliveries"]
            assert len(deliveries) == 1
            results = [{"seq": d["seq"], "attempt": d["attempt"], "podId": d["podId"], "outcome": "done"}
                       for d in deliveries]
            settled = conn.execute(QUERIES["ack_messages"], {
                "results": Jsonb(results), **settings.ack_params(), "synchronous_commit": mode}).fetchone()
            assert settled is not None and settled[0] == 1
            assert conn.execute("SHOW synchronous_commit").fetchone() == (expected,), f"ack, mode {mode}"
            conn.commit()
            assert conn.execute("SHOW synchronous_commit").fetchone() == (server_setting,), "transaction-local"
            conn.commit()


# The private server's WAL writer writes asynchronous commits out every 10 s (its longest period; the default is
# 0.2 s), so the crash finds the last claims and acks still in shared memory. Nothing else may write WAL out
# meanwhile: no autovacuum, no checkpoint; the service runs no retention job and renews no registration.
CRASH_SETTINGS = {"wal_writer_delay": "10s", "autovacuum": "off", "checkpoint_timeout": "1h", "max_wal_size": "1GB"}
LEASE = 3.0  # a lost ack of a durable claim comes back when the lease ends
BATCH = 40


def wal_positions(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(written, inserted): how far WAL has been written out (what a killed server keeps: the OS has it, flushed
    or not) and how far it has been inserted into PostgreSQL's shared memory (what a running server has)."""
    row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
                       ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def delivered(conn: psycopg.Connection[Any], ids: list[str]) -> bool:
    row = conn.execute("SELECT count(*) FROM workflow.messages WHERE message_id = ANY (%s) AND status = 'delivered'",
                       (ids,)).fetchone()
    return row is not None and row[0] == len(ids)


@pytest.mark.parametrize("async_commit", [True, False], ids=["async", "durable"])
async def test_a_crash_right_after_acks_loses_nothing_and_repeats_only_unwritten_acks(
        handler_server: HandlerServer, async_commit: bool) -> None:
    cluster = PrivateCluster(CRASH_SETTINGS).init()
    service: Service | None = None
    try:
        migrate.deploy(cluster.url)
        sql(cluster.url, "SELECT workflow.ensure_app(%s)", APP)
        service = Service(cluster.url, env={
            **FAST_QUEUE_ENV, "WF_QUEUE_HANDLER_TIMEOUT_SECONDS": "2", "WF_QUEUE_LEASE_SECONDS": str(LEASE),
            "WF_QUEUE_ASYNC_COMMIT": str(async_commit).lower(), "WF_REPLICA_NAME": "crash-a",
            "WF_RETENTION_INTERVAL_SECONDS": "0", "WF_HANDLER_TTL_SECONDS": "0", "WF_METRICS_CACHE_SECONDS": "0",
            "WF_DB_POOL_TIMEOUT_SECONDS": "1", "WF_DB_CONNECT_TIMEOUT_SECONDS": "2"}).start()
        async with aiohttp.ClientSession() as http:
            client = QueueClient(http, service, APP)
            await client.register(handler_server)
            with psycopg.connect(cluster.url, autocommit=True) as watch:
                # A: delivered and settled; then B's enqueues, durable commits, write A's claims and acks out.
                a = [await client.enqueue("__wkf_step_s", {"workflowRunId": f"a{i}"}, deploymentId="v1")
                     for i in range(BATCH)]
                await eventually(lambda: delivered(watch, a), within=20)
                # B: due together once all are enqueued, so its claims and acks are the last commits before the kill.
                b = [await client.enqueue("__wkf_step_s", {"workflowRunId": f"b{i}"}, deploymentId="v1",
                                          delaySeconds=1.5) for i in range(BATCH)]
                await eventually(lambda: delivered(watch, b), within=20, interval=0.005)
                written, inserted = wal_positions(watch)
            cluster.crash()  # right after B's acks
            first = Counter(d.message_id for d in handler_server.deliveries)
            assert first == Counter(a + b), "each delivered once before the crash"
            await asyncio.to_thread(cluster.start)  # crash recovery; the service reconnects by itself
            await eventually(lambda: "resumed dispatcher session" in service.log_tail(100_000), within=15)
            with psycopg.connect(cluster.url, autocommit=True) as watch:
                await eventually(lambda: delivered(watch, a + b), within=20)
            await asyncio.sleep(LEASE + 1)  # a lost ack of a durable claim is redelivered within its lease
            _, samples = await scrape(http, service)
        per_message = Counter(d.message_id for d in handler_server.deliveries)
        assert set(per_message) == set(a + b), "nothing lost: every enqueued message was delivered"
        repeats = {m: n - 1 for m, n in per_message.items() if n > 1}
        assert not set(repeats) & set(a), "what a durable commit followed (B's enqueues) was kept"
        assert max(repeats.values(), default=0) <= 1, "bounded: one repeat per message at most"
        counted = value(samples, "wf_deliveries_repeated_total")
        assert counted == sum(repeats.values()), "every repeat is counted"
        attempts = sorted({d.attempt for d in handler_server.deliveries if d.message_id in repeats})
        print(f"async commit {async_commit}: {len(repeats)} of {BATCH} repeated (attempt numbers {attempts}), "
              f"{inserted - written} bytes of WAL unwritten at the kill, repeats counted: {counted:.0f}")
        if not async_commit:
            assert not repeats, "durable claims and acks: a crash after the acks repeats nothing"
        if written == inserted:
            assert not repeats, "all WAL was written out before the kill: nothing could be lost"
        elif async_commit:
            # PostgreSQL wakes its WAL writer for every full WAL page of asynchronous commits, but writes the last,
            # partial page only every wal_writer_delay: the last acks (and often their claims) died with the server.
            assert repeats, f"{inserted - written} bytes of WAL were not written out, yet nothing was repeated"
    finally:
        if service is not None:
            service.stop()
        cluster.destroy()
