"""DevKit 5 (spec >= 6) runs over POST /runs/:runId/events: slot event ids, eventCount
bump-and-report instead of the 412, lazy step start, error bytes, attributes and the
5.x hook and run members, beside a DevKit 4 run in the same app."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

from .api import binary, event, get, new_run

SPEC = 7


def slot(n: int) -> str:
    return "evnt_" + str(n).zfill(26)


async def post(client: aiohttp.ClientSession, run_id: str | None, event_type: str,
               correlation_id: str | None = None, data: Any = None, **members: Any) -> tuple[int, Any]:
    """One spec-7 event; members go into the body beside eventType (eventCount, sinceCursor, ...)."""
    body: dict[str, Any] = {"eventType": event_type, "specVersion": SPEC, **members}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    async with client.post(f"runs/{run_id or 'null'}/events", json=body) as resp:
        return resp.status, await resp.json()


async def new_run5(client: aiohttp.ClientSession, **extra: Any) -> str:
    status, body = await post(client, None, "run_created", data={
        "deploymentId": "dep-5", "workflowName": "workflow//./wf//main", "input": binary(os.urandom(8)), **extra})
    assert status == 200, body
    run_id = body["run"]["runId"]
    status, body = await post(client, run_id, "run_started", eventCount=1)
    assert status == 200, body
    return run_id


async def test_slot_ids_beside_a_devkit4_run(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    status, page = await get(client, f"runs/{run_id}/events")
    assert status == 200, page
    assert [e["eventId"] for e in page["data"]] == [slot(1), slot(2)]
    status, body = await post(client, run_id, "wait_created", "w1", {"resumeAt": "2999-01-01T00:00:00Z"}, eventCount=2)
    assert status == 200 and body["event"]["eventId"] == slot(3), body
    assert "events" not in body, "an up-to-date eventCount reports nothing"
    other = await new_run5(client)
    status, page = await get(client, f"runs/{other}/events")
    assert page["data"][0]["eventId"] == slot(1), "every run counts from 1"
    status, one = await get(client, f"runs/{run_id}/events/{slot(3)}")
    assert status == 200 and one["correlationId"] == "w1", one

    # A DevKit 4 run in the same app keeps ULID ids and its answer shape.
    status, body = await event(client, None, "run_created", data={
        "deploymentId": "dep-4", "workflowName": "workflow//./wf//main", "input": binary(b"x")})
    assert status == 200, body
    assert body["event"]["eventId"].startswith("wevt_") and "attributes" not in body["run"]


async def test_stale_event_count_is_bumped_and_reported(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    for n in (1, 2):
        status, body = await post(client, run_id, "hook_created", f"h{n}", {"token": f"dk5-{run_id}-{n}"})
        assert status == 200, body
    # A writer that saw only run_created and run_started: no 412, it lands in slot 5
    # and learns of slots 3 and 4.
    status, body = await post(client, run_id, "wait_created", "w1", {"resumeAt": "2999-01-01T00:00:00Z"},
                              eventCount=2, stateUpdatedAt=0)
    assert status == 200, body
    assert body["event"]["eventId"] == slot(5)
    assert [e["eventId"] for e in body["events"]] == [slot(3), slot(4)]
    assert body["cursor"] == "4" and body["hasMore"] is False
    # The cursor continues an events.list where the report ended.
    status, page = await get(client, f"runs/{run_id}/events", cursor=body["cursor"])
    assert [e["eventId"] for e in page["data"]] == [slot(5)]
    status, page = await get(client, f"runs/{run_id}/events", cursor=slot(4))
    assert [e["eventId"] for e in page["data"]] == [slot(5)], "an event id is a cursor too"

    status, body = await post(client, run_id, "wait_created", "w2", {"resumeAt": "2999-01-01T00:00:00Z"}, eventCount=9)
    assert status == 400 and body["code"] == "WF_INVALID_PARAMETER", body
    status, body = await post(client, run_id, "wait_created", "w2", {"resumeAt": "2999-01-01T00:00:00Z"}, eventCount=-1)
    assert status == 400, body

    status, body = await post(client, run_id, "wait_completed", "w1", sinceCursor="3")
    assert status == 200, body
    assert [e["eventId"] for e in body["events"]] == [slot(4), slot(5), slot(6)], "sinceCursor: all after it"


async def test_lazy_step_start_has_one_winner(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    start = {"stepName": "step//./wf//add", "input": binary(b"in")}
    results = await asyncio.gather(*(post(client, run_id, "step_started", "step_1", start) for _ in range(4)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409], results
    won = next(body for status, body in results if status == 200)
    assert won["stepCreated"] is True and won["step"]["status"] == "running" and won["step"]["attempt"] == 1
    lost = next(body for status, body in results if status == 409)
    assert lost["code"] == "WF_STEP_EXISTS", lost
    status, page = await get(client, f"runs/{run_id}/events")
    assert [(e["eventType"], e.get("correlationId")) for e in page["data"][2:]] == [
        ("step_created", "step_1"), ("step_started", "step_1")]
    assert page["data"][2]["eventData"] == start

    status, body = await post(client, run_id, "step_started", "step_2")
    assert status == 404 and body["code"] == "WF_STEP_NOT_FOUND", "without input it needs step_created"


async def test_errors_are_kept_as_bytes(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    status, body = await post(client, run_id, "step_started", "s1", {"stepName": "a", "input": binary(b"1")})
    assert status == 200, body
    step_error = binary(b"\x00serialised step error")
    status, body = await post(client, run_id, "step_failed", "s1", {"error": step_error})
    assert status == 200 and body["step"]["error"] == step_error, body
    run_error = binary(b"\x01serialised run error")
    status, body = await post(client, run_id, "run_failed", data={"error": run_error, "errorCode": "USER_ERROR"})
    assert status == 200, body
    assert body["run"]["error"] == run_error and body["run"]["errorCode"] == "USER_ERROR"
    status, run = await get(client, f"runs/{run_id}")
    assert run["error"] == run_error and run["errorCode"] == "USER_ERROR"


async def test_attributes(client: aiohttp.ClientSession) -> None:
    parent = await new_run5(client, attributes={"customer": "acme"})
    status, run = await get(client, f"runs/{parent}")
    assert run["attributes"] == {"customer": "acme"}

    child_attrs = {"$rootRunId": parent, "$parentRunId": parent, "customer": "acme"}
    status, body = await post(client, None, "run_created", data={
        "deploymentId": "dep-5", "workflowName": "workflow//./wf//child", "input": binary(b"c"),
        "attributes": child_attrs, "allowReservedAttributes": True})
    assert status == 200 and body["run"]["attributes"] == child_attrs, body

    status, body = await post(client, None, "run_created", data={
        "deploymentId": "dep-5", "workflowName": "w", "input": binary(b"c"), "attributes": {"$rootRunId": parent}})
    assert status == 400 and body["code"] == "WF_INVALID_ATTRIBUTES", body
    assert "reserved" in body["message"] and "$rootRunId" in body["message"]

    status, body = await post(client, parent, "attr_set", data={
        "changes": [{"key": "stage", "value": "shipping"}, {"key": "customer", "value": None}],
        "writer": {"type": "workflow"}}, eventCount=2)
    assert status == 200, body
    assert body["run"]["attributes"] == {"stage": "shipping"} and body["event"]["eventType"] == "attr_set"

    status, body = await post(client, parent, "attr_set", data={
        "changes": [{"key": "v", "value": "é" * 129}], "writer": {"type": "workflow"}})
    assert status == 400 and body["message"] == "Attribute value byte length 258 exceeds limit 256", body
    status, body = await post(client, parent, "attr_set", data={"changes": [{"key": "v", "value": "1"}]})
    assert status == 400, "writer is required"
    status, run = await get(client, f"runs/{parent}")
    assert run["attributes"] == {"stage": "shipping"}, "refused changes changed nothing"


async def test_hook_and_cancel_members(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client, encryptionPublicKey="cHVibGljLWtleQ==")
    status, body = await post(client, run_id, "hook_created", "h1", {
        "token": f"sys-{run_id}", "isSystem": True, "tokenRetentionUntil": "2999-01-01T00:00:00.000Z"})
    assert status == 200, body
    hook = body["hook"]
    assert hook["isSystem"] is True and hook["tokenRetentionUntil"] == "2999-01-01T00:00:00.000Z"
    assert hook["resumeContext"] == {"deploymentId": "dep-5", "workflowName": "workflow//./wf//main",
                                     "runSpecVersion": SPEC, "encryptionPublicKey": "cHVibGljLWtleQ=="}
    status, body = await post(client, run_id, "run_cancelled", data={"cancelReason": "x" * 513})
    assert status == 400, body
    status, body = await post(client, run_id, "run_cancelled", data={"cancelReason": "operator request"})
    assert status == 200 and body["run"]["status"] == "cancelled", body
    assert body["event"]["eventData"] == {"cancelReason": "operator request"}
    assert body["run"]["encryptionPublicKey"] == "cHVibGljLWtleQ=="


async def test_create_batch(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)

    def item(event_type: str, correlation_id: str, data: Any = None) -> dict[str, Any]:
        ev: dict[str, Any] = {"eventType": event_type, "correlationId": correlation_id, "specVersion": SPEC}
        if data is not None:
            ev["eventData"] = data
        return {"event": ev}

    pair = [item("step_created", "s1", {"stepName": "a", "input": binary(b"1")}), item("step_started", "s1")]
    async with client.post(f"runs/{run_id}/event-batches", json={"events": [
            *pair, item("wait_created", "w1", {"resumeAt": "2999-01-01T00:00:00Z"})]}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert [r["status"] for r in body["results"]] == [200, 200, 200], body
    assert [r["event"]["eventId"] for r in body["results"]] == [slot(3), slot(4), slot(5)]
    assert body["results"][1]["step"]["status"] == "running"

    # The same pair again (a retry, or another writer): both refused, nothing appended.
    async with client.post(f"runs/{run_id}/event-batches", json={"events": pair}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert [(r["status"], r["error"]) for r in body["results"]] == [(409, "WF_STEP_EXISTS"), (409, "WF_STEP_EXISTS")]
    status, page = await get(client, f"runs/{run_id}/events")
    assert len(page["data"]) == 5

    async with client.post(f"runs/{run_id}/event-batches", json={"events": []}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "WF_BAD_REQUEST"
    async with client.post(f"runs/{run_id}/event-batches", json={"events": [item("nope", "x")]}) as resp:
        assert resp.status == 400
    status, body = await event(client, None, "run_created", data={
        "deploymentId": "dep-4", "workflowName": "w", "input": binary(b"x")})
    assert status == 200, body
    async with client.post(f"runs/{body['run']['runId']}/event-batches", json={"events": pair}) as resp:
        assert resp.status == 400, "a DevKit 4 run takes no batch"


async def test_lazy_hook_resume(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    token = f"resume-{run_id}"
    status, body = await post(client, run_id, "hook_created", "h1", {"token": token})
    assert status == 200, body
    status, hook = await get(client, f"hooks/by-token/{token}")
    assert status == 200 and hook["resumeCapabilities"] == {"hookResumeDedupVersion": 1}, hook

    # The producer's write and the queue consumer's re-ensure converge on one event.
    payload = {"payload": binary(b"resume")}
    first, again = await asyncio.gather(
        post(client, run_id, "hook_received", "h1", payload, resumeId="res-1", resumePayloadDigest="sha-1"),
        post(client, run_id, "hook_received", "h1", payload, resumeId="res-1", resumePayloadDigest="sha-1",
             preloadEvents=True))
    assert first[0] == again[0] == 200, (first, again)
    assert first[1]["event"]["eventId"] == again[1]["event"]["eventId"]
    assert first[1]["event"]["resumeId"] == "res-1"
    status, page = await get(client, f"runs/{run_id}/events")
    assert [e["eventType"] for e in page["data"]].count("hook_received") == 1
    # preloadEvents: the run, maxEvents and the complete log, as run_started answers it.
    preload = again[1]
    assert preload["run"]["runId"] == run_id and preload["hasMore"] is False and "maxEvents" in preload
    assert [e["eventId"] for e in preload["events"]] == [e["eventId"] for e in page["data"]]

    status, body = await post(client, run_id, "hook_received", "h1", payload, resumeId="res-1",
                              resumePayloadDigest="sha-other")
    assert status == 409 and body["code"] == "WF_RESUME_CONFLICT", body


async def test_token_retention_outlives_the_run(client: aiohttp.ClientSession) -> None:
    run_id = await new_run5(client)
    token = f"kept-{run_id}"
    status, body = await post(client, run_id, "hook_created", "h1",
                              {"token": token, "tokenRetentionUntil": "2999-01-01T00:00:00.000Z"})
    assert status == 200, body
    status, body = await post(client, run_id, "run_completed", data={"output": binary(b"done")})
    assert status == 200, body
    status, hook = await get(client, f"hooks/by-token/{token}")
    assert status == 200 and hook["runId"] == run_id, "kept hooks stay readable after the run ends"
    status, body = await post(client, run_id, "hook_received", "h1", {"payload": binary(b"late")})
    assert status == 404 and body["code"] == "WF_HOOK_NOT_FOUND", body
    other = await new_run5(client)
    status, body = await post(client, other, "hook_created", "h1", {"token": token})
    assert status == 200 and body["event"]["eventType"] == "hook_conflict", "the token is still held"
    # A DevKit 4 run asking for the token during the retention: the same answer.
    devkit4 = await new_run(client)
    status, body = await event(client, devkit4, "hook_created", "h1", data={"token": token})
    assert status == 200 and body["event"]["eventType"] == "hook_conflict", body


async def test_replay_starts_with_the_attributes_the_run_was_created_with(client: aiohttp.ClientSession) -> None:
    root = await new_run5(client)
    lineage = {"$rootRunId": root, "$parentRunId": root}
    run_id = await new_run5(client, attributes={"customer": "acme", **lineage}, allowReservedAttributes=True,
                            executionContext={"workflowCoreVersion": "5.0.0-beta.55"})
    status, body = await post(client, run_id, "attr_set", data={
        "changes": [{"key": "stage", "value": "charged"}], "writer": {"type": "workflow"}})
    assert status == 200, body
    status, body = await post(client, run_id, "run_completed", data={"output": binary(b"done")})
    assert status == 200, body

    async with client.post(f"runs/{run_id}/replay") as resp:
        assert resp.status == 200, await resp.text()
        copy = await resp.json()
    assert copy["runId"] != run_id and copy["specVersion"] == SPEC
    assert copy["attributes"] == {"customer": "acme", **lineage}, "the creation attributes, not what attr_set wrote"
    assert copy["executionContext"] == {"workflowCoreVersion": "5.0.0-beta.55", "replayedFromRunId": run_id}
    status, page = await get(client, f"runs/{copy['runId']}/events")
    created = page["data"][0]
    assert created["eventId"] == slot(1) and created["eventData"]["allowReservedAttributes"] is True
    status, listed = await get(client, "runs", limit=100)
    assert copy["runId"] in {r["runId"] for r in listed["data"]}

    # An encrypted run's input is bound to its run's key: the service refuses to copy it into a new run.
    sealed = await new_run5(client, input=binary(b"encr" + os.urandom(16)))
    async with client.post(f"runs/{sealed}/replay") as resp:
        body = await resp.json()
        assert resp.status == 409 and body["code"] == "WF_RUN_ENCRYPTED", body
