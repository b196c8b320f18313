"""Hook reads (SPEC section 4)."""

from __future__ import annotations

from aiohttp import web

from ..http import json_text, page_params, query_str, tenant_call

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@routes.get(PREFIX + "/hooks")
async def list_hooks(request: web.Request) -> web.Response:
    params = {"run_id": query_str(request, "runId")}
    params.update(page_params(request))
    return json_text(await tenant_call(request, "list_hooks", params))


# Registered before /hooks/{hookId} so "by-token" is not taken for a hook id.
@routes.get(PREFIX + "/hooks/by-token/{token:.+}")
async def get_hook_by_token(request: web.Request) -> web.Response:
    params = {
        "token": request.match_info["token"],
        "resolve_data": query_str(request, "resolveData"),
    }
    return json_text(await tenant_call(request, "get_hook_by_token", params))


@routes.get(PREFIX + "/hooks/{hookId}")
async def get_hook(request: web.Request) -> web.Response:
    params = {
        "hook_id": request.match_info["hookId"],
        "resolve_data": query_str(request, "resolveData"),
    }
    return json_text(await tenant_call(request, "get_hook", params))
