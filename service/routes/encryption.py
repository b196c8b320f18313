"""Run encryption (docs/operations.md "Run encryption"): the admin routes that
provision and rotate an app's secret, and the app-scoped route that answers a
run's AES-256 key. SQL generates the secret, keeps it from every reader role
and derives the keys (change run_encryption); these routes only check shapes."""

from __future__ import annotations

from aiohttp import web

from .. import keys, responses
from ..auth import admin_only
from ..http import json_text, tenant_call
from ..schemas import Text
from ..validate import Args, operation

routes = web.RouteTableDef()
SECRET = "/api/v1/apps/{appId}/encryption-secret"
TAGS = ("encryption",)
RUN_ID = Text(min_length=1, max_length=64, description="the run (wrun_<ULID>); it need not exist yet")


async def _created(request: web.Request, args: Args, name: str) -> web.Response:
    row = await request.app[keys.DB].call_row(name, {"app_id": args.path["appId"]})
    assert row is not None
    created, body = row
    return json_text(body, status=201 if created else 200)


@operation(routes, "POST", SECRET, summary="Give the app an encryption secret (idempotent)",
           responses={201: responses.ENCRYPTION_SECRET, 200: responses.ENCRYPTION_SECRET}, tags=TAGS,
           description="Generates a random secret inside the database (it is never returned). 201 when created, "
                       "200 when the app already has one.")
@admin_only
async def provision_secret(request: web.Request, args: Args) -> web.Response:
    return await _created(request, args, "provision_encryption_secret")


@operation(routes, "POST", SECRET + "/rotate", summary="Add a new secret version",
           responses={201: responses.ENCRYPTION_SECRET}, tags=TAGS,
           description="Runs whose id is stamped from activatesAt on (a minute from now) get keys from the new "
                       "version; earlier runs keep theirs. Old versions are kept.")
@admin_only
async def rotate_secret(request: web.Request, args: Args) -> web.Response:
    return await _created(request, args, "rotate_encryption_secret")


@operation(routes, "GET", SECRET, summary="The app's secret versions (never the secrets)",
           responses={200: responses.ENCRYPTION_SECRET_STATUS}, tags=TAGS)
@admin_only
async def secret_status(request: web.Request, args: Args) -> web.Response:
    return json_text(await request.app[keys.DB].admin_call("encryption_secret_status",
                                                           {"app_id": args.path["appId"]}))


@operation(routes, "GET", "/api/v1/apps/{appId}/encryption-key", summary="A run's AES-256 encryption key",
           query={"runId": RUN_ID}, responses={200: responses.ENCRYPTION_KEY}, tags=TAGS,
           description="HKDF-SHA256 of the app's secret (salt = runId, info = workflow-encryption, 32 bytes), "
                       "base64. 404 WF_NO_ENCRYPTION_SECRET when the app has none: its runs are not encrypted.")
async def get_encryption_key(request: web.Request, args: Args) -> web.Response:
    # A missing or malformed runId is SQL's 400, after the app check (403 first).
    return json_text(await tenant_call(request, "get_encryption_key", {"run_id": args.query["runId"]}))
