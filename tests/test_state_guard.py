"""The stateUpdatedAt precondition over HTTP: the snapshot travels in the event body
(or the query string), reaches SQL, and a stale one answers 412 WF_PRECONDITION_FAILED."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .api import event, get, new_run

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_ms(event_id: str) -> int:
    """The time the DevKit runtime reads from an event id (its ULID's first 10 characters)."""
    ulid = event_id.rsplit("_", 1)[-1]
    ms = 0
    for ch in ulid[:10]:
        ms = ms * 32 + CROCKFORD.index(ch)
    return ms


async def post_event(client: aiohttp.ClientSession, run_id: str, body: dict[str, Any],
                     **query: str) -> tuple[int, Any]:
    async with client.post(f"runs/{run_id}/events", json={"specVersion": 3, **body}, params=query) as resp:
        return resp.status, await resp.json()


async def log_of(client: aiohttp.ClientSession, run_id: str) -> list[dict[str, Any]]:
    status, page = await get(client, f"runs/{run_id}/events", limit=1000)
    assert status == 200, page
    return page["data"]


async def test_stale_state_updated_at_is_refused_with_412(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    assert (await event(client, run_id, "step_created", "s1", {"stepName": "a"}))[0] == 200
    assert (await event(client, run_id, "step_started", "s1"))[0] == 200
    # The step handler's step_completed carries no stateUpdatedAt: an external event.
    status, body = await event(client, run_id, "step_completed", "s1", {"result": 1})
    assert status == 200, body
    external_ms = ulid_ms(body["event"]["eventId"])

    # A replay that loaded that event sends its id's time: equal is up to date.
    status, body = await post_event(client, run_id, {"eventType": "step_created", "correlationId": "s2",
                                                     "eventData": {"stepName": "a"}, "stateUpdatedAt": external_ms})
    assert status == 200, body
    before = await log_of(client, run_id)

    # A replay whose log ends before it: 412, with the run's state time in meta.
    status, body = await post_event(client, run_id, {"eventType": "step_created", "correlationId": "s3",
                                                     "eventData": {"stepName": "a"}, "stateUpdatedAt": external_ms - 1})
    assert status == 412, body
    assert body["statusCode"] == 412 and body["error"] == "Precondition Failed"
    assert body["code"] == "WF_PRECONDITION_FAILED"
    assert body["meta"] == {"runId": run_id, "stateUpdatedAt": external_ms, "requestStateUpdatedAt": external_ms - 1}
    assert await log_of(client, run_id) == before, "a refused event appends nothing"
    status, _ = await get(client, f"runs/{run_id}/steps/s3")
    assert status == 404

    # The query-string form is the same precondition.
    status, body = await post_event(client, run_id, {"eventType": "run_completed", "eventData": {"output": 1}},
                                    stateUpdatedAt=str(external_ms - 1))
    assert status == 412 and body["code"] == "WF_PRECONDITION_FAILED", body
    status, run = await get(client, f"runs/{run_id}")
    assert run["status"] == "running"

    # Reloaded (snapshot = its latest event), the runtime's retry goes through.
    latest_ms = ulid_ms((await log_of(client, run_id))[-1]["eventId"])
    status, body = await post_event(client, run_id, {"eventType": "run_completed", "eventData": {"output": 1},
                                                     "stateUpdatedAt": latest_ms})
    assert status == 200 and body["run"]["status"] == "completed", body


async def test_replay_events_do_not_move_the_state_time(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    status, body = await event(client, run_id, "hook_created", "h1", {"token": f"guard-{run_id}"})
    assert status == 200, body
    snapshot = ulid_ms(body["event"]["eventId"])
    # hook_received with stateUpdatedAt is replay-origin: later snapshots equal to it stay valid ...
    status, body = await post_event(client, run_id, {"eventType": "hook_received", "correlationId": "h1",
                                                     "eventData": {"payload": 1}, "stateUpdatedAt": snapshot})
    assert status == 200, body
    status, body = await post_event(client, run_id, {"eventType": "wait_created", "correlationId": "w1",
                                                     "eventData": {"resumeAt": "2999-01-01T00:00:00Z"},
                                                     "stateUpdatedAt": 0})
    assert status == 200, body
    # ... while one without it (a resumeHook from outside) is what later snapshots must include.
    status, body = await event(client, run_id, "hook_received", "h1", {"payload": 2})
    assert status == 200, body
    received_ms = ulid_ms(body["event"]["eventId"])
    status, body = await post_event(client, run_id, {"eventType": "wait_completed", "correlationId": "w1",
                                                     "stateUpdatedAt": received_ms - 1})
    assert status == 412 and body["meta"]["stateUpdatedAt"] == received_ms, body


@pytest.mark.parametrize("bad", ["1700000000000", True, 1.5, -1, 10**20])
async def test_malformed_state_updated_at_is_a_400(client: aiohttp.ClientSession, bad: Any) -> None:
    run_id = await new_run(client)
    before = await log_of(client, run_id)
    status, body = await post_event(client, run_id, {"eventType": "step_created", "correlationId": "s1",
                                                     "eventData": {"stepName": "a"}, "stateUpdatedAt": bad})
    assert (status, body["code"], body["meta"]) == (400, "WF_BAD_REQUEST", {"field": "stateUpdatedAt"}), body
    assert await log_of(client, run_id) == before


async def test_malformed_state_updated_at_query_is_a_400(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    status, body = await post_event(client, run_id, {"eventType": "step_created", "correlationId": "s1",
                                                     "eventData": {"stepName": "a"}}, stateUpdatedAt="soon")
    assert (status, body["code"], body["meta"]) == (400, "WF_BAD_REQUEST", {"field": "query.stateUpdatedAt"}), body
