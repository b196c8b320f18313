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


async def tenant_call_handoff(request: web.Request, name: str, params: dict[str, Any]) -> str:
    """Like ``tenant_call`` for a statement that queues a message (``*_handoff`` SQL functions): the message is
    claimed in the same transaction for this replica's dispatcher, which delivers it at once."""
    dispatcher = request.app.get(keys.DISPATCHER)
    extra = dispatcher.handoff_params() if dispatcher is not None else {
        "session_id": None, "lease_seconds": None, "grace_seconds": None}
    row = await request.app[keys.DB].call_row(name, {**params, **extra}, app_id=request[keys.APP_ID],
                                              principal=request.get(keys.PRINCIPAL))
    assert row is not None
    result, delivery = row
    if dispatcher is not None:
        dispatcher.take_handoff(delivery)
    return result


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
