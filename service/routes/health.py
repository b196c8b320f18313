"""Liveness and readiness (SPEC section 9); no auth in any mode."""

from __future__ import annotations

from aiohttp import web

from .. import keys, responses
from ..validate import Args, operation

routes = web.RouteTableDef()


@operation(routes, "GET", "/status", summary="Liveness", responses={200: responses.STATUS}, tags=("health",))
async def status(request: web.Request, args: Args) -> web.Response:
    return web.json_response({"status": "ok"})


@operation(routes, "GET", "/ready", summary="Readiness: the database (and the dispatcher when enabled)",
           responses={200: responses.READY, 503: responses.READY}, tags=("health",))
async def ready(request: web.Request, args: Args) -> web.Response:
    checks = {"database": await request.app[keys.DB].ready()}
    dispatcher = request.app.get(keys.DISPATCHER)
    if dispatcher is not None:
        checks["dispatcher"] = bool(dispatcher.listening)
    ok = all(checks.values())
    return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)
