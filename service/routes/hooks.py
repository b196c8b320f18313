"""Hook reads (SPEC section 4)."""

from __future__ import annotations

from aiohttp import web

from .. import responses
from ..http import json_text, page_args, tenant_call
from ..schemas import ID, PAGE_QUERY, RESOLVE_DATA, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@operation(routes, "GET", PREFIX + "/hooks", summary="Hooks, optionally of one run",
           query={"runId": ID, **PAGE_QUERY}, responses={200: responses.page(responses.HOOK)}, tags=("hooks",))
async def list_hooks(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.query["runId"], **page_args(args)}
    return json_text(await tenant_call(request, "list_hooks", params))


# Registered before /hooks/{hookId} so "by-token" is not taken for a hook id.
@operation(routes, "GET", PREFIX + "/hooks/by-token/{token:.+}", summary="The live hook holding a token",
           path_params={"token": Text(min_length=1, max_length=2048)},
           query={"resolveData": RESOLVE_DATA}, responses={200: responses.HOOK}, tags=("hooks",))
async def get_hook_by_token(request: web.Request, args: Args) -> web.Response:
    params = {"token": args.path["token"], "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "get_hook_by_token", params))


@operation(routes, "GET", PREFIX + "/hooks/{hookId}", summary="One hook",
           query={"resolveData": RESOLVE_DATA}, responses={200: responses.HOOK}, tags=("hooks",))
async def get_hook(request: web.Request, args: Args) -> web.Response:
    params = {"hook_id": args.path["hookId"], "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "get_hook", params))
