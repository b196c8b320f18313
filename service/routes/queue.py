"""Queue, handler registration and dead letters (SPEC section 6)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from ..errors import ApiError
from ..http import expect_type, json_text, page_params, read_json_object, tenant_call

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@routes.post(PREFIX + "/queue")
async def enqueue(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    message = body.get("message")
    if not isinstance(message, dict):
        raise ApiError(400, "WF_INVALID_MESSAGE", "message is required and must be a JSON object")
    params = {
        "queue_name": expect_type(body, "queueName", str, "a string such as __wkf_workflow_<name>", required=True),
        "message": Jsonb(message),
        "deployment_id": expect_type(body, "deploymentId", str, "a string"),
        "idempotency_key": expect_type(body, "idempotencyKey", str, "a string"),
        "delay_seconds": expect_type(body, "delaySeconds", (int, float), "a number of seconds"),
    }
    result = json.loads(await tenant_call(request, "enqueue", params))
    # 201 for a new message; 200 when an existing one answers (same key, or a merged wake-up).
    return web.json_response({"messageId": result["messageId"]}, status=201 if result["created"] else 200)


@routes.post(PREFIX + "/handlers")
async def register_handler(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    endpoints = body.get("endpoints")
    if not isinstance(endpoints, dict):
        raise ApiError(400, "WF_INVALID_HANDLER", "endpoints is required: {workflow, step, webhook} URLs")
    pod_id = expect_type(body, "podId", str, "a string") or expect_type(body, "machineId", str, "a string")
    if pod_id is None:
        raise ApiError(400, "WF_INVALID_HANDLER", "podId (or machineId) is required")
    params = {
        "pod_id": pod_id,
        "deployment_version": expect_type(body, "deploymentVersion", str, "a string"),
        "workflow_url": expect_type(endpoints, "workflow", str, "a URL", required=True),
        "step_url": expect_type(endpoints, "step", str, "a URL", required=True),
        "webhook_url": expect_type(endpoints, "webhook", str, "a URL"),
        # Deliveries in multi-tenant mode go back only to this address (service/outbound.py).
        "source_address": request.remote,
    }
    return json_text(await tenant_call(request, "register_handler", params), status=201)


@routes.delete(PREFIX + "/handlers/{podId}")
async def unregister_handler(request: web.Request) -> web.Response:
    params = {"pod_id": request.match_info["podId"]}
    return json_text(await tenant_call(request, "unregister_handler", params))


@routes.get(PREFIX + "/dead-letters")
async def list_dead_letters(request: web.Request) -> web.Response:
    params: dict[str, Any] = {}
    params.update(page_params(request))
    params.pop("resolve_data")
    return json_text(await tenant_call(request, "list_dead_letters", params))


@routes.post(PREFIX + "/dead-letters/{messageId}/retry")
async def retry_dead_letter(request: web.Request) -> web.Response:
    params = {"message_id": request.match_info["messageId"]}
    return json_text(await tenant_call(request, "retry_dead_letter", params))
