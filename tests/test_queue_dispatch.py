"""Dispatcher behaviour over real HTTP: per-run serialisation, coalesced
wake-ups, no head-of-line blocking, several replicas, and a replica killed
mid-dispatch."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from .pgw import Service
from .queue_support import (
    FAST_QUEUE_ENV,
    Delivery,
    HandlerServer,
    QueueClient,
    eventually,
    handler_server,
    new_app,
    queue_client,
    queue_service,
    sql,
)

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures


class InFlight:
    """Counts concurrent deliveries per run while each takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.overall_peak = 0

    async def __call__(self, d: Delivery) -> tuple[int, Any]:
        run = d.message.get("runId") or d.message.get("workflowRunId")
        self.now[run] += 1
        self.peak[run] = max(self.peak[run], self.now[run])
        self.overall_peak = max(self.overall_peak, sum(self.now.values()))
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.now[run] -= 1
        return 200, {"ok": True}


async def test_workflow_messages_of_a_run_are_never_concurrent(queue_client: QueueClient,
                                                                handler_server: HandlerServer) -> None:
    in_flight = InFlight(0.15)
    handler_server.respond = in_flight
    await queue_client.register(handler_server)
    for i in range(4):  # keyed, so they do not coalesce
        for run in ("wrun_a", "wrun_b"):
            await queue_client.enqueue("__wkf_workflow_w", {"runId": run, "i": i}, deploymentId="v1",
                                       idempotencyKey=f"{run}-{i}")
    await handler_server.wait_for(8, within=10)
    assert in_flight.peak == Counter({"wrun_a": 1, "wrun_b": 1})
    assert in_flight.overall_peak == 2, "different runs are still delivered in parallel"
    ordered = [d.message["i"] for d in handler_server.deliveries if d.message["runId"] == "wrun_a"]
    assert ordered == [0, 1, 2, 3]


async def test_step_messages_of_a_run_run_in_parallel(queue_client: QueueClient,
                                                      handler_server: HandlerServer) -> None:
    in_flight = InFlight(0.3)
    handler_server.respond = in_flight
    await queue_client.register(handler_server)
    for i in range(5):
        await queue_client.enqueue("__wkf_step_s", {"workflowRunId": "wrun_p", "stepId": f"s{i}"}, deploymentId="v1")
    await handler_server.wait_for(5)
    assert in_flight.peak["wrun_p"] == 5


async def test_wakeups_of_a_run_coalesce(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    release = asyncio.Event()

    async def first_blocks(d: Delivery) -> tuple[int, Any]:
        if len(handler_server.deliveries) == 1:
            await release.wait()
        return 200, {"ok": True}

    handler_server.respond = first_blocks
    await queue_client.register(handler_server)
    first = await queue_client.enqueue("__wkf_workflow_w", {"runId": "wrun_c", "runInput": {"x": 1}}, deploymentId="v1")
    await handler_server.wait_for(1)  # the first replay is in flight
    answers = [await queue_client.post("/queue", {"queueName": "__wkf_workflow_w", "deploymentId": "v1",
                                                  "message": {"runId": "wrun_c", "n": n}}) for n in range(5)]
    pending = answers[0][1]["messageId"]
    assert answers[0][0] == 201 and pending != first
    assert answers[1:] == [(200, {"messageId": pending})] * 4, "later wake-ups merge into the pending one"
    other_run = await queue_client.enqueue("__wkf_workflow_w", {"runId": "wrun_other"}, deploymentId="v1")
    assert other_run not in (first, pending)
    await asyncio.sleep(0.3)
    assert [d.message_id for d in handler_server.deliveries] == [first, other_run], "the run's wake-up waits"
    release.set()
    deliveries = await handler_server.wait_for(3)
    await asyncio.sleep(0.3)
    assert [d.message_id for d in handler_server.deliveries] == [first, other_run, pending]
    assert deliveries[2].message == {"runId": "wrun_c", "n": 4}


async def test_slow_handler_blocks_nobody(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    async def slow_for_one(d: Delivery) -> tuple[int, Any]:
        if d.message.get("slow"):
            await asyncio.sleep(10)
        return 200, {"ok": True}

    handler_server.respond = slow_for_one
    await queue_client.register(handler_server)
    slow = await queue_client.enqueue("__wkf_step_slow", {"workflowRunId": "r", "slow": True}, deploymentId="v1")
    await handler_server.wait_for(1)
    started = time.monotonic()
    ids = set(await asyncio.gather(*(queue_client.enqueue("__wkf_step_fast", {"workflowRunId": f"r{i}"},
                                                          deploymentId="v1") for i in range(100))))
    deliveries = await handler_server.wait_for(101, within=9)
    assert {d.message_id for d in deliveries[1:]} == ids
    assert time.monotonic() - started < 9, "all 100 went through while the slow one was still running"
    assert queue_client.statuses()[slow] == "claimed"
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"}, within=15)


async def _enqueue_many(client: QueueClient, n: int, make: Callable[[int], dict[str, Any]]) -> set[str]:
    sem = asyncio.Semaphore(20)

    async def one(i: int) -> str:
        async with sem:
            return await client.enqueue("__wkf_step_s", make(i), deploymentId="v1")

    return set(await asyncio.gather(*(one(i) for i in range(n))))


async def test_two_replicas_deliver_each_message_once(queue_service: Service, start_service: Callable[..., Service],
                                                       queue_client: QueueClient,
                                                       handler_server: HandlerServer) -> None:
    second = start_service(queue_service.database_url, **FAST_QUEUE_ENV)
    in_flight = InFlight(0.05)
    handler_server.respond = in_flight
    await queue_client.register(handler_server)
    ids = await _enqueue_many(queue_client, 200, lambda i: {"workflowRunId": f"r{i}"})
    # keyed workflow messages of one run, enqueued through the other replica
    async with aiohttp.ClientSession() as http:
        via_second = QueueClient(http, second, queue_client.app_id)
        for i in range(6):
            ids.add(await via_second.enqueue("__wkf_workflow_w", {"runId": "wrun_shared", "i": i},
                                             deploymentId="v1", idempotencyKey=f"k{i}"))
    deliveries = await handler_server.wait_for(206, within=20)
    await asyncio.sleep(0.5)
    assert len(handler_server.deliveries) == 206
    assert Counter(d.message_id for d in deliveries) == Counter(dict.fromkeys(ids, 1))
    assert in_flight.peak["wrun_shared"] == 1
    await eventually(lambda: set(queue_client.statuses().values()) == {"delivered"})


async def test_killed_replica_loses_nothing(start_service: Callable[..., Service],
                                            handler_server: HandlerServer) -> None:
    env = {**FAST_QUEUE_ENV, "WF_QUEUE_LEASE_SECONDS": "2", "WF_QUEUE_HANDLER_TIMEOUT_SECONDS": "1.5"}
    service = start_service(**env)
    answered: Counter[str] = Counter()

    async def slowish(d: Delivery) -> tuple[int, Any]:
        await asyncio.sleep(0.3)
        answered[d.message_id] += 1
        return 200, {"ok": True}

    handler_server.respond = slowish
    async with aiohttp.ClientSession() as http:
        client = QueueClient(http, service, new_app(service.database_url))
        await client.register(handler_server)
        ids = await _enqueue_many(client, 40, lambda i: {"workflowRunId": f"r{i}"})
        await handler_server.wait_for(10)
        service.kill()  # SIGKILL mid-dispatch: its leases and unsettled deliveries are left behind
        killed_at = time.monotonic()
        leased = {m for m, status in client.statuses().items() if status == "claimed"}
        assert leased, "work was in flight at the kill"
        service.start()
        await eventually(lambda: set(client.statuses().values()) == {"delivered"}, within=30)
        assert set(answered) == ids, "every message was answered"
        again = {d.message_id: d.attempt for d in handler_server.deliveries if d.at > killed_at}
        assert leased <= set(again), "each lost lease was redelivered by the restarted replica"
        assert all(again[m] >= 2 for m in leased)


async def test_lost_listener_reconnects_and_claims(queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    (killed,) = sql(queue_client.database_url,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'pg-workflow dispatcher' AND datname = current_database()")
    assert killed == (1,)
    # Enqueued while nobody listens: its notification is lost, the claim after the reconnect finds it.
    message_id = await queue_client.enqueue("__wkf_step_s", {"workflowRunId": "r"}, deploymentId="v1")
    (delivery,) = await handler_server.wait_for(1, within=10)
    assert delivery.message_id == message_id


async def test_stopping_gives_unfinished_deliveries_back(start_service: Callable[..., Service],
                                                         handler_server: HandlerServer) -> None:
    service = start_service(**FAST_QUEUE_ENV, WF_QUEUE_DRAIN_SECONDS="0.2")
    never = asyncio.Event()

    async def hangs(_: Delivery) -> tuple[int, Any]:
        await never.wait()
        return 200, {"ok": True}

    handler_server.respond = hangs
    async with aiohttp.ClientSession() as http:
        client = QueueClient(http, service, new_app(service.database_url))
        await client.register(handler_server)
        message_id = await client.enqueue("__wkf_step_s", {"workflowRunId": "r"}, deploymentId="v1")
        await handler_server.wait_for(1)
        assert client.statuses() == {message_id: "claimed"}
        service.stop()  # SIGTERM: a short drain, then the claim is released instead of waiting for its lease
        assert client.statuses() == {message_id: "queued"}
        never.set()


async def test_acks_ride_on_claims_when_asked(start_service: Callable[..., Service],
                                              handler_server: HandlerServer) -> None:
    """WF_QUEUE_ACKS_WITH_CLAIMS=true: results that wait while an ack is in flight are settled by the next claim
    (workflow.settle_and_claim); every message is still delivered once and settled."""
    # PGOPTIONS: the service's own connections count their function calls (track_functions).
    service = start_service(**FAST_QUEUE_ENV, WF_QUEUE_ACKS_WITH_CLAIMS="true", PGOPTIONS="-c track_functions=pl")
    handler_server.respond = InFlight(0.01)
    async with aiohttp.ClientSession() as http:
        client = QueueClient(http, service, new_app(service.database_url))
        await client.register(handler_server)
        ids = await _enqueue_many(client, 300, lambda i: {"workflowRunId": f"r{i}"})
        deliveries = await handler_server.wait_for(300, within=60)
        assert Counter(d.message_id for d in deliveries) == Counter(dict.fromkeys(ids, 1))
        await eventually(lambda: set(client.statuses().values()) == {"delivered"})

    def folded() -> int:
        rows = sql(service.database_url, "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                                         "WHERE funcname = 'settle_and_claim'")
        return int(rows[0][0])

    # Backends publish their counts when idle (at most once a second).
    await eventually(folded, within=15)
