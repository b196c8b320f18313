"""A hostile client: every request here once ended in a 500 or was wrongly
accepted. Each must now be a 4xx JSON refusal that names the field, and the
database must be exactly as before."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import psycopg
from yarl import URL

from .api import binary, event, new_run
from .pgw import Service

APP = "/api/v1/apps/default"
LIMIT = 64 * 1024
TABLES = ("runs", "steps", "events", "hooks", "waits", "messages", "handlers", "streams", "stream_chunks")


@dataclasses.dataclass
class Case:
    name: str
    method: str
    path: str  # already percent-encoded, relative to the app
    body: Any = None  # JSON value, or bytes sent as they are
    where: str | None = None  # expected meta.field (None: 413)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    status: int = 400


def ev(event_type: str, correlation_id: str | None = None, data: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"eventType": event_type, "specVersion": 3, **extra}
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    if data is not None:
        body["eventData"] = data
    return body


BAD_B64 = {"__type": "Uint8Array", "data": "!!not base64!!"}
NESTED_1000 = b'{"eventType":"run_started","eventData":{"x":' + b"[" * 1000 + b"]" * 1000 + b"}}"
NESTED_30K = b"[" * 30_000 + b"]" * 30_000
HANDLER = {"podId": "p1", "endpoints": {"workflow": "http://127.0.0.1:9/f", "step": "http://127.0.0.1:9/s"}}


def cases(run: str) -> list[Case]:
    events = f"runs/{run}/events"
    return [
        # NUL, in every place text arrives
        Case("NUL in a path segment", "GET", "runs/wrun_%00x", where="path.runId"),
        Case("NUL in a stream name", "PUT", f"runs/{run}/streams/a%00b", {"data": "x"}, "path.name"),
        Case("NUL in a query value", "GET", "runs?workflowName=a%00b", where="query.workflowName"),
        Case("NUL in a query value (events)", "GET", "events?correlationId=%00", where="query.correlationId"),
        Case("NUL in correlationId", "POST", events, ev("step_started", "s\u0000"), "correlationId"),
        Case("NUL in an eventData key", "POST", events, ev("step_completed", "s1", {"a\u0000": 1}),
             "eventData.a\u0000"),
        Case("NUL deep in a payload", "POST", events,
             ev("hook_received", "h1", {"payload": {"list": ["ok", "a\u0000b"]}}), "eventData.payload.list[1]"),
        Case("NUL in a queue message", "POST", "queue",
             {"queueName": "__wkf_step_x", "message": {"k": "\u0000"}}, "message.k"),
        # unpaired surrogates
        Case("lone surrogate in eventType", "POST", events, ev("\ud800"), "eventType"),
        Case("lone surrogate in correlationId", "POST", events, ev("step_started", "\udc00"), "correlationId"),
        Case("lone surrogate in a payload key", "POST", events,
             ev("run_completed", data={"output": {"\ud800": 1}}), "eventData.output.\ud800"),
        # nesting
        Case("JSON nested 1000 levels", "POST", events, NESTED_1000, ""),
        Case("JSON nested 30000 levels", "POST", "queue", NESTED_30K, ""),
        # integers beyond their SQL type
        Case("limit beyond int4", "GET", "runs?limit=99999999999", where="query.limit"),
        Case("limit beyond int8", "GET", f"runs/{run}/events?limit=99999999999999999999", where="query.limit"),
        Case("limit zero", "GET", "hooks?limit=0", where="query.limit"),
        Case("startIndex beyond int4", "GET", "streams/s?startIndex=99999999999", where="query.startIndex"),
        Case("specVersion beyond int4", "POST", events, {"eventType": "run_started", "specVersion": 1099511627776},
             "specVersion"),
        Case("delaySeconds infinite", "POST", "queue",
             b'{"queueName":"__wkf_step_x","message":{},"delaySeconds":1e400}', "delaySeconds"),
        Case("NaN", "POST", "queue", b'{"queueName":"__wkf_step_x","message":{},"delaySeconds":NaN}', ""),
        # times
        Case("retryAfter tomorrow", "POST", events, ev("step_retrying", "s1", {"retryAfter": "tomorrow"}),
             "eventData.retryAfter"),
        Case("resumeAt infinity", "POST", events, ev("wait_created", "w1", {"resumeAt": "infinity"}),
             "eventData.resumeAt"),
        Case("resumeAt epoch", "POST", events, ev("wait_created", "w1", {"resumeAt": "epoch"}), "eventData.resumeAt"),
        Case("resumeAt now", "POST", events, ev("wait_created", "w1", {"resumeAt": "now"}), "eventData.resumeAt"),
        Case("resumeAt Feb 30", "POST", events, ev("wait_created", "w1", {"resumeAt": "2026-02-30T00:00:00Z"}),
             "eventData.resumeAt"),
        Case("resumeAt a boolean", "POST", events, ev("wait_created", "w1", {"resumeAt": True}), "eventData.resumeAt"),
        # binary data
        Case("bad base64 in run input", "POST", "runs/null/events",
             ev("run_created", data={"deploymentId": "d", "workflowName": "w", "input": BAD_B64}),
             "eventData.input.data"),
        Case("bad base64 in a step result", "POST", events, ev("step_completed", "s1", {"result": BAD_B64}),
             "eventData.result.data"),
        Case("bad base64 nested in a hook payload", "POST", events,
             ev("hook_received", "h1", {"payload": {"parts": [binary(b"ok"), BAD_B64]}}),
             "eventData.payload.parts[1].data"),
        Case("bad base64 in hook metadata", "POST", events,
             ev("hook_created", "h2", {"token": "t2", "metadata": BAD_B64}), "eventData.metadata.data"),
        Case("base64 without padding", "POST", events,
             ev("step_completed", "s1", {"result": {"__type": "Uint8Array", "data": "QQ"}}), "eventData.result.data"),
        Case("binary with an extra member", "POST", events,
             ev("step_completed", "s1", {"result": {**binary(b"x"), "more": 1}}), "eventData.result.more"),
        Case("bad base64 in a stream chunk", "PUT", f"runs/{run}/streams/s", {"data": BAD_B64}, "data.data"),
        Case("bad base64 in a multi write", "PUT", f"runs/{run}/streams/s", ["ok", BAD_B64], "[1].data",
             headers={"x-stream-multi": "true"}),
        # handler URLs
        Case("CR/LF in a handler URL", "POST", "handlers",
             {**HANDLER, "endpoints": {**HANDLER["endpoints"], "workflow": "http://127.0.0.1:9/f\r\nX-Evil: 1"}},
             "endpoints.workflow"),
        Case("trailing LF in a handler URL", "POST", "handlers",
             {**HANDLER, "endpoints": {**HANDLER["endpoints"], "workflow": "http://127.0.0.1:9/f\n"}},
             "endpoints.workflow"),
        Case("space in a handler URL", "POST", "handlers",
             {**HANDLER, "endpoints": {**HANDLER["endpoints"], "step": "http://127.0.0.1:9/ s"}}, "endpoints.step"),
        # the stateUpdatedAt precondition: epoch ms as a JSON integer (or query integer)
        Case("stateUpdatedAt as text", "POST", events, ev("step_started", "s1", stateUpdatedAt="1700000000000"),
             "stateUpdatedAt"),
        Case("stateUpdatedAt beyond the Date range", "POST", events, ev("step_started", "s1", stateUpdatedAt=10**20),
             "stateUpdatedAt"),
        Case("stateUpdatedAt query not a number", "POST", f"{events}?stateUpdatedAt=soon", ev("step_started", "s1"),
             "query.stateUpdatedAt"),
        # run actions take no body; a workflow name is text
        Case("a body for cancel", "POST", f"runs/{run}/cancel", {"reason": "x"}, "reason"),
        Case("a body for wake-up", "POST", f"runs/{run}/wake-up", [1], ""),
        Case("NUL in a workflow name", "GET", "workflows/a%00b/template", where="path.workflowName"),
        # admin bodies (single-tenant mode: the caller is the admin)
        Case("quota zero", "PUT", "quotas", {"maxRuns": 0}, "maxRuns"),
        Case("quota fractional", "PUT", "quotas", {"maxEventsPerRun": 1.5}, "maxEventsPerRun"),
        Case("unknown quota", "PUT", "quotas", {"maxRunz": 1}, "maxRunz"),
        Case("binding without a service account", "POST", "k8s-binding", {"namespace": "ns"}, "serviceAccount"),
        Case("unbinding naming nothing", "DELETE", "k8s-binding", None, "namespace"),
        # headers and encodings
        Case("x-stream-done not a flag", "PUT", f"runs/{run}/streams/s", {"data": "x"}, "header.x-stream-done",
             headers={"x-stream-done": "maybe"}),
        Case("invalid UTF-8 body", "POST", events, b'{"eventType":"run_started","x":"\xff"}', ""),
        Case("UTF-16 body", "POST", events, json.dumps(ev("run_started")).encode("utf-16"), ""),
        # sizes
        Case("body over the limit", "POST", events, ev("run_completed", data={"output": "x" * (2 * LIMIT)}),
             None, status=413),
    ]


def _counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM workflow.{t}").fetchone()[0]  # type: ignore[index]
                for t in TABLES}


async def _send(http: aiohttp.ClientSession, base: str, case: Case) -> aiohttp.ClientResponse:
    url = URL(f"{base}{APP}/{case.path}", encoded=True)
    kwargs: dict[str, Any] = {"headers": {"content-type": "application/json", **case.headers}}
    if isinstance(case.body, bytes):
        kwargs["data"] = case.body
    elif case.body is not None:
        kwargs["data"] = json.dumps(case.body).encode()
    return await http.request(case.method, url, **kwargs)


async def test_hostile_inputs_are_refused_by_field_and_write_nothing(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_MAX_BODY_BYTES=str(LIMIT), WF_ENABLE_POLLER="false")
    async with aiohttp.ClientSession(base_url=service.url + APP + "/") as client:
        run = await new_run(client)
        await event(client, run, "step_created", "s1", {"stepName": "step//x"})
        await event(client, run, "hook_created", "h1", {"token": "t1"})
    before = _counts(service.database_url)
    failures = []
    async with aiohttp.ClientSession() as http:
        for case in cases(run):
            async with await _send(http, service.url, case) as resp:
                text = await resp.text()
                try:
                    answer = json.loads(text)
                except ValueError:
                    failures.append((case.name, resp.status, text[:200]))
                    continue
                expected_code = "WF_PAYLOAD_TOO_LARGE" if case.status == 413 else "WF_BAD_REQUEST"
                ok = (resp.status == case.status and answer.get("statusCode") == case.status
                      and answer.get("code") == expected_code and answer.get("error")
                      and (case.where is None or answer.get("meta", {}).get("field") == (case.where or "body"))
                      and (case.where is None or (case.where or "body") in answer.get("message", "")))
                if not ok:
                    failures.append((case.name, resp.status, answer))
    assert not failures, failures
    assert _counts(service.database_url) == before, "refused requests wrote nothing"


async def _chunked(total: int) -> AsyncIterator[bytes]:
    yield b'{"eventType":"run_completed","eventData":{"output":"'
    for _ in range(total // 4096):
        yield b"x" * 4096
    yield b'"}}'


async def test_body_limits_before_and_while_reading(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_MAX_BODY_BYTES=str(LIMIT), WF_ENABLE_POLLER="false")
    url = service.url + APP + "/runs/wrun_01J00000000000000000000000/events"
    async with aiohttp.ClientSession() as http:
        # A declared length over the limit is refused before the body is read.
        reader, writer = await _raw_connection(service)
        writer.write(f"POST {APP}/queue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {LIMIT * 100}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), head
        writer.close()
        # A chunked body carries no length: refused once it grows past the limit.
        async with http.post(url, data=_chunked(4 * LIMIT), headers={"content-type": "application/json"}) as resp:
            answer = await resp.json()
            assert (resp.status, answer["code"]) == (413, "WF_PAYLOAD_TOO_LARGE"), answer
        # Just under the limit still reaches SQL (which answers: no such run).
        small = _chunked(LIMIT - 4096 - 64)
        async with http.post(url, data=small, headers={"content-type": "application/json"}) as resp:
            assert resp.status == 404, await resp.text()


async def _raw_connection(service: Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", service.port)
