"""Run and step reads (SPEC section 4)."""

from __future__ import annotations

from aiohttp import web

from .. import responses
from ..http import json_text, page_args, tenant_call
from ..schemas import PAGE_QUERY, RESOLVE_DATA, Flag, Repeated, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"

_NAME = Text(min_length=1, max_length=1024)


_RUN_STATUS = Text(enum=("pending", "running", "completed", "failed", "cancelled"))
# DevKit 5's runs.list takes several statuses; its client repeats the parameter. One value is DevKit 4's filter.
_STATUSES = Repeated(_RUN_STATUS, max_items=5, description="run status; repeat it for several (any of them)")


@operation(routes, "GET", PREFIX + "/runs", summary="Runs, newest first by default",
           query={"status": _STATUSES, "workflowName": _NAME, "deploymentId": _NAME, **PAGE_QUERY,
                  "pageInfo": Flag("true: add pageInfo (DevKit 5 lists); the DevKit 4 shape without it")},
           responses={200: responses.analytics_page(responses.RUN)}, tags=("runs",))
async def list_runs(request: web.Request, args: Args) -> web.Response:
    params = {"statuses": args.query["status"], "workflow_name": args.query["workflowName"],
              "deployment_id": args.query["deploymentId"], **page_args(args)}
    statement = "list_runs_page_info" if args.query["pageInfo"] else "list_runs"
    return json_text(await tenant_call(request, statement, params))


@operation(routes, "GET", PREFIX + "/runs/{runId}", summary="One run",
           query={"resolveData": RESOLVE_DATA}, responses={200: responses.RUN}, tags=("runs",))
async def get_run(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "get_run", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/steps", summary="A run's steps",
           query=PAGE_QUERY, responses={200: responses.page(responses.STEP)}, tags=("runs",))
async def list_steps(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], **page_args(args)}
    return json_text(await tenant_call(request, "list_steps", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/steps/{stepId}", summary="One step",
           query={"resolveData": RESOLVE_DATA}, responses={200: responses.STEP}, tags=("runs",))
async def get_step(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "step_id": args.path["stepId"],
              "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "get_step", params))
