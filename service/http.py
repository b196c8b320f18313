"""Small request/response helpers shared by the routes (shape checks only)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import keys
from .errors import ApiError


async def tenant_call(request: web.Request, name: str, params: dict[str, Any]) -> str:
    """Runs named query ``name`` scoped to the request's app (and its caller) and returns its JSON text."""
    return await request.app[keys.DB].call(name, params, app_id=request[keys.APP_ID],
                                           principal=request.get(keys.PRINCIPAL))


def json_text(text: str, status: int = 200) -> web.Response:
    """A response whose JSON body SQL already built."""
    return web.Response(text=text, status=status, content_type="application/json")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "WF_INVALID_JSON", "request body is empty: expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "WF_INVALID_JSON", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "WF_INVALID_JSON", "request body must be a JSON object")
    return body


def query_str(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value not in (None, "") else None


def query_int(request: web.Request, name: str) -> int | None:
    value = query_str(request, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "WF_INVALID_PARAMETER", f"{name} must be an integer, not {value!r}") from None


def page_params(request: web.Request) -> dict[str, Any]:
    """limit / cursor / sortOrder / resolveData; SQL validates their values."""
    return {
        "limit": query_int(request, "limit"),
        "cursor": query_str(request, "cursor"),
        "sort_order": query_str(request, "sortOrder"),
        "resolve_data": query_str(request, "resolveData"),
    }


def expect_type(
    body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str, required: bool = False
) -> Any:
    """body[key] if it has the expected JSON type (None when absent and optional)."""
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, "WF_INVALID_REQUEST", f"{key} is required ({what})")
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ApiError(400, "WF_INVALID_REQUEST", f"{key} must be {what}")
    if not isinstance(value, kind):
        raise ApiError(400, "WF_INVALID_REQUEST", f"{key} must be {what}")
    return value
