"""DevKit 5 run operations: runs.getMany, runs.cancelMany, runs.waitForTerminalStatus (issue 17)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from .. import keys, responses
from ..http import json_text, tenant_call
from ..run_waiters import RUN_WAITERS_KEY
from ..schemas import ID, RESOLVE_DATA, Array, Integer, Object, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"
TAGS = ("run operations",)
# Bounds of the bulk bodies (SQL checks them again, and the rest of the rules).
GET_MANY_MAX = 1000
CANCEL_MANY_MAX = 500
# Header of a wait's answer: whether the run ended or the wait ran out.
WAIT_HEADER = "Workflow-Wait"
# How often a held wait looks whether its client is still connected.
CLIENT_CHECK_SECONDS = 5.0


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


@operation(routes, "POST", PREFIX + "/run-batches/get", summary="Several runs in one snapshot (runs.getMany)",
           body=Object({"runIds": Array(ID, max_items=GET_MANY_MAX), "resolveData": RESOLVE_DATA},
                       required=("runIds",), extra=None,
                       description=f"up to {GET_MANY_MAX} run ids; repeats are answered each time"),
           responses={200: responses.RUNS_MANY}, tags=TAGS)
async def get_many_runs(request: web.Request, args: Args) -> web.Response:
    params = {"run_ids": json.dumps(args.body["runIds"]), "resolve_data": args.body.get("resolveData")}
    return json_text('{"data": ' + await tenant_call(request, "get_runs", params) + "}")


@operation(routes, "POST", PREFIX + "/run-batches/cancel", summary="Cancel runs, an outcome each (runs.cancelMany)",
           body=Object({"runIds": Array(ID, max_items=CANCEL_MANY_MAX),
                        "cancelReason": Text(max_length=512, description="kept on each DevKit 5 run's run_cancelled")},
                       required=("runIds",), extra=None,
                       description=f"1 to {CANCEL_MANY_MAX} distinct run ids"),
           responses={200: responses.CANCEL_MANY}, errors=(429,), tags=TAGS)
async def cancel_many_runs(request: web.Request, args: Args) -> web.Response:
    params = {"run_ids": json.dumps(args.body["runIds"]), "cancel_reason": args.body.get("cancelReason")}
    return json_text(await tenant_call(request, "cancel_runs", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/terminal-status",
           summary="Long poll: the run once it is completed, failed or cancelled (runs.waitForTerminalStatus)",
           query={"timeoutMs": Integer(minimum=0, maximum=24 * 3600 * 1000,
                                       description="longest wait in ms (clamped to WF_RUN_WAIT_MAX_SECONDS)"),
                  "resolveData": RESOLVE_DATA},
           responses={200: responses.RUN}, errors=(429,), tags=TAGS,
           description=f"Answers the run as GET /runs/:runId does, as soon as it is terminal; when the wait runs out "
                       f"first, the run's current snapshot (any status). Header {WAIT_HEADER}: terminal | timeout.")
async def wait_for_terminal_status(request: web.Request, args: Args) -> web.StreamResponse:
    params = {"run_id": args.path["runId"], "resolve_data": args.query["resolveData"]}
    limit = request.app[keys.SETTINGS].run_wait_max_seconds
    asked = args.query["timeoutMs"]
    timeout = limit if asked is None else min(asked / 1000, limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = json.loads(await tenant_call(request, "run_wait_state", params))
    waiters = request.app[RUN_WAITERS_KEY]
    if not state["terminal"] and timeout > 0:
        with waiters.waiting(request[keys.APP_ID], state["key"]) as waiter:
            while True:
                # Registered first, read second: an end between the two rings the waiter.
                state = json.loads(await tenant_call(request, "run_wait_state", params))
                remaining = deadline - loop.time()
                if state["terminal"] or remaining <= 0 or waiters.closing:
                    break
                # In slices, so a client that went away frees its slot soon (the socket is
                # looked at, not the database); only a ring or the deadline reads again.
                while not await waiter.wait(min(remaining, CLIENT_CHECK_SECONDS)):
                    remaining = deadline - loop.time()
                    if remaining <= 0 or _client_gone(request):
                        break
                if _client_gone(request):
                    break  # nobody reads the answer; the slot is free again
    outcome = "terminal" if state["terminal"] else "timeout"
    return web.Response(text=json.dumps(state["run"]), content_type="application/json",
                        headers={WAIT_HEADER: outcome})
