"""A run's whole life through POST /runs/:runId/events over real HTTP."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import aiohttp

from .api import binary, event, get, new_run, unbinary


async def test_full_run_lifecycle(client: aiohttp.ClientSession) -> None:
    payload = b"devl\x00\x01\x02"
    status, body = await event(client, None, "run_created", data={
        "deploymentId": "dep-1", "workflowName": "workflow//./src/order//process",
        "input": binary(payload), "executionContext": {"traceId": "t-1"},
    })
    assert status == 200, body
    run = body["run"]
    run_id = run["runId"]
    assert run["status"] == "pending" and run_id.startswith("wrun_") and len(run_id) == 31
    assert body["event"]["eventType"] == "run_created" and body["event"]["eventId"].startswith("wevt_")
    assert unbinary(run["input"]) == payload

    status, body = await event(client, run_id, "run_started")
    assert status == 200 and body["run"]["status"] == "running" and "startedAt" in body["run"]
    assert [e["eventType"] for e in body["events"]] == ["run_created", "run_started"]
    assert body["hasMore"] is False and body["cursor"]

    # step: created → started → retrying → started too early (425) → started → completed
    step = "step_01"
    status, body = await event(client, run_id, "step_created", step,
                               {"stepName": "step//add", "input": binary(b"\x00")})
    assert status == 200 and body["step"]["status"] == "pending" and body["step"]["attempt"] == 0
    status, body = await event(client, run_id, "step_started", step)
    assert status == 200 and body["step"]["status"] == "running" and body["step"]["attempt"] == 1
    retry_at = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    status, body = await event(client, run_id, "step_retrying", step,
                               {"error": {"message": "flaky"}, "retryAfter": retry_at})
    assert status == 200 and body["step"]["status"] == "pending" and body["step"]["error"]["message"] == "flaky"
    async with client.post(f"runs/{run_id}/events", json={"eventType": "step_started", "correlationId": step}) as resp:
        assert resp.status == 425
        assert int(resp.headers["Retry-After"]) >= 1
        too_early = await resp.json()
    assert too_early["code"] == "WF_TOO_EARLY" and too_early["meta"]["retryAfter"] >= 1
    # a new step_retrying without retryAfter lets the step start at once
    status, body = await event(client, run_id, "step_retrying", step, {"error": "again"})
    assert status == 200 and "retryAfter" not in body["step"] and body["step"]["error"] == {"message": "again"}
    status, body = await event(client, run_id, "step_started", step)
    assert status == 200 and body["step"]["attempt"] == 2
    status, body = await event(client, run_id, "step_completed", step, {"result": binary(b"result\x00")})
    assert status == 200 and body["step"]["status"] == "completed"
    assert unbinary(body["step"]["output"]) == b"result\x00"

    # hooks: created, conflict from another run, received twice, disposed
    token = f"tok-{os.urandom(4).hex()}"
    status, body = await event(client, run_id, "hook_created", "hook_01", {"token": token, "metadata": binary(b"m")})
    assert status == 200 and body["hook"]["token"] == token and body["hook"]["isWebhook"] is True
    other = await new_run(client)
    status, body = await event(client, other, "hook_created", "hook_02", {"token": token})
    assert status == 200 and body["event"]["eventType"] == "hook_conflict"
    assert body["event"]["eventData"] == {"token": token, "conflictingRunId": run_id}
    for n in range(2):
        status, body = await event(client, run_id, "hook_received", "hook_01", {"payload": binary(bytes([n]))})
        assert status == 200 and body["event"]["eventType"] == "hook_received"
    status, body = await get(client, f"hooks/by-token/{token}")
    assert status == 200 and body["hookId"] == "hook_01"
    status, body = await event(client, run_id, "hook_disposed", "hook_01")
    assert status == 200
    status, _ = await get(client, f"hooks/by-token/{token}")
    assert status == 404

    # waits
    resume = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    status, body = await event(client, run_id, "wait_created", "wait_01", {"resumeAt": resume})
    assert status == 200 and body["wait"]["status"] == "waiting"
    status, body = await event(client, run_id, "wait_completed", "wait_01")
    assert status == 200 and body["wait"]["status"] == "completed"

    status, body = await event(client, run_id, "run_completed", data={"output": binary(b"done\x00")})
    assert status == 200 and body["run"]["status"] == "completed" and "completedAt" in body["run"]
    assert unbinary(body["run"]["output"]) == b"done\x00"

    # the log, in order, with the refused requests leaving no trace
    status, body = await get(client, f"runs/{run_id}/events", limit=1000)
    types = [e["eventType"] for e in body["data"]]
    assert types == [
        "run_created", "run_started", "step_created", "step_started", "step_retrying", "step_retrying", "step_started",
        "step_completed", "hook_created", "hook_received", "hook_received", "hook_disposed",
        "wait_created", "wait_completed", "run_completed",
    ]
    ids = [e["eventId"] for e in body["data"]]
    assert ids == sorted(ids), "event ids sort like the log"

    # terminal refusals
    status, body = await event(client, run_id, "run_failed", data={"error": "late"})
    assert status == 409 and body["code"] == "WF_RUN_TERMINAL"
    status, body = await event(client, run_id, "run_started")
    assert status == 410 and body["code"] == "WF_RUN_EXPIRED"


async def test_run_failed_and_cancelled(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    status, body = await event(client, run_id, "run_failed", data={
        "error": {"message": "kaput", "stack": "Error: kaput\n  at x"}, "errorCode": "USER_ERROR"})
    assert status == 200
    assert body["run"]["error"] == {"message": "kaput", "stack": "Error: kaput\n  at x", "code": "USER_ERROR"}
    other = await new_run(client)
    status, body = await event(client, other, "run_cancelled")
    assert status == 200 and body["run"]["status"] == "cancelled"
    status, body = await event(client, other, "run_cancelled")
    assert status == 200 and body["run"]["status"] == "cancelled", "cancelling a cancelled run succeeds"
    status, body = await get(client, f"runs/{other}/events")
    assert [e["eventType"] for e in body["data"]] == ["run_created", "run_started", "run_cancelled"]


async def test_resilient_start_creates_the_missing_run(client: aiohttp.ClientSession) -> None:
    run_id = "wrun_01" + os.urandom(12).hex().upper()[:24].translate(str.maketrans("ILOU", "JKMN"))
    status, body = await event(client, run_id, "run_started", data={
        "deploymentId": "dep-r", "workflowName": "wf//resilient", "input": binary(b"in")})
    assert status == 200, body
    assert body["run"]["status"] == "running" and body["run"]["runId"] == run_id
    assert [e["eventType"] for e in body["events"]] == ["run_created", "run_started"]


async def test_concurrent_step_transitions_have_one_winner(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    status, _ = await event(client, run_id, "step_created", "racy", {"stepName": "step//race"})
    assert status == 200
    status, _ = await event(client, run_id, "step_started", "racy")
    assert status == 200

    async def finish(n: int) -> int:
        kind = "step_completed" if n % 2 else "step_failed"
        data = {"result": binary(bytes([n]))} if n % 2 else {"error": f"e{n}"}
        status, _ = await event(client, run_id, kind, "racy", data)
        return status

    statuses = await asyncio.gather(*(finish(n) for n in range(20)))
    assert sorted(statuses) == [200] + [409] * 19
    status, step = await get(client, f"runs/{run_id}/steps/racy")
    assert step["status"] in ("completed", "failed")
    status, log = await get(client, "events", correlationId="racy", runId=run_id)
    terminal = [e for e in log["data"] if e["eventType"] in ("step_completed", "step_failed")]
    assert len(terminal) == 1 and terminal[0]["eventType"] == f"step_{step['status']}"


async def test_concurrent_step_starts_count_every_attempt(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    await event(client, run_id, "step_created", "starts", {"stepName": "step//s"})
    statuses = await asyncio.gather(*(event(client, run_id, "step_started", "starts") for _ in range(20)))
    assert [s for s, _ in statuses] == [200] * 20
    _status, step = await get(client, f"runs/{run_id}/steps/starts")
    assert step["attempt"] == 20 and step["status"] == "running"
    finished = await asyncio.gather(*(event(client, run_id, "step_completed", "starts", {"result": 1})
                                      for _ in range(20)))
    assert sorted(s for s, _ in finished) == [200] + [409] * 19
