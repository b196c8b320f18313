"""Small request/response helpers shared by the routes.

Requests are checked by the operations routes declare (service/validate.py).
read_json_object, query_str, query_int, page_params and expect_type are the
older ad-hoc checks: no declared route uses them; they stay only until routes
written in parallel branches are declared too, then they go.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import keys
from .errors import ApiError

if TYPE_CHECKING:
    from .validate import Args


async def tenant_call(request: web.Request, name: str, params: dict[str, Any]) -> str:
    """Runs named query ``name`` scoped to the request's app and returns its JSON text."""
    return await request.app[keys.DB].call(name, params, app_id=request[keys.APP_ID])


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


def page_args(args: Args) -> dict[str, Any]:
    """The checked page parameters (schemas.PAGE_QUERY) under the names the SQL statements use."""
    return {
        "limit": args.query.get("limit"),
        "cursor": args.query.get("cursor"),
        "sort_order": args.query.get("sortOrder"),
        "resolve_data": args.query.get("resolveData"),
    }
