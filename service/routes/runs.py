"""Run and step reads (SPEC section 4)."""

from __future__ import annotations

from aiohttp import web

from ..http import json_text, page_params, query_str, tenant_call

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@routes.get(PREFIX + "/runs")
async def list_runs(request: web.Request) -> web.Response:
    params = {
        "status": query_str(request, "status"),
        "workflow_name": query_str(request, "workflowName"),
        "deployment_id": query_str(request, "deploymentId"),
    }
    params.update(page_params(request))
    return json_text(await tenant_call(request, "list_runs", params))


@routes.get(PREFIX + "/runs/{runId}")
async def get_run(request: web.Request) -> web.Response:
    params = {
        "run_id": request.match_info["runId"],
        "resolve_data": query_str(request, "resolveData"),
    }
    return json_text(await tenant_call(request, "get_run", params))


@routes.get(PREFIX + "/runs/{runId}/steps")
async def list_steps(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"]}
    params.update(page_params(request))
    return json_text(await tenant_call(request, "list_steps", params))


@routes.get(PREFIX + "/runs/{runId}/steps/{stepId}")
async def get_step(request: web.Request) -> web.Response:
    params = {
        "run_id": request.match_info["runId"],
        "step_id": request.match_info["stepId"],
        "resolve_data": query_str(request, "resolveData"),
    }
    return json_text(await tenant_call(request, "get_step", params))
