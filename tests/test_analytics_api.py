"""The DevKit 5 analytics namespace over HTTP: metadata only, the caller's app only,
pages with pageInfo on the cross-run listings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import aiohttp

from .api import get
from .pgw import Service
from .test_devkit5_events import new_run5, post, slot


async def test_runs_attributes_and_run_scoped_reads(client: aiohttp.ClientSession) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    run_id = await new_run5(client, attributes={"team": team})
    for event_type, correlation, data in (
            ("step_created", "s1", {"stepName": "charge", "input": None}),
            ("wait_created", "w1", {"resumeAt": "2999-01-01T00:00:00Z"}),
            ("hook_created", "h1", {"token": f"tok-{run_id}"})):
        status, body = await post(client, run_id, event_type, correlation, data)
        assert status == 200, body

    status, run = await get(client, f"analytics/runs/{run_id}")
    assert status == 200 and run["attributes"] == {"team": team} and run["status"] == "running", run
    assert "input" not in run and "executionContext" not in run, "metadata only"

    status, page = await get(client, "analytics/runs", attributes=json.dumps({"team": team}))
    assert status == 200, page
    assert [r["runId"] for r in page["data"]] == [run_id]
    assert page["hasMore"] is False and page["pageInfo"]["upgradeAvailable"] is False, page
    status, page = await get(client, "analytics/runs", limit=1)
    assert status == 200 and len(page["data"]) == 1 and "pageInfo" in page, page
    if page["hasMore"]:
        status, more = await get(client, "analytics/runs", limit=1, cursor=page["cursor"])
        assert status == 200 and more["data"][0]["runId"] != page["data"][0]["runId"], more

    status, keys = await get(client, "analytics/attributes")
    assert status == 200 and "team" in [k["key"] for k in keys["data"]], keys

    status, steps = await get(client, f"analytics/runs/{run_id}/steps")
    assert [s["stepName"] for s in steps["data"]] == ["charge"], steps
    status, step = await get(client, f"analytics/runs/{run_id}/steps/s1")
    assert status == 200 and step["status"] == "pending", step
    status, events = await get(client, f"analytics/runs/{run_id}/events", eventType="step_created")
    assert [e["eventId"] for e in events["data"]] == [slot(3)] and "eventData" not in events["data"][0], events
    status, one = await get(client, f"analytics/runs/{run_id}/events/{slot(1)}")
    assert status == 200 and one["eventType"] == "run_created", one
    async with client.post(f"analytics/runs/{run_id}/event-batches/get",
                           json={"eventIds": [slot(1), slot(1), slot(99)]}) as resp:
        many = await resp.json()
        assert resp.status == 200 and [e["eventId"] for e in many["data"]] == [slot(1)], many
    status, hooks = await get(client, f"analytics/runs/{run_id}/hooks")
    assert [h["status"] for h in hooks["data"]] == ["created"] and "token" not in hooks["data"][0], hooks
    status, hook = await get(client, "analytics/hooks/h1", runId=run_id)
    assert status == 200 and hook["runId"] == run_id, hook
    status, waits = await get(client, f"analytics/runs/{run_id}/waits", status="waiting")
    assert [w["waitId"] for w in waits["data"]] == ["w1"], waits
    status, wait = await get(client, f"analytics/runs/{run_id}/waits/w1")
    assert status == 200 and wait["status"] == "waiting", wait


async def test_refusals(client: aiohttp.ClientSession) -> None:
    for path, query in (("analytics/runs", {"attributes": "{not json"}),
                        ("analytics/runs", {"attributes": json.dumps({str(i): "v" for i in range(9)})}),
                        ("analytics/runs", {"limit": 101}),
                        ("analytics/runs", {"startTime": "2026-01-01T00:00:00Z"}),
                        ("analytics/runs", {"cursor": "nope"}),
                        ("analytics/attributes", {"startTime": "tomorrow", "endTime": "2026-01-01T00:00:00Z"})):
        status, body = await get(client, path, **query)
        assert status == 400 and body["code"].startswith("WF_"), (path, query, body)
    status, body = await get(client, "analytics/runs/wrun_01ARZ3NDEKTSV4RRFFQ69G5ZZZ")
    assert (status, body["code"]) == (404, "WF_RUN_NOT_FOUND")
    async with client.post("analytics/runs/r/event-batches/get", json={"eventIds": ["e"] * 101}) as resp:
        assert resp.status == 400


async def test_another_apps_runs_are_invisible(start_service: Callable[..., Service]) -> None:
    service = start_service()
    async with aiohttp.ClientSession(base_url=service.url + "/api/v1/apps/default/") as default:
        run_id = await new_run5(default, attributes={"secret": "x"})
    async with aiohttp.ClientSession() as admin:
        async with admin.post(service.url + "/api/v1/apps", json={"appId": "other-analytics"}) as resp:
            assert resp.status in (200, 201), await resp.text()
    async with aiohttp.ClientSession(base_url=service.url + "/api/v1/apps/other-analytics/") as other:
        status, page = await get(other, "analytics/runs")
        assert status == 200 and page["data"] == [], page
        status, keys = await get(other, "analytics/attributes")
        assert keys["data"] == [], keys
        status, body = await get(other, f"analytics/runs/{run_id}")
        assert status == 404, body


async def test_storage_runs_list_adds_page_info_only_when_asked(client: aiohttp.ClientSession) -> None:
    await new_run5(client)
    status, page = await get(client, "runs", limit=1)
    assert status == 200 and set(page) == {"data", "cursor", "hasMore"}, "the DevKit 4 shape, unchanged"
    status, page = await get(client, "runs", limit=1, pageInfo="true")
    assert status == 200 and set(page) == {"data", "cursor", "hasMore", "pageInfo"}, page
    assert page["pageInfo"]["upgradeAvailable"] is False and page["pageInfo"]["maxLookbackDays"] >= 0, page
