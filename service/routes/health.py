"""Liveness and readiness (SPEC section 9); no auth in any mode."""

from __future__ import annotations

from aiohttp import web

from .. import keys

routes = web.RouteTableDef()


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    checks = {"database": await request.app[keys.DB].ready()}
    dispatcher = request.app.get(keys.DISPATCHER)
    if dispatcher is not None:
        checks["dispatcher"] = bool(dispatcher.listening)
    ok = all(checks.values())
    return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)
