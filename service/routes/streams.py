"""Streams (SPEC section 7): chunk writes, live reads, listings.

Writes decode the chunks' wire form (string → UTF-8, binary → base64) here,
so a malformed chunk is a 400 before SQL runs; workflow.write_stream owns
every rule (indexes, close, run existence). A live read streams raw bytes:
it alternates short pooled reads (workflow.read_stream) with waiting for
the stream's bell from service/live.py, and holds no connection while idle.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from aiohttp import web

from .. import keys
from ..db import Database
from ..errors import ApiError
from ..http import json_text, query_int, query_str, tenant_call
from ..live import LIVE_KEY, LiveStreams, Subscription

log = logging.getLogger("pg_workflow.streams")

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"

# How often an idle reader checks that its client is still connected
# (aiohttp does not cancel handlers when the client goes away).
LIVENESS_SECONDS = 2.0

_CHUNK_SHAPE = 'a string or {"__type":"Uint8Array","data":"<base64>"}'


def _flag(request: web.Request, header: str) -> bool:
    return request.headers.get(header, "").strip().lower() == "true"


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Lone surrogates are legal in JSON text; encode them as U+FFFD like TextEncoder does.
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text).encode()


def _chunk_bytes(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, dict) and value.get("__type") == "Uint8Array" and isinstance(value.get("data"), str):
        try:
            return base64.b64decode(value["data"], validate=True)
        except ValueError as exc:
            raise ApiError(400, "WF_INVALID_STREAM_CHUNK", f"{where} is not valid base64: {exc}") from None
    raise ApiError(400, "WF_INVALID_STREAM_CHUNK", f"{where} must be {_CHUNK_SHAPE}")


async def _read_json(request: web.Request) -> Any:
    """The body's JSON value, None when the body is empty."""
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "WF_INVALID_JSON", f"request body is not valid JSON: {exc}") from None


@routes.put(PREFIX + "/runs/{runId}/streams/{name}")
async def write_stream(request: web.Request) -> web.Response:
    close = _flag(request, "x-stream-done")
    body = await _read_json(request)
    if _flag(request, "x-stream-multi"):
        if not isinstance(body, list):
            raise ApiError(400, "WF_INVALID_REQUEST", "with x-stream-multi: true the body is a JSON array of chunks")
        chunks = [_chunk_bytes(chunk, f"chunk {i}") for i, chunk in enumerate(body)]
    elif isinstance(body, dict) and "data" in body:
        chunks = [_chunk_bytes(body["data"], "data")]
    elif close and (body is None or isinstance(body, dict)):
        chunks = []
    else:
        raise ApiError(400, "WF_INVALID_REQUEST", f"the body must be {{\"data\": {_CHUNK_SHAPE}}}")
    params = {
        "run_id": request.match_info["runId"],
        "name": request.match_info["name"],
        "chunks": chunks,
        "close": close,
    }
    return json_text(await tenant_call(request, "write_stream", params))


@routes.get(PREFIX + "/runs/{runId}/streams")
async def list_streams(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"]}
    return json_text(await tenant_call(request, "list_streams", params))


@routes.get(PREFIX + "/runs/{runId}/streams/{name}/chunks")
async def get_stream_chunks(request: web.Request) -> web.Response:
    params = {
        "run_id": request.match_info["runId"],
        "name": request.match_info["name"],
        "limit": query_int(request, "limit"),
        "cursor": query_str(request, "cursor"),
    }
    return json_text(await tenant_call(request, "get_stream_chunks", params))


@routes.get(PREFIX + "/runs/{runId}/streams/{name}/info")
async def get_stream_info(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"], "name": request.match_info["name"]}
    return json_text(await tenant_call(request, "get_stream_info", params))


@dataclass(frozen=True)
class _Part:
    data: bytes
    start: int
    next: int
    more: bool
    done: bool


async def _read_part(db: Database, request: web.Request, name: str, start: int) -> _Part:
    row = await db.call_row("read_stream", {"name": name, "start_index": start},
                            app_id=request[keys.APP_ID], principal=request.get(keys.PRINCIPAL))
    assert row is not None
    return _Part(bytes(row[0]), row[1], row[2], row[3], row[4])


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _news(sub: Subscription, live: LiveStreams, request: web.Request) -> bool:
    """Wait for the stream to change: False when the reader should stop instead."""
    while not live.closing:
        try:
            async with asyncio.timeout(LIVENESS_SECONDS):
                await sub.wait()
            return not live.closing
        except TimeoutError:
            if _client_gone(request):
                return False
    return False


@routes.get(PREFIX + "/streams/{name}")
async def read_stream(request: web.Request) -> web.StreamResponse:
    db: Database = request.app[keys.DB]
    live: LiveStreams = request.app[LIVE_KEY]
    app_id, name = request[keys.APP_ID], request.match_info["name"]
    start = query_int(request, "startIndex") or 0
    # Subscribe before the first read: a chunk committed after it rings the bell.
    with live.subscribe(app_id, name) as sub:
        part = await _read_part(db, request, name, start)  # bad input still answers JSON
        response = web.StreamResponse(headers={
            "Content-Type": "application/octet-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            "X-Stream-Start-Index": str(part.start),
        })
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while True:
                if part.data:
                    await response.write(part.data)
                if part.done:
                    await response.write_eof()
                    break
                if not part.more and not await _news(sub, live, request):
                    break
                part = await _read_part(db, request, name, part.next)
        except ConnectionResetError:
            pass  # the client left
        except Exception as exc:
            # Headers are sent: no JSON error now. Cut the body short so the
            # client sees an incomplete stream (and reconnects) rather than an end.
            if isinstance(exc, psycopg.Error):
                log.warning("live read of stream %r failed: %s", name, exc)
            else:
                log.exception("live read of stream %r failed", name)
            if request.transport is not None:
                request.transport.abort()
    return response
