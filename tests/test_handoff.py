"""Handoff (sqitch change handoff, WF_QUEUE_HANDOFF=true): a message queued by a
request is claimed in that request's transaction for the serving replica's
dispatcher, which delivers it without a NOTIFY or a claim of its own; what
cannot be handed off (delayed, a run's second workflow message) is notified and
claimed as before. Off by default; only while the replica is lightly loaded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import psycopg
import pytest

from service.dispatcher import Dispatcher, DispatcherSettings
from service.outbound import OutboundPolicy

from .pgw import Service, create_database, db_url, drop_database
from .queue_support import FAST_QUEUE_ENV, Delivery, HandlerServer, QueueClient, handler_server, new_app, sql

__all__ = ["handler_server"]  # fixtures


@pytest.fixture(scope="module")
def queue_service(template_db: str) -> Iterator[Service]:
    """A pg-workflow with handoffs on (and the fast queue settings)."""
    name = create_database(template_db)
    service = Service(db_url(name), env={**FAST_QUEUE_ENV, "WF_QUEUE_HANDOFF": "true"})
    try:
        yield service.start()
    finally:
        service.stop()
        drop_database(name)


@pytest.fixture
async def queue_client(queue_service: Service) -> AsyncIterator[QueueClient]:
    async with aiohttp.ClientSession() as http:
        yield QueueClient(http, queue_service, new_app(queue_service.database_url))

RUN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5J00"


def session_of(service: Service) -> int:
    """The live dispatcher session of the service under test (named host:port)."""
    rows = sql(service.database_url, "SELECT session_id FROM workflow.dispatcher_sessions "
                                     "WHERE name LIKE %s AND lost_at IS NULL", f"%:{service.port}")
    assert len(rows) == 1, rows
    return int(rows[0][0])


def claimed_by(qc: QueueClient, message_id: str) -> int | None:
    ((session,),) = sql(qc.database_url, "SELECT claimed_by FROM workflow.messages WHERE app_id = %s "
                                         "AND message_id = %s", qc.app_id, message_id)
    return session


class Notifications:
    """LISTENs on the dispatchers' channel and counts what arrives."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.received: list[str] = []
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> Notifications:
        self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await self._conn.execute("LISTEN workflow_queue")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        await self._conn.close()

    async def collect(self, seconds: float) -> list[str]:
        assert self._conn is not None
        try:
            async with asyncio.timeout(seconds):
                async for note in self._conn.notifies():
                    self.received.append(note.payload)
        except TimeoutError:
            pass
        return self.received


async def test_a_queued_message_is_delivered_by_the_replica_that_queued_it_without_notify(
        queue_service: Service, queue_client: QueueClient, handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    async with Notifications(queue_service.database_url) as notes:
        await notes.collect(0.2)  # the registration's own notification
        notes.received.clear()
        message_id = await queue_client.enqueue("__wkf_step_s", {"workflowRunId": RUN, "stepId": "s1"},
                                                deploymentId="v1")
        (delivery,) = await handler_server.wait_for(1)
        assert delivery.message_id == message_id
        assert claimed_by(queue_client, message_id) == session_of(queue_service)
        assert await notes.collect(0.3) == [], "a handed-off message wakes no dispatcher"
    await _settled(queue_client, message_id)
    assert await handoffs(queue_client.http, queue_service) >= 1


async def test_an_events_message_is_handed_off(queue_service: Service, queue_client: QueueClient,
                                               handler_server: HandlerServer) -> None:
    await queue_client.register(handler_server)
    status, body = await queue_client.post(f"/runs/{RUN}/events", {
        "eventType": "run_created", "specVersion": 3,
        "eventData": {"deploymentId": "v1", "workflowName": "wf", "input": []}})
    assert status == 200, body
    assert (await queue_client.post(f"/runs/{RUN}/events", {"eventType": "run_started", "specVersion": 3}))[0] == 200
    message = {"workflowName": "wf", "workflowRunId": RUN, "workflowStartedAt": 1, "stepId": "s1",
               "traceCarrier": {}, "requestedAt": "2026-11-30T07:00:00.000Z"}
    async with Notifications(queue_service.database_url) as notes:
        status, body = await queue_client.post(f"/runs/{RUN}/events", {
            "eventType": "step_created", "specVersion": 3, "correlationId": "s1", "eventData": {"stepName": "add"},
            "enqueue": {"queueName": "__wkf_step_add", "deploymentId": "v1", "idempotencyKey": "s1",
                        "message": message}})
        assert status == 200, body
        assert body["step"]["status"] == "pending"
        (delivery,) = await handler_server.wait_for(1)
        assert (delivery.message_id, delivery.message) == (body["queued"]["messageId"], message)
        assert claimed_by(queue_client, delivery.message_id) == session_of(queue_service)
        assert await notes.collect(0.3) == []
    await _settled(queue_client, delivery.message_id)


async def test_what_cannot_be_handed_off_is_notified_and_claimed_as_before(
        queue_service: Service, queue_client: QueueClient, handler_server: HandlerServer) -> None:
    ends: dict[str, float] = {}

    async def slow(d: Delivery) -> tuple[int, Any]:
        await asyncio.sleep(0.3)
        ends[d.message_id] = time.monotonic()
        return 200, {}

    handler_server.respond = slow
    await queue_client.register(handler_server)
    async with Notifications(queue_service.database_url) as notes:
        await notes.collect(0.2)
        notes.received.clear()
        # Delayed: not due yet, so the dispatchers are told when it will be.
        delayed = await queue_client.enqueue("__wkf_step_s", {"workflowRunId": RUN, "stepId": "late"},
                                             deploymentId="v1", delaySeconds=0.2)
        # A run's second workflow message waits for the first, which is handed off.
        first = await queue_client.enqueue("__wkf_workflow_wf", {"runId": RUN}, deploymentId="v1",
                                           idempotencyKey="w1")
        second = await queue_client.enqueue("__wkf_workflow_wf", {"runId": RUN}, deploymentId="v1",
                                            idempotencyKey="w2")
        assert queue_client.statuses()[second] == "queued"
        received = await notes.collect(0.2)
        assert len(received) >= 2 and any(int(p) > 0 for p in received), received
    deliveries = {d.message_id: d for d in await handler_server.wait_for(3)}
    assert set(deliveries) == {delayed, first, second}
    assert deliveries[second].at >= ends[first], "one workflow message of a run at a time"
    for message_id in (delayed, first, second):
        await _settled(queue_client, message_id)


async def handoffs(http: aiohttp.ClientSession, service: Service) -> float:
    """wf_queue_handoffs_total from the service's /metrics."""
    async with http.get(service.url + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("wf_queue_handoffs_total "):
                return float(line.split()[1])
    raise AssertionError("wf_queue_handoffs_total is not exported")


async def _settled(qc: QueueClient, message_id: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while qc.statuses()[message_id] != "delivered":
        assert time.monotonic() < deadline, qc.statuses()[message_id]
        await asyncio.sleep(0.05)


async def test_handoffs_are_off_by_default(start_service: Any, handler_server: HandlerServer) -> None:
    service = start_service(**FAST_QUEUE_ENV)
    async with aiohttp.ClientSession() as http:
        qc = QueueClient(http, service, new_app(service.database_url))
        await qc.register(handler_server)
        async with Notifications(service.database_url) as notes:
            await notes.collect(0.2)
            notes.received.clear()
            message_id = await qc.enqueue("__wkf_step_s", {"workflowRunId": RUN}, deploymentId="v1")
            (delivery,) = await handler_server.wait_for(1)
            assert delivery.message_id == message_id
            assert await notes.collect(0.2) == ["0"], "queued and notified; the dispatcher claimed it"
        await _settled(qc, message_id)
        assert await handoffs(http, service) == 0


def test_a_busy_replica_hands_nothing_off() -> None:
    settings = DispatcherSettings.from_env({"WF_QUEUE_HANDOFF": "true"})
    db = SimpleNamespace(url="postgresql://unused", requests_in_flight=0)
    dispatcher = Dispatcher(db, settings, OutboundPolicy.from_lists(False, [], []), "unit:1")  # type: ignore[arg-type]
    assert dispatcher.handoff_params()["session_id"] is None, "no session yet"
    dispatcher._session_id = 7
    dispatcher._listener.listening = True
    assert dispatcher.handoff_params() == {"session_id": 7, "lease_seconds": settings.lease_seconds,
                                           "grace_seconds": settings.grace}
    db.requests_in_flight = 3
    assert dispatcher.handoff_params()["session_id"] is None, "three statements running: leave it to claims"
    db.requests_in_flight = 2
    dispatcher._deliveries = {object(), object(), object()}  # type: ignore[assignment]
    assert dispatcher.handoff_params()["session_id"] is None, "three deliveries in flight: likewise"
    off = Dispatcher(db, DispatcherSettings.from_env({}), OutboundPolicy.from_lists(False, [], []), "unit:2")  # type: ignore[arg-type]
    off._session_id, off._listener.listening = 7, True
    db.requests_in_flight = 0
    assert off.handoff_params()["session_id"] is None, "off by default"
