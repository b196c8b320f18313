"""Liveness and readiness (SPEC section 9); no auth in any mode.

/status says only that the process answers (restarting it cures nothing a
database outage causes). /ready says whether this replica can serve: the
database answers, the schema is deployed, and the dispatcher is listening
when it is enabled; when not, the body says why. It answers within half a
second whatever the database does (Database.readiness): a probe that times
out tells an orchestrator nothing, a 503 with a reason does.
"""

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
    database_ok, reason = await request.app[keys.DB].readiness()
    checks = {"database": database_ok}
    reasons = [] if reason is None else [reason]
    dispatcher = request.app.get(keys.DISPATCHER)
    if dispatcher is not None:
        checks["dispatcher"] = bool(dispatcher.listening)
        if not checks["dispatcher"]:
            reasons.append("the queue dispatcher is not listening (reconnecting to the database)")
    ok = all(checks.values())
    body: dict[str, object] = {"ready": ok, "checks": checks}
    if reasons:
        body["reason"] = "; ".join(reasons)
    return web.json_response(body, status=200 if ok else 503, headers={} if ok else {"Retry-After": "1"})
