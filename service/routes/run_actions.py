"""Run actions (SPEC section 5): cancel, replay, wake up; a workflow's template."""

from __future__ import annotations

from aiohttp import web

from ..http import json_text, query_str, tenant_call

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@routes.post(PREFIX + "/runs/{runId}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"], "resolve_data": query_str(request, "resolveData")}
    return json_text(await tenant_call(request, "cancel_run", params))


@routes.post(PREFIX + "/runs/{runId}/replay")
async def replay_run(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"], "resolve_data": query_str(request, "resolveData")}
    return json_text(await tenant_call(request, "replay_run", params))


@routes.post(PREFIX + "/runs/{runId}/wake-up")
async def wake_up_run(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"]}
    return json_text(await tenant_call(request, "wake_up_run", params))


@routes.get(PREFIX + "/workflows/{workflowName:.+}/template")
async def get_workflow_template(request: web.Request) -> web.Response:
    params = {
        "workflow_name": request.match_info["workflowName"],
        "deployment_id": query_str(request, "deploymentId"),
    }
    return json_text(await tenant_call(request, "get_workflow_template", params))
