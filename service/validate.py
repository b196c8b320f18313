"""Requests checked against declared operations, before any SQL runs.

A route is declared once, with everything a client may send, and the same
declaration drives validation here and the OpenAPI document
(service/openapi.py). The handler then only maps checked values to one
named SQL statement and answers its JSON:

    routes = web.RouteTableDef()

    @operation(routes, "POST", PREFIX + "/runs/{runId}/cancel",
               summary="Cancel a run",
               query={"resolveData": RESOLVE_DATA},           # name -> schema (service/schemas.py)
               body=Object({"reason": Text(max_length=1000)}),  # None: the body is not read
               responses={200: responses.RUN},                  # success status -> JSON Schema
               errors=(409,))                                   # refusals besides the common ones
    async def cancel_run(request: web.Request, args: Args) -> web.Response:
        params = {"run_id": args.path["runId"], "resolve_data": args.query["resolveData"]}
        return json_text(await tenant_call(request, "cancel_run", params))

Adding a route is that one declaration: ``{name}`` path parameters default
to ``ID`` (``appId`` to ``APP_ID``), absent or empty query values are None,
``body_required`` says whether an empty body is a 400. Shape only: every
workflow rule (states, quotas, existence, id formats) stays in SQL, which
still refuses what gets past this layer.

Rules for every request, whatever the route declares (``request_guard``,
``read_json``): no NUL or unpaired surrogate in the path or the query string;
a Content-Length above WF_MAX_BODY_BYTES is a 413 before the body is read,
and so is a chunked body that grows past it; the body is strict UTF-8 JSON
nested at most ``MAX_DEPTH`` levels (checked on the raw bytes before
parsing, so no recursion limit is ever hit) without NaN/Infinity.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import fastjson, keys
from .auth import PUBLIC_PATHS
from .errors import ApiError
from .schemas import ID, PATH_DEFAULTS, Repeated, Schema, bad, check_text, plain_body

MAX_DEPTH = 64
# The longest request line the server reads (aiohttp's default is 8190): the
# longest ids the schemas allow, percent-encoded as UTF-8, must fit, so that
# they get a JSON answer rather than the HTTP parser's plain-text 400.
MAX_REQUEST_LINE = 32 * 1024
OPERATION_ATTR = "__pgw_operation__"
# Refusals any app-scoped route can answer (auth, unknown app, shape, overload).
COMMON_ERRORS = (400, 401, 403, 404, 503)
# Other routes behind authentication (the admin API's /api/v1/apps).
AUTHENTICATED_ERRORS = (400, 401, 403, 503)

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# A JSON string (with its escapes) or one bracket: what nesting depth is made of.
_DEPTH_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # the same strings _DEPTH_TOKENS finds
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")


@dataclass(frozen=True)
class Operation:
    """One route's contract: what it accepts and what it answers."""

    method: str
    path: str
    summary: str
    path_params: Mapping[str, Schema] = field(default_factory=dict)
    query: Mapping[str, Schema] = field(default_factory=dict)
    headers: Mapping[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    body_required: bool = True
    responses: Mapping[int, dict[str, Any] | None] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    response_type: str = "application/json"
    tags: tuple[str, ...] = ()
    description: str | None = None

    @property
    def path_names(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        """The path without aiohttp's regex parts: /hooks/by-token/{token}."""
        return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def error_statuses(self) -> list[int]:
        if "{appId}" in self.openapi_path:
            common = COMMON_ERRORS
        else:
            common = (400,) if self.openapi_path in PUBLIC_PATHS else AUTHENTICATED_ERRORS
        extra = (413,) if self.body is not None else ()
        return sorted({*common, *extra, *self.errors})


@dataclass(frozen=True)
class Args:
    """A request's checked values, by their wire names (absent: None)."""

    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any


Handler = Callable[[web.Request, Args], Awaitable[web.StreamResponse]]


def operation(routes: web.RouteTableDef, method: str, path: str, **spec: Any) -> Callable[[Handler], Handler]:
    """Declares a route with its schemas (see the module docstring) and registers it on ``routes``."""
    declared = dict(spec.pop("path_params", {}))
    for name in _PATH_PARAM.findall(path):
        declared.setdefault(name, PATH_DEFAULTS.get(name, ID))
    op = Operation(method.upper(), path, path_params=declared, **spec)

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await handler(request, await parse_request(request, op))

        setattr(endpoint, OPERATION_ATTR, op)
        routes.route(op.method, path)(endpoint)
        return handler

    return register


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, OPERATION_ATTR, None)


async def parse_request(request: web.Request, op: Operation) -> Args:
    path = {name: schema.from_text(request.match_info[name], f"path.{name}")
            for name, schema in op.path_params.items()}
    query: dict[str, Any] = {}
    for name, schema in op.query.items():
        values = [v for v in request.query.getall(name, []) if v != ""]
        if isinstance(schema, Repeated):  # ?status=a&status=b: the list (absent: None)
            query[name] = schema.from_texts(values, f"query.{name}") if values else None
            continue
        if len(values) > 1:
            raise bad(f"query.{name}", "is given more than once")
        query[name] = schema.from_text(values[0], f"query.{name}") if values else None
    headers = {name: None if request.headers.get(name) is None
               else schema.from_text(request.headers[name], f"header.{name}")
               for name, schema in op.headers.items()}
    body = None
    if op.body is not None:
        value = await read_json(request)
        if value is not None:
            with plain_body(is_plain_json(await request.read())):  # (read already: cached)
                body = op.body.check(value, "")
        elif op.body_required:
            raise bad("", "is empty: expected JSON")
    return Args(path, query, headers, body)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "WF_PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes (WF_MAX_BODY_BYTES)",
                    {"limit": limit})


def _body_limit(request: web.Request) -> int:
    return int(request.app[keys.SETTINGS].max_body_bytes)


async def read_json(request: web.Request) -> Any:
    """The body's JSON value (None when empty), read within the size limit."""
    limit = _body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    try:
        # Usually read already, within its deadline, by timeouts.body_deadline (then cached); aiohttp
        # counts a chunked body (no length) against client_max_size as it reads.
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit) from None
    if len(raw) > limit:
        raise too_large(limit)
    return parse_json(raw) if raw else None


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, nesting bounded before the parser sees it, no NaN/Infinity."""
    check_depth(raw)
    try:
        return fastjson.loads(raw, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise bad("", f"is not valid UTF-8 (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise bad("", f"is not valid JSON: {exc}") from None


# What a raw JSON text must show before a decoded value could hold what schemas.Json refuses: an escape (NUL, an
# unpaired surrogate), a number that may parse to infinity (a 3-digit exponent, a run of 19 digits), a binary tag.
_NOT_PLAIN = re.compile(rb"\\u|[eE][+-]?[0-9]{3}|[0-9]{19}|__type")


def is_plain_json(raw: bytes) -> bool:
    """Whether the JSON text ``raw`` cannot hold NUL, unpaired surrogates, non-finite numbers or binary tags."""
    return _NOT_PLAIN.search(raw) is None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_depth(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # cannot be deeper than that: skip the scan
    # The brackets outside strings, in order, found in C: usually far fewer than the tokens, so the loop below
    # is short. Without escapes and with every string closed, strings are exactly the odd parts between quotes.
    parts = raw.split(b'"')
    outside = b"".join(parts[::2]) if len(parts) % 2 and b"\\" not in raw else _JSON_STRING.sub(b"", raw)
    depth = 0
    for byte in outside.translate(None, _NOT_BRACKET):
        if byte == 0x5B or byte == 0x7B:  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                break
        else:
            depth -= 1
    else:
        return
    # Deeper than the limit: the token scan finds where.
    depth = 0
    for token in _DEPTH_TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise bad("", f"is nested more than {MAX_DEPTH} levels deep (at byte {token.start()})")
        elif bracket in (b"]", b"}"):
            depth -= 1


@web.middleware
async def request_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Rules for every route, before authentication and SQL: safe text in the
    path and query string, and a declared body length within the limit."""
    if request.content_length is not None and request.content_length > _body_limit(request):
        raise too_large(_body_limit(request))
    for name, value in request.match_info.items():
        check_text(value, f"path.{name}")
    for name, value in request.query.items():
        check_text(name, "query")
        check_text(value, f"query.{name}")
    return await handler(request)
