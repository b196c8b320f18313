"""The read endpoints over real HTTP: gets, lists, cursors, filters, resolveData."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

from .api import binary, event, get, new_run


async def test_get_run_and_unknown_run(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client, input_bytes=b"\x00in")
    status, run = await get(client, f"runs/{run_id}")
    assert status == 200 and run["runId"] == run_id and run["status"] == "running"
    assert run["createdAt"].endswith("Z") and len(run["createdAt"]) == 24
    status, body = await get(client, "runs/wrun_01J00000000000000000000000")
    assert status == 404 and body["code"] == "WF_RUN_NOT_FOUND" and body["statusCode"] == 404


async def test_resolve_data_none_strips_payloads(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    await event(client, run_id, "step_created", "s", {"stepName": "step//x", "input": binary(b"big")})
    await event(client, run_id, "hook_created", "h", {"token": f"t-{os.urandom(4).hex()}", "metadata": binary(b"m")})
    await event(client, run_id, "run_completed", data={"output": binary(b"out")})
    _, run = await get(client, f"runs/{run_id}", resolveData="none")
    assert "input" not in run and "output" not in run and run["status"] == "completed"
    _, run = await get(client, f"runs/{run_id}")
    assert "input" in run and "output" in run
    _, step = await get(client, f"runs/{run_id}/steps/s", resolveData="none")
    assert "input" not in step and step["stepName"] == "step//x"
    _, events = await get(client, f"runs/{run_id}/events", resolveData="none")
    by_type = {e["eventType"]: e for e in events["data"]}
    assert "input" not in by_type["run_created"]["eventData"]
    assert by_type["run_created"]["eventData"]["workflowName"] == "workflow//./wf//main"
    assert "eventData" not in by_type["step_created"] or "input" not in by_type["step_created"]["eventData"]
    assert by_type["step_created"]["eventData"]["stepName"] == "step//x"
    assert "eventData" not in by_type["run_completed"], "an eventData left empty is omitted"
    status, body = await get(client, f"runs/{run_id}", resolveData="partial")
    assert status == 400 and "resolveData" in body["message"]


async def test_list_filters_and_sort(client: aiohttp.ClientSession) -> None:
    name = f"workflow//./filters//{os.urandom(4).hex()}"
    first = await new_run(client, workflow_name=name, deployment_id="dep-a")
    second = await new_run(client, workflow_name=name, deployment_id="dep-b", start=False)
    _, body = await get(client, "runs", workflowName=name)
    assert [r["runId"] for r in body["data"]] == [second, first], "newest first by default"
    _, body = await get(client, "runs", workflowName=name, sortOrder="asc")
    assert [r["runId"] for r in body["data"]] == [first, second]
    _, body = await get(client, "runs", workflowName=name, status="pending")
    assert [r["runId"] for r in body["data"]] == [second]
    _, body = await get(client, "runs", workflowName=name, deploymentId="dep-a")
    assert [r["runId"] for r in body["data"]] == [first]
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"sortOrder": "up"},
                {"cursor": "nope"}, {"status": "done"}):
        status, body = await get(client, "runs", **bad)
        assert status == 400 and body["code"].startswith("WF_"), (bad, body)



async def test_list_runs_by_several_statuses(client: aiohttp.ClientSession) -> None:
    # DevKit 5's client sends runs.list({status: [a, b]}) as ?status=a&status=b.
    name = f"workflow//./statuses//{os.urandom(4).hex()}"
    running = await new_run(client, workflow_name=name)
    pending = await new_run(client, workflow_name=name, start=False)
    ended = await new_run(client, workflow_name=name)
    await event(client, ended, "run_cancelled")

    async def listed(*statuses: str) -> tuple[int, Any]:
        params = [("workflowName", name), ("sortOrder", "asc"), *(("status", s) for s in statuses)]
        async with client.get("runs", params=params) as resp:
            return resp.status, await resp.json()

    assert [r["runId"] for r in (await listed("running", "cancelled"))[1]["data"]] == [running, ended]
    assert [r["runId"] for r in (await listed("pending"))[1]["data"]] == [pending]
    assert [r["runId"] for r in (await listed("pending", "running", "pending"))[1]["data"]] == [running, pending]
    assert [r["runId"] for r in (await listed())[1]["data"]] == [running, pending, ended]
    status, body = await listed("running", "done")
    assert status == 400 and body["code"] == "WF_BAD_REQUEST" and body["meta"]["field"] == "query.status[1]", body
    status, body = await listed(*["running"] * 6)
    assert status == 400 and "more than 5" in body["message"], body

async def test_pagination_never_repeats_or_skips_under_concurrent_inserts(client: aiohttp.ClientSession) -> None:
    name = f"workflow//./paging//{os.urandom(4).hex()}"
    existing = {await new_run(client, workflow_name=name, start=False) for _ in range(25)}
    stop = asyncio.Event()

    async def insert_meanwhile() -> set[str]:
        added = set()
        while not stop.is_set():
            added.add(await new_run(client, workflow_name=name, start=False))
        return added

    for order in ("asc", "desc"):
        stop.clear()
        writer = asyncio.create_task(insert_meanwhile())
        seen: list[str] = []
        cursor = None
        while True:
            params = {"workflowName": name, "limit": 4, "sortOrder": order, "resolveData": "none"}
            if cursor:
                params["cursor"] = cursor
            status, page = await get(client, "runs", **params)
            assert status == 200
            seen += [r["runId"] for r in page["data"]]
            if not page["hasMore"]:
                break
            assert page["cursor"] and page["cursor"] != cursor, "the cursor advances"
            cursor = page["cursor"]
            await asyncio.sleep(0.01)
        stop.set()
        added = await writer
        assert len(seen) == len(set(seen)), f"{order}: a run was repeated"
        assert existing <= set(seen), f"{order}: a run that existed before paging was skipped"
        existing |= added


async def test_events_steps_hooks_reads(client: aiohttp.ClientSession) -> None:
    run_id = await new_run(client)
    for n in range(3):
        await event(client, run_id, "step_created", f"step_{n}", {"stepName": f"step//n{n}"})
    token = f"tok-{os.urandom(4).hex()}"
    _, created = await event(client, run_id, "hook_created", "hook_r", {"token": token, "isWebhook": False})
    assert created["hook"]["isWebhook"] is False

    _, steps = await get(client, f"runs/{run_id}/steps", limit=2)
    assert [s["stepId"] for s in steps["data"]] == ["step_0", "step_1"] and steps["hasMore"] is True
    _, rest = await get(client, f"runs/{run_id}/steps", limit=2, cursor=steps["cursor"])
    assert [s["stepId"] for s in rest["data"]] == ["step_2"] and rest["hasMore"] is False
    status, body = await get(client, f"runs/{run_id}/steps/none")
    assert status == 404 and body["code"] == "WF_STEP_NOT_FOUND"

    _, events = await get(client, f"runs/{run_id}/events", sortOrder="desc", limit=1)
    assert events["data"][0]["eventType"] == "hook_created"
    event_id = events["data"][0]["eventId"]
    status, one = await get(client, f"runs/{run_id}/events/{event_id}")
    assert status == 200 and one["eventId"] == event_id and one["eventData"]["token"] == token
    status, _ = await get(client, f"runs/{run_id}/events/wevt_nope")
    assert status == 404
    _, by_corr = await get(client, "events", correlationId="step_1", runId=run_id)
    assert [e["eventType"] for e in by_corr["data"]] == ["step_created"]
    status, body = await get(client, "events")
    assert status == 400, "listing events needs a runId or a correlationId"

    _, hooks = await get(client, "hooks", runId=run_id)
    assert [h["hookId"] for h in hooks["data"]] == ["hook_r"]
    status, hook = await get(client, "hooks/hook_r")
    assert status == 200 and hook["token"] == token and hook["runId"] == run_id
    status, hook = await get(client, f"hooks/by-token/{token}")
    assert status == 200 and hook["hookId"] == "hook_r"
    status, body = await get(client, "hooks/by-token/unknown-token")
    assert status == 404 and body["code"] == "WF_HOOK_NOT_FOUND"
