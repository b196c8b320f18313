"""Small request/response helpers shared by the routes.

Requests are checked by the operations routes declare (service/validate.py);
these only run the checked values through SQL and answer its JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import keys

if TYPE_CHECKING:
    from .validate import Args


async def tenant_call(request: web.Request, name: str, params: dict[str, Any]) -> str:
    """Runs named query ``name`` scoped to the request's app (and its caller) and returns its JSON text."""
    return await request.app[keys.DB].call(name, params, app_id=request[keys.APP_ID],
                                           principal=request.get(keys.PRINCIPAL))


def json_text(text: str, status: int = 200) -> web.Response:
    """A response whose JSON body SQL already built."""
    return web.Response(text=text, status=status, content_type="application/json")


def page_args(args: Args) -> dict[str, Any]:
    """The checked page parameters (schemas.PAGE_QUERY) under the names the SQL statements use."""
    return {
        "limit": args.query.get("limit"),
        "cursor": args.query.get("cursor"),
        "sort_order": args.query.get("sortOrder"),
        "resolve_data": args.query.get("resolveData"),
    }
