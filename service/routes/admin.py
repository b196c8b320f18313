"""The admin API (SPEC section 8): apps, service-account bindings, quotas,
deployment versions. Each route is one SQL function on the service's own
connection; in multi-tenant mode only the admin service account gets here
(``admin_only``, enforced by service/auth.py before the request is parsed)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from .. import keys, responses
from ..auth import admin_only
from ..http import json_text
from ..schemas import APP_ID, INT4_MAX, LIMIT, Integer, Object, Text, bad
from ..validate import Args, operation

routes = web.RouteTableDef()
APPS = "/api/v1/apps"
APP = APPS + "/{appId}"
TAGS = ("admin",)

# Kubernetes names; their exact rules (DNS-1123) are SQL's (workflow.check_k8s_names).
NAMESPACE = Text(min_length=1, max_length=63, description="a Kubernetes namespace")
SERVICE_ACCOUNT = Text(min_length=1, max_length=253, description="a Kubernetes service account name")
BINDING = {"namespace": NAMESPACE, "serviceAccount": SERVICE_ACCOUNT}
QUOTA = Integer(minimum=1, maximum=INT4_MAX)
BYTES_QUOTA = Integer(minimum=1, maximum=2**53 - 1, description="bytes")
QUOTAS_BODY = Object({"maxRuns": QUOTA, "maxEventsPerRun": QUOTA, "maxQueuePerMinute": QUOTA,
                      "maxMessageBytes": Integer(minimum=1, maximum=INT4_MAX, description="bytes"),
                      "maxQueuedBytes": BYTES_QUOTA, "maxStreamBytes": BYTES_QUOTA,
                      "maxConcurrentRequests": Integer(minimum=0, maximum=100000,
                                                       description="per replica; 0: the replica default")},
                     extra=None, description="the quotas to change (absent or null: unchanged)")
APPS_CURSOR = Text(max_length=128, description="opaque: the cursor of the previous page (an appId)")
DEPLOYMENT_ID = Text(min_length=1, max_length=1024, description="a deployment version")


async def _call(request: web.Request, name: str, params: dict[str, Any]) -> Any:
    return await request.app[keys.DB].admin_call(name, params)


async def _created(request: web.Request, name: str, params: dict[str, Any]) -> web.Response:
    row = await request.app[keys.DB].call_row(name, params)
    assert row is not None
    created, body = row
    return json_text(body, status=201 if created else 200)


@operation(routes, "POST", APPS, summary="Create an app (idempotent)",
           body=Object({"appId": APP_ID}, required=("appId",)),
           responses={201: responses.APP, 200: responses.APP}, tags=TAGS,
           description="201 for a new app, 200 when it already exists.")
@admin_only
async def create_app(request: web.Request, args: Args) -> web.Response:
    return await _created(request, "create_app", {"app_id": args.body["appId"]})


@operation(routes, "GET", APPS, summary="Apps in id order, a page at a time",
           query={"limit": LIMIT, "cursor": APPS_CURSOR}, responses={200: responses.page(responses.APP)}, tags=TAGS)
@admin_only
async def list_apps(request: web.Request, args: Args) -> web.Response:
    return json_text(await _call(request, "list_apps", {"limit": args.query["limit"], "cursor": args.query["cursor"]}))


@operation(routes, "POST", APP + "/k8s-binding", summary="Let a service account act for the app (idempotent)",
           body=Object(BINDING, required=("namespace", "serviceAccount")),
           responses={201: responses.BINDING, 200: responses.BINDING}, tags=TAGS,
           description="201 for a new binding, 200 when it already exists.")
@admin_only
async def bind_service_account(request: web.Request, args: Args) -> web.Response:
    params = {"app_id": args.path["appId"], "namespace": args.body["namespace"],
              "service_account": args.body["serviceAccount"]}
    return await _created(request, "bind_service_account", params)


@operation(routes, "DELETE", APP + "/k8s-binding", summary="Remove a service-account binding",
           query=BINDING, body=Object(BINDING), body_required=False,
           responses={200: responses.UNBOUND}, tags=TAGS,
           description="The binding in the body, or (for clients that send no DELETE body) in the query string.")
@admin_only
async def unbind_service_account(request: web.Request, args: Args) -> web.Response:
    given = args.body or args.query
    for name in BINDING:
        if given.get(name) is None:
            raise bad(name, "is required")
    params = {"app_id": args.path["appId"], "namespace": given["namespace"],
              "service_account": given["serviceAccount"]}
    return json_text(await _call(request, "unbind_service_account", params))


@operation(routes, "GET", APP + "/quotas", summary="The app's quotas", responses={200: responses.QUOTAS}, tags=TAGS)
@admin_only
async def get_quotas(request: web.Request, args: Args) -> web.Response:
    return json_text(await _call(request, "get_quotas", {"app_id": args.path["appId"]}))


@operation(routes, "PUT", APP + "/quotas", summary="Change some of the app's quotas",
           body=QUOTAS_BODY, responses={200: responses.QUOTAS}, tags=TAGS)
@admin_only
async def set_quotas(request: web.Request, args: Args) -> web.Response:
    quotas = {name: value for name, value in args.body.items() if value is not None}
    return json_text(await _call(request, "set_quotas", {"app_id": args.path["appId"], "quotas": Jsonb(quotas)}))


def _version(args: Args) -> dict[str, Any]:
    return {"app_id": args.path["appId"], "deployment_id": args.path["deploymentId"]}


@operation(routes, "GET", APP + "/versions/{deploymentId}/status", summary="What a deployment version has in flight",
           path_params={"deploymentId": DEPLOYMENT_ID}, responses={200: responses.VERSION_STATUS}, tags=TAGS)
@admin_only
async def version_status(request: web.Request, args: Args) -> web.Response:
    return json_text(await _call(request, "version_status", _version(args)))


@operation(routes, "POST", APP + "/versions/{deploymentId}/expire",
           summary="Expire a deployment version: cancel its runs, dead-letter its messages, drop its handlers",
           path_params={"deploymentId": DEPLOYMENT_ID}, responses={200: responses.VERSION_EXPIRED}, tags=TAGS)
@admin_only
async def expire_version(request: web.Request, args: Args) -> web.Response:
    return json_text(await _call(request, "expire_version", _version(args)))
