"""Streams (SPEC section 7): chunk writes, live reads, listings.

Writes decode the chunks' wire form (string → UTF-8, binary → base64) as
the request is checked (CHUNK), so a malformed chunk is a 400 before SQL
runs; workflow.write_stream owns every rule (indexes, close, run existence). A live read streams raw bytes:
it alternates short pooled reads (workflow.read_stream) with waiting for
the stream's bell from service/live.py, and holds no connection while idle.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import psycopg
from aiohttp import web

from .. import keys, responses
from ..db import Database
from ..http import json_text, tenant_call
from ..live import LIVE_KEY, LiveStreams, Subscription
from ..schemas import CURSOR, LIMIT, Array, Binary, Either, Flag, Integer, Object, Text, bad
from ..validate import Args, operation

log = logging.getLogger("pg_workflow.streams")

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"

# How often an idle reader checks that its client is still connected
# (aiohttp does not cancel handlers when the client goes away).
LIVENESS_SECONDS = 2.0

STREAM_NAME = Text(min_length=1, max_length=1024)
# A text chunk is stored as its UTF-8 bytes, so NUL is data there (raw).
CHUNK = Either(Text(raw=True), Binary(decode=True),
               description='a string or {"__type":"Uint8Array","data":"<base64>"}')
# A write session (DevKit 5 world.streams.createWriteSession): the writer's id
# and the writer-local sequence of the body's first chunk.
WRITER_ID = Text(pattern="^wrtr_[0-9A-HJKMNP-TV-Z]{26}$",
                 description="write session: the writer's id (wrtr_ + ULID); needs x-stream-writer-seq")
WRITER_SEQ = Integer(minimum=0, maximum=2**53 - 1,
                     description="write session: the writer-local sequence of the body's first chunk; chunks of "
                                 "this writer already stored are not stored again")
WRITE_BODY = Either(Object({"data": CHUNK}), Array(CHUNK),
                    description='{"data": chunk}; with x-stream-multi: true an array of chunks; {} or nothing to close')


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Lone surrogates are legal in JSON text; encode them as U+FFFD like TextEncoder does.
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text).encode()


def _as_bytes(chunk: str | bytes) -> bytes:
    return _utf8(chunk) if isinstance(chunk, str) else chunk


@operation(routes, "PUT", PREFIX + "/runs/{runId}/streams/{name}", summary="Write chunks to a stream and/or close it",
           path_params={"name": STREAM_NAME},
           headers={"x-stream-multi": Flag(description="true: the body is a JSON array of chunks"),
                    "x-stream-done": Flag(description="true: close the stream after this write"),
                    "x-stream-writer": WRITER_ID, "x-stream-writer-seq": WRITER_SEQ},
           body=WRITE_BODY, body_required=False, responses={200: responses.STREAM_WRITE}, errors=(409,),
           tags=("streams",))
async def write_stream(request: web.Request, args: Args) -> web.Response:
    close, body = bool(args.headers["x-stream-done"]), args.body
    writer, seq = args.headers["x-stream-writer"], args.headers["x-stream-writer-seq"]
    if (writer is None) != (seq is None):
        raise bad("header.x-stream-writer-seq" if seq is None else "header.x-stream-writer",
                  "is required with x-stream-writer / x-stream-writer-seq (a write session names both)")
    if args.headers["x-stream-multi"]:
        if not isinstance(body, list):
            raise bad("", "must be a JSON array of chunks (x-stream-multi: true)")
        chunks = [_as_bytes(chunk) for chunk in body]
    elif isinstance(body, dict) and body.get("data") is not None:
        chunks = [_as_bytes(body["data"])]
    elif close and not isinstance(body, list):
        chunks = []
    else:
        raise bad("data", "is required: the body must be {\"data\": chunk} (or x-stream-done: true to close)")
    params = {
        "run_id": args.path["runId"],
        "name": args.path["name"],
        "chunks": chunks,
        "close": close,
    }
    if writer is not None:  # a write session's group: stored once however often it is sent
        return json_text(await tenant_call(request, "write_stream_session",
                                           {**params, "writer_id": writer, "chunk_seq": seq}))
    return json_text(await tenant_call(request, "write_stream", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/streams", summary="Names of a run's streams",
           responses={200: responses.STREAM_NAMES}, tags=("streams",))
async def list_streams(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"]}
    return json_text(await tenant_call(request, "list_streams", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/streams/{name}/chunks", summary="A page of a stream's chunks",
           path_params={"name": STREAM_NAME}, query={"limit": LIMIT, "cursor": CURSOR},
           responses={200: responses.STREAM_CHUNKS}, tags=("streams",))
async def get_stream_chunks(request: web.Request, args: Args) -> web.Response:
    params = {
        "run_id": args.path["runId"],
        "name": args.path["name"],
        "limit": args.query["limit"],
        "cursor": args.query["cursor"],
    }
    return json_text(await tenant_call(request, "get_stream_chunks", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/streams/{name}/info", summary="A stream's last index and state",
           path_params={"name": STREAM_NAME}, responses={200: responses.STREAM_INFO}, tags=("streams",))
async def get_stream_info(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "name": args.path["name"]}
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


@operation(routes, "GET", PREFIX + "/streams/{name}", summary="Read a stream's bytes, then tail it live",
           path_params={"name": STREAM_NAME},
           query={"startIndex": Integer(description="first chunk; negative counts from the current end")},
           responses={200: None}, response_type="application/octet-stream", tags=("streams",))
async def read_stream(request: web.Request, args: Args) -> web.StreamResponse:
    db: Database = request.app[keys.DB]
    live: LiveStreams = request.app[LIVE_KEY]
    app_id, name = request[keys.APP_ID], args.path["name"]
    start = args.query["startIndex"] or 0
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
