"""POST /runs/:runId/events and the event reads (SPEC section 4)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from .. import metrics
from ..http import expect_type, json_text, page_params, query_int, query_str, read_json_object, tenant_call

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"


@routes.post(PREFIX + "/runs/{runId}/events")
async def create_event(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    run_id = request.match_info["runId"]
    event_data = body.get("eventData")
    params = {
        "run_id": None if run_id in ("null", "") else run_id,
        "event_type": expect_type(body, "eventType", str, "a string such as run_created", required=True),
        "correlation_id": expect_type(body, "correlationId", str, "a string"),
        "event_data": None if event_data is None else Jsonb(event_data),
        "spec_version": expect_type(body, "specVersion", int, "an integer"),
        "resolve_data": query_str(request, "resolveData") or expect_type(body, "resolveData", str, '"all" or "none"'),
        # The runtime's optimistic-concurrency snapshot (epoch ms); SQL answers 412 when it is stale.
        "state_updated_at": _state_updated_at(request, body),
    }
    result = await tenant_call(request, "create_event", params)
    metrics.event_created(params["event_type"])
    return json_text(result)


def _state_updated_at(request: web.Request, body: dict[str, Any]) -> int | None:
    """stateUpdatedAt from the body (as the client World sends it) or the query string."""
    from_body = expect_type(body, "stateUpdatedAt", int, "an integer (epoch milliseconds)")
    return from_body if from_body is not None else query_int(request, "stateUpdatedAt")


@routes.get(PREFIX + "/runs/{runId}/events")
async def list_run_events(request: web.Request) -> web.Response:
    params = {"run_id": request.match_info["runId"], "correlation_id": None}
    params.update(page_params(request))
    return json_text(await tenant_call(request, "list_events", params))


@routes.get(PREFIX + "/runs/{runId}/events/{eventId}")
async def get_event(request: web.Request) -> web.Response:
    params = {
        "run_id": request.match_info["runId"],
        "event_id": request.match_info["eventId"],
        "resolve_data": query_str(request, "resolveData"),
    }
    return json_text(await tenant_call(request, "get_event", params))


@routes.get(PREFIX + "/events")
async def list_events(request: web.Request) -> web.Response:
    params = {
        "run_id": query_str(request, "runId"),
        "correlation_id": query_str(request, "correlationId"),
    }
    params.update(page_params(request))
    return json_text(await tenant_call(request, "list_events", params))
