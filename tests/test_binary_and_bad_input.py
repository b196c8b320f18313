"""Byte-exact payloads, and bad input answered with 4xx JSON that changes nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import aiohttp
import psycopg

from .api import binary, event, get, new_run, unbinary
from .pgw import Service


async def test_binary_round_trips_byte_exact(client: aiohttp.ClientSession) -> None:
    samples = [b"\x00", b"\x00" * 1000, bytes(range(256)), os.urandom(64 * 1024), b"devl\x00\xff\xfe"]
    for sample in samples:
        run_id = await new_run(client, input_bytes=sample)
        _, run = await get(client, f"runs/{run_id}")
        assert unbinary(run["input"]) == sample
        await event(client, run_id, "step_created", "s", {"stepName": "step//b", "input": binary(sample)})
        await event(client, run_id, "step_started", "s")
        await event(client, run_id, "step_completed", "s", {"result": binary(sample[::-1])})
        _, step = await get(client, f"runs/{run_id}/steps/s")
        assert unbinary(step["input"]) == sample and unbinary(step["output"]) == sample[::-1]
        _, body = await event(client, run_id, "run_started")
        assert unbinary(body["events"][0]["eventData"]["input"]) == sample


async def test_legacy_json_values_round_trip(client: aiohttp.ClientSession) -> None:
    value = {"a": [1, 2.5, None, True, "x"], "nested": {"null": None}}
    status, body = await event(client, None, "run_created",
                               data={"deploymentId": "d", "workflowName": "w", "input": value})
    assert status == 200 and body["run"]["input"] == value


def _count_rows(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM workflow.{t}").fetchone()[0]  # type: ignore[index]
                for t in ("runs", "steps", "events", "hooks", "waits")}


async def test_bad_input_is_4xx_json_and_writes_nothing(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_MAX_BODY_BYTES=str(1024 * 1024))
    async with aiohttp.ClientSession(base_url=service.url + "/api/v1/apps/default/") as client:
        run_id = await new_run(client)
        await event(client, run_id, "step_created", "s1", {"stepName": "step//x"})
        before = _count_rows(service.database_url)
        url = f"runs/{run_id}/events"
        cases: list[tuple[str, bytes | str, int]] = [
            ("malformed JSON", b"{not json", 400),
            ("empty body", b"", 400),
            ("JSON array", b"[1,2]", 400),
            ("unknown eventType", json.dumps({"eventType": "run_exploded"}), 400),
            ("eventType not a string", json.dumps({"eventType": 5}), 400),
            ("correlationId not a string", json.dumps({"eventType": "step_started", "correlationId": 7}), 400),
            ("specVersion not an integer", json.dumps({"eventType": "run_started", "specVersion": "3"}), 400),
            ("eventData not an object", json.dumps({"eventType": "run_completed", "eventData": [1]}), 400),
            ("missing correlationId", json.dumps({"eventType": "step_started"}), 400),
            ("stepName of wrong type", json.dumps({"eventType": "step_created", "correlationId": "s2",
                                                   "eventData": {"stepName": 3}}), 400),
            ("hook token missing", json.dumps({"eventType": "hook_created", "correlationId": "h",
                                               "eventData": {}}), 400),
            ("bad resumeAt", json.dumps({"eventType": "wait_created", "correlationId": "w",
                                         "eventData": {"resumeAt": "someday"}}), 400),
            ("NUL in JSON text", json.dumps({"eventType": "hook_received", "correlationId": "s1",
                                             "eventData": {"payload": "a\u0000b"}}), 400),
            ("huge body", json.dumps({"eventType": "run_completed", "eventData": {"output": "x" * (2 * 1024 * 1024)}}),
             413),
            ("step of unknown run", json.dumps({"eventType": "step_started", "correlationId": "s1"}), 404),
        ]
        for name, body, expected in cases:
            target = "runs/wrun_01J00000000000000000000000/events" if name == "step of unknown run" else url
            async with client.post(target, data=body, headers={"content-type": "application/json"}) as resp:
                assert resp.status == expected, (name, resp.status, await resp.text())
                answer = await resp.json()
                assert answer["statusCode"] == expected and answer["code"].startswith("WF_") and answer["message"], name
        async with client.post("runs/null/events", json={"eventType": "run_created", "eventData": {
                "deploymentId": "d", "workflowName": "w", "input": None}}, params={"resolveData": "bogus"}) as resp:
            assert resp.status == 400
        async with client.post("runs/wrun_bad/events", json={"eventType": "run_created", "eventData": {
                "deploymentId": "d", "workflowName": "w"}}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "WF_INVALID_RUN_ID"
        assert _count_rows(service.database_url) == before, "refused requests wrote nothing"
        async with aiohttp.ClientSession() as http, http.get(service.url + "/api/v1/apps/other/runs/x") as resp:
            assert resp.status == 404 and (await resp.json())["code"] == "WF_APP_NOT_FOUND"
