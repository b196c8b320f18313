"""DevKit 5 run operations over HTTP: runs.getMany, runs.cancelMany and the
runs.waitForTerminalStatus long poll answered from LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg

from service.run_waiters import RUN_WAITERS_KEY, RunWaiters

from .api import event, get, new_run
from .pgw import Service
from .test_devkit5_events import new_run5, post
from .test_streams_live import eventually, serve

UNKNOWN = "wrun_01ARZ3NDEKTSV4RRFFQ69G5ZZZ"


async def call(client: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with client.post(path, json=body) as resp:
        return resp.status, await resp.json()


async def test_get_many_keeps_order_and_answers_null_for_unknown(client: aiohttp.ClientSession) -> None:
    a, b = await new_run5(client), await new_run(client)
    status, body = await call(client, "run-batches/get", {"runIds": [b, UNKNOWN, a, b], "resolveData": "none"})
    assert status == 200, body
    assert [r and r["runId"] for r in body["data"]] == [b, None, a, b]
    assert "input" not in body["data"][0]
    status, body = await call(client, "run-batches/get", {"runIds": [a]})
    assert status == 200 and "input" in body["data"][0], body


async def test_get_many_refuses_bad_lists(client: aiohttp.ClientSession) -> None:
    for bad in ({"runIds": ["r"] * 1001}, {"runIds": "r"}, {"runIds": [1]}, {}, {"runIds": [], "extra": 1}):
        status, body = await call(client, "run-batches/get", bad)
        assert status == 400 and body["code"].startswith("WF_"), (bad, body)


async def test_cancel_many_reports_each_run(client: aiohttp.ClientSession) -> None:
    five, four, done = await new_run5(client), await new_run(client), await new_run5(client)
    status, body = await post(client, done, "run_completed", data={"output": None})
    assert status == 200, body
    ids = [five, UNKNOWN, four, done]
    status, body = await call(client, "run-batches/cancel", {"runIds": ids, "cancelReason": "bulk stop"})
    assert status == 200, body
    assert [(r["runId"], r["outcome"]) for r in body["results"]] == [
        (five, "cancelled"), (UNKNOWN, "not_found"), (four, "cancelled"), (done, "not_cancellable")]
    assert body["results"][3]["status"] == "completed"
    assert body["summary"] == {"requested": 4, "cancelled": 2, "alreadyCancelled": 0, "notCancellable": 1,
                               "notFound": 1, "failed": 0}
    status, page = await get(client, f"runs/{five}/events")
    cancelled = [e for e in page["data"] if e["eventType"] == "run_cancelled"]
    assert cancelled[0]["eventData"]["cancelReason"] == "bulk stop", cancelled
    status, body = await call(client, "run-batches/cancel", {"runIds": [five]})
    assert body["results"] == [{"runId": five, "outcome": "already_cancelled"}], body


async def test_cancel_many_refuses_bad_requests_and_changes_nothing(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    for bad in ({"runIds": []}, {"runIds": [run_id, run_id]}, {"runIds": ["r"] * 501},
                {"runIds": [run_id], "cancelReason": "x" * 513}, {"runIds": [run_id], "cancelReason": 5}):
        status, body = await call(client, "run-batches/cancel", bad)
        assert status == 400 and body["code"].startswith("WF_"), (bad, body)
    status, run = await get(client, f"runs/{run_id}")
    assert run["status"] == "running", run


async def wait_for(client: aiohttp.ClientSession, run_id: str, **query: Any) -> tuple[int, str | None, Any]:
    async with client.get(f"runs/{run_id}/terminal-status", params={k: str(v) for k, v in query.items()}) as resp:
        return resp.status, resp.headers.get("Workflow-Wait"), await resp.json()


async def test_wait_answers_when_the_run_ends(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    waiting = asyncio.create_task(wait_for(client, run_id, timeoutMs=30000, resolveData="none"))
    await asyncio.sleep(0.5)
    assert not waiting.done(), "a running run keeps the long poll open"
    started = time.monotonic()
    status, body = await post(client, run_id, "run_completed", data={"output": None})
    assert status == 200, body
    status, outcome, run = await asyncio.wait_for(waiting, 20)
    # Generous: woken by the notification, not by the 30 s timeout.
    assert time.monotonic() - started < 10
    assert (status, outcome, run["status"], run["runId"]) == (200, "terminal", "completed", run_id)
    # Already terminal: answered at once.
    assert (await wait_for(client, run_id))[:2] == (200, "terminal")


async def test_wait_times_out_with_the_current_snapshot(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)  # a DevKit 4 run may be awaited too
    started = time.monotonic()
    status, outcome, run = await wait_for(client, run_id, timeoutMs=300)
    assert (status, outcome, run["status"]) == (200, "timeout", "running")
    assert time.monotonic() - started < 10
    status, body = await event(client, run_id, "run_cancelled")
    assert status == 200, body
    status, outcome, run = await wait_for(client, run_id, timeoutMs=0)
    assert (status, outcome, run["status"]) == (200, "terminal", "cancelled")


async def test_wait_errors_like_get(client: aiohttp.ClientSession) -> None:
    status, _, body = await wait_for(client, UNKNOWN)
    assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND")
    status, _, body = await wait_for(client, UNKNOWN, timeoutMs=-1)
    assert status == 400, body


async def test_waiters_per_app_are_bounded(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_RUN_WAITERS_PER_APP="2", WF_RUN_WAIT_MAX_SECONDS="20")
    async with aiohttp.ClientSession(base_url=service.url + "/api/v1/apps/default/") as client:
        run_id = await new_run5(client)
        held = [asyncio.create_task(wait_for(client, run_id, timeoutMs=20000)) for _ in range(2)]
        await asyncio.sleep(1.0)
        async with client.get(f"runs/{run_id}/terminal-status") as resp:
            body = await resp.json()
            assert resp.status == 429 and body["code"] == "WF_TOO_MANY_WAITERS", body
            assert resp.headers.get("Retry-After"), resp.headers
        # Both held waits are answered by the end, and their slots are freed.
        status, body = await post(client, run_id, "run_cancelled", data={"cancelReason": "done waiting"})
        assert status == 200, body
        results = await asyncio.wait_for(asyncio.gather(*held), 20)
        assert [r[:2] for r in results] == [(200, "terminal")] * 2
        assert (await wait_for(client, run_id))[1] == "terminal", "the slots are free again"


async def test_a_run_that_ends_while_the_listener_reconnects_still_answers(fresh_db: str) -> None:
    async with serve(fresh_db) as (client, app):
        waiters: RunWaiters = app[RUN_WAITERS_KEY]
        await eventually(lambda: waiters.listening, 5)
        run_id = await new_run5(client)
        waiting = asyncio.create_task(wait_for(client, run_id, timeoutMs=30000))
        await eventually(lambda: waiters.count("default") == 1, 5)
        with psycopg.connect(fresh_db, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'pg-workflow run-waiters' AND datname = current_database()").fetchone()
        assert killed == (1,)
        # Its notification may be lost; the re-read after the reconnect must find the end.
        status, body = await post(client, run_id, "run_completed", data={"output": None})
        assert status == 200, body
        status, outcome, run = await asyncio.wait_for(waiting, 20)
        assert (status, outcome, run["status"]) == (200, "terminal", "completed")
        assert waiters.count("default") == 0


async def test_a_client_that_goes_away_frees_its_wait(fresh_db: str) -> None:
    async with serve(fresh_db) as (client, app):
        waiters: RunWaiters = app[RUN_WAITERS_KEY]
        run_id = await new_run5(client)
        abandoned = asyncio.create_task(wait_for(client, run_id, timeoutMs=40000))
        await eventually(lambda: waiters.count("default") == 1, 5)
        abandoned.cancel()  # the client closes its connection
        # Noticed at the next look at the socket (every 5 s), long before the 40 s deadline.
        await eventually(lambda: waiters.count("default") == 0, 15)
