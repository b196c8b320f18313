"""Streams over real HTTP against the shared service (SPEC section 7)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import aiohttp
import pytest

from .api import binary, get, new_run, unbinary


def stream_name() -> str:
    return f"strm_{uuid.uuid4().hex}"


async def put(client: aiohttp.ClientSession, run_id: str, name: str, body: Any = None, *,
              raw: bytes | None = None, multi: bool = False, done: bool = False) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if multi:
        headers["x-stream-multi"] = "true"
    if done:
        headers["x-stream-done"] = "true"
    data = raw if raw is not None else json.dumps(body).encode()
    async with client.put(f"runs/{run_id}/streams/{name}", data=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def write(client: aiohttp.ClientSession, run_id: str, name: str, chunk: str | bytes) -> None:
    status, body = await put(client, run_id, name, {"data": chunk if isinstance(chunk, str) else binary(chunk)})
    assert status == 200, body


async def close(client: aiohttp.ClientSession, run_id: str, name: str) -> None:
    status, body = await put(client, run_id, name, {}, done=True)
    assert status == 200 and body["done"] is True, body


async def read_all(client: aiohttp.ClientSession, name: str, start: int | None = None) -> tuple[bytes, str]:
    """A whole (closed) stream from ``start``; also the resolved start index header."""
    params = {} if start is None else {"startIndex": str(start)}
    async with client.get(f"streams/{name}", params=params) as resp:
        assert resp.status == 200 and resp.content_type == "application/octet-stream"
        return await asyncio.wait_for(resp.read(), 10), resp.headers["X-Stream-Start-Index"]


async def info(client: aiohttp.ClientSession, run_id: str, name: str) -> dict[str, Any]:
    status, body = await get(client, f"runs/{run_id}/streams/{name}/info")
    assert status == 200, body
    return body


async def all_chunks(client: aiohttp.ClientSession, run_id: str, name: str,
                     limit: int = 1000) -> list[tuple[int, bytes]]:
    chunks: list[tuple[int, bytes]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        status, page = await get(client, f"runs/{run_id}/streams/{name}/chunks", **query)
        assert status == 200, page
        chunks += [(c["index"], unbinary(c["data"])) for c in page["data"]]
        if not page["hasMore"]:
            assert page["cursor"] is None
            return chunks
        cursor = page["cursor"]


async def test_concurrent_writers_get_dense_indexes(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()

    async def writer(w: int) -> None:
        for i in range(200):
            await write(client, run_id, name, f"w{w}:{i:03d}")

    await asyncio.gather(*(writer(w) for w in range(3)))
    chunks = await all_chunks(client, run_id, name)
    assert [index for index, _ in chunks] == list(range(600))
    payloads = [data.decode() for _, data in chunks]
    assert sorted(payloads) == sorted(f"w{w}:{i:03d}" for w in range(3) for i in range(200))
    for w in range(3):  # each writer's chunks keep its order
        mine = [p for p in payloads if p.startswith(f"w{w}:")]
        assert mine == sorted(mine)
    assert await info(client, run_id, name) == {"tailIndex": 599, "done": False}


async def test_live_reader_gets_every_byte_in_order_and_ends_on_close(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()
    expected = bytearray()
    # The reader connects before the stream has any chunk: it waits.
    async with client.get(f"streams/{name}") as resp:
        assert resp.status == 200
        await write(client, run_id, name, "first")
        expected += b"first"
        assert await asyncio.wait_for(resp.content.readexactly(5), 5) == b"first"  # tailed live
        for i in range(30):
            chunk = os.urandom(i) + b"\x00" if i % 2 else f"text {i} é".encode()
            await write(client, run_id, name, chunk if i % 2 else chunk.decode())
            expected += chunk
        batch = ["multi-a", binary(b"\x00\x01\x02"), "multi-b"]
        status, body = await put(client, run_id, name, batch, multi=True)
        assert status == 200 and body["written"] == 3, body
        expected += b"multi-a\x00\x01\x02multi-b"
        await close(client, run_id, name)
        rest = await asyncio.wait_for(resp.content.read(), 5)  # ends: the stream is closed
    assert b"first" + rest == bytes(expected)


async def test_start_index_positive_and_negative(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()
    for i in range(10):
        await write(client, run_id, name, f"c{i}")
    await close(client, run_id, name)
    everything = b"".join(f"c{i}".encode() for i in range(10))
    assert await read_all(client, name) == (everything, "0")
    assert await read_all(client, name, 3) == (everything[6:], "3")
    assert await read_all(client, name, -3) == (b"c7c8c9", "7")
    assert await read_all(client, name, -100) == (everything, "0")
    assert await read_all(client, name, 10) == (b"", "10")
    assert await read_all(client, name, 25) == (b"", "25")


async def test_negative_start_on_an_open_stream_then_tails(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()
    for i in range(5):
        await write(client, run_id, name, f"c{i}")
    async with client.get(f"streams/{name}", params={"startIndex": "-2"}) as resp:
        assert resp.headers["X-Stream-Start-Index"] == "3"
        assert await asyncio.wait_for(resp.content.readexactly(4), 5) == b"c3c4"
        await write(client, run_id, name, "c5")
        await close(client, run_id, name)
        assert await asyncio.wait_for(resp.content.read(), 5) == b"c5"


async def test_one_mib_binary_chunk_with_nul_bytes_round_trips(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()
    blob = b"\x00" * 1000 + os.urandom(1024 * 1024 - 2000) + b"\x00" * 1000
    await write(client, run_id, name, blob)
    await write(client, run_id, name, b"\x00")
    await close(client, run_id, name)
    assert (await read_all(client, name))[0] == blob + b"\x00"
    assert await all_chunks(client, run_id, name) == [(0, blob), (1, b"\x00")]


async def test_health_check_streams_need_no_run(client: aiohttp.ClientSession) -> None:
    name = f"__health_check__{uuid.uuid4().hex}"
    fake_run = "wrun_" + "0" * 26
    reply = '{"healthy":true}'
    await write(client, fake_run, name, reply)
    await close(client, fake_run, name)
    assert (await read_all(client, name))[0] == reply.encode()


async def test_writes_after_close_change_nothing(client: aiohttp.ClientSession) -> None:
    run_id, name = await new_run(client), stream_name()
    await write(client, run_id, name, "a")
    await close(client, run_id, name)
    status, body = await put(client, run_id, name, {"data": "late"})
    assert status == 200 and body == {"written": 0, "tailIndex": 0, "done": True}
    status, body = await put(client, run_id, name, ["x", "y"], multi=True)
    assert status == 200 and body["written"] == 0
    await close(client, run_id, name)  # a retried close is fine
    assert await info(client, run_id, name) == {"tailIndex": 0, "done": True}
    assert await all_chunks(client, run_id, name) == [(0, b"a")]


async def test_listing_paging_and_info(client: aiohttp.ClientSession) -> None:
    run_id, first, second = await new_run(client), stream_name(), stream_name()
    assert await info(client, run_id, first) == {"tailIndex": -1, "done": False}
    for i in range(5):
        await write(client, run_id, first, f"p{i}")
    await close(client, run_id, second)
    assert await get(client, f"runs/{run_id}/streams") == (200, [first, second])
    assert await get(client, f"runs/{await new_run(client)}/streams") == (200, [])
    status, page = await get(client, f"runs/{run_id}/streams/{first}/chunks", limit=2)
    assert status == 200 and [c["index"] for c in page["data"]] == [0, 1]
    assert page["hasMore"] is True and page["done"] is False and page["cursor"]
    assert [d for _, d in await all_chunks(client, run_id, first, limit=2)] == [f"p{i}".encode() for i in range(5)]
    assert await info(client, run_id, second) == {"tailIndex": -1, "done": True}


BAD_WRITES = [
    pytest.param({"data": "x"}, None, True, 400, id="multi body not an array"),
    pytest.param({"data": {"__type": "Uint8Array", "data": "@@not base64@@"}}, None, False, 400, id="bad base64"),
    pytest.param(["ok", {"__type": "Uint8Array", "data": "A"}], None, True, 400, id="one bad chunk in a multi"),
    pytest.param(None, b'{"data": "unterminated', False, 400, id="bad JSON"),
    pytest.param({}, None, False, 400, id="no data"),
    pytest.param({"data": None}, None, False, 400, id="null data"),
    pytest.param({"data": 42}, None, False, 400, id="number data"),
    pytest.param({"data": {"__type": "Buffer", "data": "AA=="}}, None, False, 400, id="wrong binary tag"),
]


@pytest.mark.parametrize(("body", "raw", "multi", "status"), BAD_WRITES)
async def test_bad_writes_are_refused_and_change_nothing(
    client: aiohttp.ClientSession, body: Any, raw: bytes | None, multi: bool, status: int
) -> None:
    run_id, name = await new_run(client), stream_name()
    await write(client, run_id, name, "kept")
    got, answer = await put(client, run_id, name, body, raw=raw, multi=multi)
    assert got == status and answer["statusCode"] == status and answer["code"].startswith("WF_"), answer
    assert await info(client, run_id, name) == {"tailIndex": 0, "done": False}
    assert await all_chunks(client, run_id, name) == [(0, b"kept")]


async def test_unknown_run_and_foreign_run_are_refused(client: aiohttp.ClientSession) -> None:
    name, unknown = stream_name(), "wrun_" + "1" * 26
    status, answer = await put(client, unknown, name, {"data": "x"})
    assert status == 404 and answer["code"] == "WF_RUN_NOT_FOUND", answer
    assert await info(client, unknown, name) == {"tailIndex": -1, "done": False}
    owner, other = await new_run(client), await new_run(client)
    await write(client, owner, name, "mine")
    status, answer = await put(client, other, name, {"data": "theirs"})
    assert status == 409 and answer["code"] == "WF_STREAM_RUN_MISMATCH", answer
    assert await all_chunks(client, owner, name) == [(0, b"mine")]


async def test_bad_read_parameters_answer_json(client: aiohttp.ClientSession) -> None:
    for query in ({"startIndex": "abc"}, {"startIndex": str(2**40)}):
        async with client.get(f"streams/{stream_name()}", params=query) as resp:
            assert resp.status == 400 and (await resp.json())["statusCode"] == 400
    status, answer = await get(client, f"runs/{await new_run(client)}/streams/{stream_name()}/chunks", limit=0)
    assert status == 400, answer


async def test_a_write_session_group_is_stored_once(client: aiohttp.ClientSession) -> None:
    """DevKit 5's streams.createWriteSession: a group names its writer and the writer-local sequence of its
    first chunk; sent again (a lost answer, a resend), it stores nothing more."""
    run_id, name = await new_run(client), stream_name()
    writer = "wrtr_01ARZ3NDEKTSV4RRFFQ69G5W01"

    async def group(seq: int, chunks: list[str], **headers: str) -> tuple[int, Any]:
        async with client.put(f"runs/{run_id}/streams/{name}", json=chunks,
                              headers={"x-stream-multi": "true", "x-stream-writer": writer,
                                       "x-stream-writer-seq": str(seq), **headers}) as resp:
            return resp.status, await resp.json()

    assert await group(0, ["a", "b"]) == (200, {"written": 2, "tailIndex": 1, "done": False, "duplicate": 0})
    assert await group(0, ["a", "b"]) == (200, {"written": 0, "tailIndex": 1, "done": False, "duplicate": 2})
    assert await group(1, ["b", "c"]) == (200, {"written": 1, "tailIndex": 2, "done": False, "duplicate": 1})
    status, body = await put(client, run_id, name, ["z"], multi=True)  # a plain write beside the session
    assert status == 200 and "duplicate" not in body, body
    await close(client, run_id, name)
    assert [data for _, data in await all_chunks(client, run_id, name)] == [b"a", b"b", b"c", b"z"]

    for headers, field in (({"x-stream-writer-seq": "x"}, "header.x-stream-writer-seq"),
                           ({"x-stream-writer-seq": "-1"}, "header.x-stream-writer-seq"),
                           ({"x-stream-writer": "wrtr_short"}, "header.x-stream-writer")):
        status, body = await group(9, ["q"], **headers)
        assert status == 400 and body["meta"]["field"] == field, body
    async with client.put(f"runs/{run_id}/streams/{name}", json=["q"],
                          headers={"x-stream-multi": "true", "x-stream-writer": writer}) as resp:
        body = await resp.json()
        assert resp.status == 400 and body["meta"]["field"] == "header.x-stream-writer-seq", body
    assert len(await all_chunks(client, run_id, name)) == 4, "refused writes changed nothing"
