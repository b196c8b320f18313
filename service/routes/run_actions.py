"""Run actions (SPEC section 5): cancel, replay, wake up; a workflow's template."""

from __future__ import annotations

from aiohttp import web

from .. import responses
from ..http import json_text, tenant_call
from ..schemas import RESOLVE_DATA, Object, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"
TAGS = ("run actions",)
# The actions take nothing but the run: no body, or an empty JSON object.
NO_BODY = {"body": Object({}, extra=None, description="nothing: send no body or {}"), "body_required": False}


@operation(routes, "POST", PREFIX + "/runs/{runId}/cancel", summary="Cancel a run (run_cancelled)",
           query={"resolveData": RESOLVE_DATA}, **NO_BODY, responses={200: responses.RUN}, errors=(409, 429),
           tags=TAGS)
async def cancel_run(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "cancel_run", params))


@operation(routes, "POST", PREFIX + "/runs/{runId}/replay", summary="Start a new run with this run's input",
           query={"resolveData": RESOLVE_DATA}, **NO_BODY, responses={200: responses.RUN}, errors=(409, 410, 429),
           tags=TAGS)
async def replay_run(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "replay_run", params))


@operation(routes, "POST", PREFIX + "/runs/{runId}/wake-up", summary="Complete a run's waits and resume it now",
           **NO_BODY, responses={200: responses.WAKE_UP}, errors=(409, 410, 429), tags=TAGS)
async def wake_up_run(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "wake_up_run", {"run_id": args.path["runId"]}))


@operation(routes, "GET", PREFIX + "/workflows/{workflowName:.+}/template",
           summary="A workflow's shape (steps, parallel groups) from its newest completed run",
           path_params={"workflowName": Text(min_length=1, max_length=1024)},
           query={"deploymentId": Text(min_length=1, max_length=1024)},
           responses={200: responses.TEMPLATE}, tags=TAGS)
async def get_workflow_template(request: web.Request, args: Args) -> web.Response:
    params = {"workflow_name": args.path["workflowName"], "deployment_id": args.query["deploymentId"]}
    return json_text(await tenant_call(request, "get_workflow_template", params))
