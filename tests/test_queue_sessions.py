"""Claims belong to the dispatcher's database session (SPEC section 14).

Two real PostgreSQL connections spell out when a session counts as gone; real
service replicas are SIGKILLed mid-dispatch and must lose nothing, redeliver
what the dead one had in flight within seconds (the lease here is the default
330 s), and never deliver one run's workflow messages concurrently; a
dispatcher whose own connection drops keeps its claims."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.types.json import Jsonb

from service import embedded, migrate

from .pgw import Service
from .queue_support import (
    FAST_QUEUE_ENV,
    Delivery,
    HandlerServer,
    QueueClient,
    eventually,
    handler_server,
    new_app,
    sql,
)

__all__ = ["handler_server"]  # fixture

APP = "sessions"
# Fast retries, but the production lease (handler timeout 300 s + 30 s): only
# the sessions can bring claims back within these tests.
SESSION_ENV = {k: v for k, v in FAST_QUEUE_ENV.items()
               if k not in ("WF_QUEUE_LEASE_SECONDS", "WF_QUEUE_HANDLER_TIMEOUT_SECONDS")}


@pytest.fixture
def conns(fresh_db: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    with psycopg.connect(fresh_db, autocommit=True) as a, psycopg.connect(fresh_db, autocommit=True) as b:
        a.execute("SELECT workflow.ensure_app(%s)", (APP,))
        for conn in (a, b):  # API functions act only for the session's app
            conn.execute("SELECT set_config('workflow.app_id', %s, false)", (APP,))
        a.execute("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/f', 'http://127.0.0.1:9/s')",
                  (APP,))
        yield a, b


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def enqueue_steps(conn: psycopg.Connection[Any], n: int) -> None:
    for i in range(n):
        conn.execute("SELECT workflow.enqueue(%s, '__wkf_step_s', %s, 'v1')", (APP, Jsonb({"workflowRunId": f"r{i}"})))


def end_connection(conn: psycopg.Connection[Any], observer: psycopg.Connection[Any]) -> None:
    """Closes ``conn`` and waits until its server process is gone (and with it the session's lock)."""
    pid = conn.info.backend_pid
    conn.close()
    deadline = time.monotonic() + 10
    while observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None:
        assert time.monotonic() < deadline, "the closed connection's backend did not exit"
        time.sleep(0.01)


def claim(conn: psycopg.Connection[Any], session: int) -> list[dict[str, Any]]:
    return one(conn, "SELECT workflow.claim_messages(%s, 100, 330, 60)", session)["deliveries"]


def test_a_session_held_by_a_live_connection_is_never_reaped(fresh_db: str, conns: tuple[
        psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    a, b = conns
    session = one(a, "SELECT workflow.open_dispatcher_session('a:1')")
    enqueue_steps(a, 3)
    assert len(claim(b, session)) == 3, "any connection may claim for the session"
    assert one(b, "SELECT workflow.reap_dispatcher_sessions(0)") == 0, "a's connection holds the session"
    assert one(b, "SELECT lost_at FROM workflow.dispatcher_sessions WHERE session_id = %s", session) is None
    end_connection(a, b)  # the dispatcher's connection ends, as when its process is killed
    with psycopg.connect(fresh_db, autocommit=True) as c:
        assert one(b, "SELECT workflow.reap_dispatcher_sessions(0)") == 3, "with no grace its claims come back at once"
        survivor = one(c, "SELECT workflow.open_dispatcher_session('c:1')")
        assert {d["attempt"] for d in claim(b, survivor)} == {2}


def test_a_dispatcher_that_reconnects_in_time_keeps_its_claims(fresh_db: str, conns: tuple[
        psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    a, b = conns
    session = one(a, "SELECT workflow.open_dispatcher_session('a:1')")
    enqueue_steps(a, 2)
    claimed = claim(b, session)
    end_connection(a, b)
    assert one(b, "SELECT workflow.reap_dispatcher_sessions(60)") == 0, "found gone: lost, within the grace"
    with pytest.raises(psycopg.Error, match="lost"):
        claim(b, session)
    with psycopg.connect(fresh_db, autocommit=True) as again:
        assert one(again, "SELECT workflow.resume_dispatcher_session(%s)", session) is True
        assert one(b, "SELECT workflow.reap_dispatcher_sessions(0)") == 0, "resumed: held again"
        results = [{"seq": c["seq"], "attempt": c["attempt"], "podId": c["podId"], "outcome": "done"} for c in claimed]
        assert one(b, "SELECT workflow.ack_messages(%s)", Jsonb(results)) == 2, "its deliveries settle normally"


def test_the_same_replica_restarted_takes_its_claims_back_at_once(fresh_db: str, conns: tuple[
        psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    a, b = conns
    session = one(a, "SELECT workflow.open_dispatcher_session('host:3042')")
    enqueue_steps(a, 4)
    assert len(claim(b, session)) == 4
    end_connection(a, b)
    with psycopg.connect(fresh_db, autocommit=True) as restarted:
        new_session = one(restarted, "SELECT workflow.open_dispatcher_session('host:3042')")
        assert {d["attempt"] for d in claim(b, new_session)} == {2}, "no grace period for its own dead session"


class RunGuard:
    """The loopback handler's bookkeeping: answers after ``seconds``, counts per-run workflow concurrency."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()

    async def __call__(self, d: Delivery) -> tuple[int, Any]:
        run = d.message.get("runId") if d.kind == "flow" else None
        if run is not None:
            self.now[run] += 1
            self.peak[run] = max(self.peak[run], self.now[run])
        try:
            await asyncio.sleep(self.seconds)
        finally:
            if run is not None:
                self.now[run] -= 1
        self.answered[d.message_id] += 1
        return 200, {"ok": True}


def in_flight_of(database_url: str, replica: str) -> set[str]:
    rows = sql(database_url, "SELECT m.message_id FROM workflow.messages m JOIN workflow.dispatcher_sessions s "
                             "ON s.session_id = m.claimed_by WHERE m.status = 'claimed' AND s.name = %s", replica)
    return {r[0] for r in rows}


def redelivered(server: HandlerServer, before: dict[str, int], in_flight: set[str]) -> Callable[[], bool]:
    """True once each message in ``in_flight`` arrived again with a higher attempt than ``before`` saw."""
    return lambda: all(any(d.message_id == m and d.attempt > before.get(m, 0) for d in server.deliveries)
                       for m in in_flight)


async def test_repeated_sigkills_lose_nothing_and_redeliver_within_seconds(
        start_service: Callable[..., Service], handler_server: HandlerServer) -> None:
    # One app: it may use every slot (the default per-app share is a quarter of them). The test registers its
    # handler once and runs about 50 s: registrations without expiry, so a lapsed lease (60 s by default, which a
    # real client renews) cannot hold the messages this test waits for.
    env = {**SESSION_ENV, "WF_QUEUE_CONCURRENCY": "8", "WF_QUEUE_APP_CONCURRENCY": "8", "WF_HANDLER_TTL_SECONDS": "0"}
    first = start_service(**env, WF_REPLICA_NAME="replica-a")
    second = start_service(first.database_url, **env, WF_REPLICA_NAME="replica-b")
    replicas = {"replica-a": first, "replica-b": second}
    guard = RunGuard(1.0)
    handler_server.respond = guard
    async with aiohttp.ClientSession() as http:
        client = QueueClient(http, first, new_app(first.database_url))
        await client.register(handler_server)
        ids = set()
        for i in range(360):
            ids.add(await client.enqueue("__wkf_step_s", {"workflowRunId": f"r{i}"}, deploymentId="v1"))
        for i in range(40):  # keyed workflow messages of 8 runs: each run's are delivered one at a time
            ids.add(await client.enqueue("__wkf_workflow_w", {"runId": f"wrun_{i % 8}", "i": i}, deploymentId="v1",
                                         idempotencyKey=f"w{i}"))
        kills = 0
        lost_in_flight = 0
        # Four kills, each followed by a restart under the same name; then one the other replica must clean up.
        for victim, restart in [("replica-a", True), ("replica-b", True), ("replica-a", True), ("replica-b", True),
                                ("replica-a", False)]:
            await asyncio.sleep(0.8)
            in_flight = in_flight_of(first.database_url, victim)
            assert in_flight, f"{victim} had deliveries in flight at the kill"
            before = {d.message_id: d.attempt for d in handler_server.deliveries if d.message_id in in_flight}
            replicas[victim].kill()
            kills += 1
            lost_in_flight += len(in_flight)
            if restart:
                await asyncio.to_thread(replicas[victim].start)
            # Every message the dead replica had in flight is delivered again within 10 s of its restart (the
            # restarted replica takes them at once), or of the kill (the survivor, after the grace period).
            await eventually(redelivered(handler_server, before, in_flight), within=10)
        await eventually(lambda: set(client.statuses().values()) == {"delivered"}, within=90)
    assert set(guard.answered) == ids, "nothing lost: every message was answered"
    per_message = Counter(d.message_id for d in handler_server.deliveries)
    assert max(per_message.values()) <= 1 + kills, "bounded: at most one extra delivery per kill"
    assert len(handler_server.deliveries) <= len(ids) + lost_in_flight
    assert max(guard.peak.values()) == 1, "a run's workflow messages were never delivered concurrently"


async def test_a_dropped_dispatcher_connection_keeps_its_deliveries(
        start_service: Callable[..., Service], handler_server: HandlerServer) -> None:
    first = start_service(**SESSION_ENV, WF_REPLICA_NAME="replica-a")
    start_service(first.database_url, **SESSION_ENV, WF_REPLICA_NAME="replica-b")  # a reaper on the other side
    release = asyncio.Event()
    guard = RunGuard(0)

    async def held(d: Delivery) -> tuple[int, Any]:
        await release.wait()
        return await guard(d)

    handler_server.respond = held
    async with aiohttp.ClientSession() as http:
        client = QueueClient(http, first, new_app(first.database_url))
        await client.register(handler_server)
        ids = {await client.enqueue("__wkf_workflow_w", {"runId": f"wrun_{i}"}, deploymentId="v1") for i in range(6)}
        await handler_server.wait_for(6)
        (killed,) = sql(first.database_url,
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name = 'pg-workflow dispatcher'")
        assert killed == (2,), "both replicas' LISTEN connections (and so their sessions) dropped"
        # Past the grace period (5 s): had a session not been resumed, its claims would be redelivered by now.
        await asyncio.sleep(7)
        assert len(handler_server.deliveries) == 6, "no delivery was repeated while the first was still running"
        release.set()
        await eventually(lambda: set(client.statuses().values()) == {"delivered"}, within=10)
    assert set(guard.answered) == ids and len(handler_server.deliveries) == 6
    assert "resumed dispatcher session" in first.log_tail(20000)


async def test_postgres_restart_mid_delivery_loses_nothing_and_repeats_nothing(
        handler_server: HandlerServer) -> None:
    base = Path(tempfile.mkdtemp(prefix="pgw-restart-"))
    os.chmod(base, 0o755)  # the cluster runs as user postgres when we are root
    cluster = embedded.EmbeddedPostgres(base / "data")
    url = cluster.start()
    services: list[Service] = []
    try:
        migrate.deploy(url)
        for name in ("replica-a", "replica-b"):
            services.append(Service(url, env={**SESSION_ENV, "WF_REPLICA_NAME": name}).start())
        release = asyncio.Event()
        guard = RunGuard(0)

        async def held(d: Delivery) -> tuple[int, Any]:
            await release.wait()
            return await guard(d)

        handler_server.respond = held
        async with aiohttp.ClientSession() as http:
            client = QueueClient(http, services[0], new_app(url))
            await client.register(handler_server)
            ids = {await client.enqueue("__wkf_workflow_w", {"runId": f"wrun_{i}"}, deploymentId="v1")
                   for i in range(6)}
            ids |= {await client.enqueue("__wkf_step_s", {"workflowRunId": f"wrun_{i}"}, deploymentId="v1")
                    for i in range(6)}
            await handler_server.wait_for(12)
            await asyncio.to_thread(cluster.stop)  # every connection of both replicas ends
            await asyncio.to_thread(cluster.start)
            await asyncio.sleep(7)  # past the grace period: unresumed sessions would have been reaped by now
            assert len(handler_server.deliveries) == 12, "the replicas resumed their sessions: nothing started twice"
            release.set()
            await eventually(lambda: set(client.statuses().values()) == {"delivered"}, within=30)
        assert set(guard.answered) == ids and len(handler_server.deliveries) == 12
        assert max(guard.peak.values()) == 1
        assert all("resumed dispatcher session" in s.log_tail(50000) for s in services)
    finally:
        for service in services:
            service.stop()
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
