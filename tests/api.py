"""Small helpers for talking to the storage API in tests."""

from __future__ import annotations

import base64
import os
from typing import Any

import aiohttp


def binary(data: bytes) -> dict[str, str]:
    """The wire form of a Uint8Array."""
    return {"__type": "Uint8Array", "data": base64.b64encode(data).decode()}


def unbinary(value: dict[str, str]) -> bytes:
    assert value["__type"] == "Uint8Array", value
    return base64.b64decode(value["data"])


async def event(client: aiohttp.ClientSession, run_id: str | None, event_type: str,
                correlation_id: str | None = None, data: Any = None, **query: str) -> tuple[int, Any]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    async with client.post(f"runs/{run_id or 'null'}/events", json=body, params=query) as resp:
        return resp.status, await resp.json()


async def get(client: aiohttp.ClientSession, path: str, **query: Any) -> tuple[int, Any]:
    async with client.get(path, params={k: str(v) for k, v in query.items()}) as resp:
        return resp.status, await resp.json()


async def new_run(client: aiohttp.ClientSession, workflow_name: str = "workflow//./wf//main",
                  deployment_id: str = "dep-test", input_bytes: bytes | None = None, start: bool = True) -> str:
    status, body = await event(client, None, "run_created", data={
        "deploymentId": deployment_id, "workflowName": workflow_name,
        "input": binary(input_bytes if input_bytes is not None else os.urandom(8)),
    })
    assert status == 200, body
    run_id = body["run"]["runId"]
    if start:
        status, body = await event(client, run_id, "run_started")
        assert status == 200, body
    return run_id
