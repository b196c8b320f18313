"""Request and delivery log lines: structured, with route templates and request ids, and never raw client bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import aiohttp

from service.logging_setup import clean

from .pgw import Service


def test_clean_escapes_and_truncates() -> None:
    assert clean("plain/path") == "plain/path"
    assert clean("a\nb\rc\x00d\x1b[31m") == "a\\nb\\rc\\x00d\\x1b[31m"
    assert clean("é") == "\\xe9"
    assert clean("x" * 300, 10) == "x" * 10 + "…(+290 chars)"
    assert "\n" not in clean("\u2028\n" * 50)


async def test_json_request_lines_with_request_ids(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_ACCESS_LOG="true", WF_LOG_FORMAT="json")
    async with aiohttp.ClientSession() as http:
        run_url = f"{service.url}/api/v1/apps/default/runs/wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV"
        async with http.get(run_url, headers={"x-request-id": "trace-42.a:b"}) as resp:
            assert resp.status == 404
            assert resp.headers["x-request-id"] == "trace-42.a:b", "a plain client id is kept and echoed"
        for bad in ("has spaces", "x" * 129, "semi;colon"):
            async with http.get(service.url + "/status", headers={"x-request-id": bad}) as resp:
                assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"]), "replaced by a generated id"
        async with http.get(service.url + "/nope%0A%7B%22level%22%3A%22forged%22%7D%0D%1B[2J") as resp:
            assert resp.status == 404
            assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["x-request-id"]), "errors carry an id too"
    service.stop()
    lines = [line for line in service.log_tail(1_000_000).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object: nothing forged a line
    assert not any(entry.get("level") == "forged" for entry in entries)
    requests = [e for e in entries if e["logger"] == "pg_workflow.request"]
    run_line = next(e for e in requests if e.get("requestId") == "trace-42.a:b")
    assert run_line["route"] == "/api/v1/apps/{appId}/runs/{runId}"
    assert (run_line["method"], run_line["status"], run_line["appId"]) == ("GET", 404, "default")
    assert isinstance(run_line["durationMs"], float | int)
    assert "wrun_" not in json.dumps(run_line), "the route template, not the raw path"
    unmatched = next(e for e in requests if e["route"] == "unmatched")
    assert "\\n" in unmatched["path"] and "\n" not in unmatched["path"] and "\x1b" not in unmatched["path"]


async def test_text_lines_escape_client_bytes(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_ACCESS_LOG="true", WF_LOG_FORMAT="text")
    async with aiohttp.ClientSession() as http:
        async with http.get(service.url + "/nope%0Aforged-line%0D%00") as resp:
            assert resp.status == 404
    service.stop()
    text = service.log_tail(1_000_000)
    assert not any(line.startswith("forged-line") for line in text.splitlines())
    assert "\x00" not in text
    line = next(line for line in text.splitlines() if "route=unmatched" in line)
    assert "status=404" in line and "\\nforged-line\\r\\x00" in line


async def test_access_log_off_keeps_request_ids(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_ACCESS_LOG="false")
    async with aiohttp.ClientSession() as http, http.get(service.url + "/status") as resp:
        assert resp.status == 200 and resp.headers["x-request-id"]
    service.stop()
    assert "pg_workflow.request" not in service.log_tail(1_000_000)


async def test_log_level_is_honoured(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_ACCESS_LOG="true", LOG_LEVEL="warning")
    async with aiohttp.ClientSession() as http, http.get(service.url + "/status") as resp:
        assert resp.status == 200
    service.stop()
    text = service.log_tail(1_000_000)
    assert " INFO " not in text and "pg_workflow.request" not in text, text[-2000:]
