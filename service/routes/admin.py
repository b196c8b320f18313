"""The admin API (SPEC section 8): apps, service-account bindings, quotas,
deployment versions. Each route is one SQL function on the service's own
connection; in multi-tenant mode only the admin service account gets here
(``admin_only``, enforced by service/auth.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from .. import keys
from ..auth import admin_only
from ..http import expect_type, json_text, query_int, query_str, read_json_object

routes = web.RouteTableDef()
APPS = "/api/v1/apps"
APP = APPS + "/{appId}"


async def _call(request: web.Request, name: str, params: dict[str, Any]) -> Any:
    return await request.app[keys.DB].admin_call(name, params)


async def _created(request: web.Request, name: str, params: dict[str, Any]) -> web.Response:
    row = await request.app[keys.DB].call_row(name, params)
    assert row is not None
    created, body = row
    return json_text(body, status=201 if created else 200)


@routes.post(APPS)
@admin_only
async def create_app(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    return await _created(request, "create_app",
                          {"app_id": expect_type(body, "appId", str, "a string", required=True)})


@routes.get(APPS)
@admin_only
async def list_apps(request: web.Request) -> web.Response:
    params = {"limit": query_int(request, "limit"), "cursor": query_str(request, "cursor")}
    return json_text(await _call(request, "list_apps", params))


async def _binding(request: web.Request) -> dict[str, Any]:
    # DELETE may carry the binding in the query instead of a body.
    # (body_exists, not can_read_body: the body-deadline middleware has already read it)
    body = await read_json_object(request) if request.body_exists else dict(request.query)
    return {
        "app_id": request.match_info["appId"],
        "namespace": expect_type(body, "namespace", str, "a Kubernetes namespace", required=True),
        "service_account": expect_type(body, "serviceAccount", str, "a service account name", required=True),
    }


@routes.post(APP + "/k8s-binding")
@admin_only
async def bind_service_account(request: web.Request) -> web.Response:
    return await _created(request, "bind_service_account", await _binding(request))


@routes.delete(APP + "/k8s-binding")
@admin_only
async def unbind_service_account(request: web.Request) -> web.Response:
    return json_text(await _call(request, "unbind_service_account", await _binding(request)))


@routes.get(APP + "/quotas")
@admin_only
async def get_quotas(request: web.Request) -> web.Response:
    return json_text(await _call(request, "get_quotas", {"app_id": request.match_info["appId"]}))


@routes.put(APP + "/quotas")
@admin_only
async def set_quotas(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    return json_text(await _call(request, "set_quotas", {"app_id": request.match_info["appId"], "quotas": Jsonb(body)}))


def _version(request: web.Request) -> dict[str, Any]:
    return {"app_id": request.match_info["appId"], "deployment_id": request.match_info["deploymentId"]}


@routes.get(APP + "/versions/{deploymentId}/status")
@admin_only
async def version_status(request: web.Request) -> web.Response:
    return json_text(await _call(request, "version_status", _version(request)))


@routes.post(APP + "/versions/{deploymentId}/expire")
@admin_only
async def expire_version(request: web.Request) -> web.Response:
    return json_text(await _call(request, "expire_version", _version(request)))
