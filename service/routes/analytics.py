"""The DevKit 5 ``analytics`` read namespace (@workflow/world 5.x src/analytics.ts): metadata
only, from the workflow_analytics views, scoped to the caller's app (change devkit5_analytics_api).

Each route passes its checked members to one SQL function as a JSON object;
SQL applies the bounds (cross-run pages <= 100, a run's pages <= 1000,
getMany <= 100 ids, <= 8 attribute filters) and every other rule.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .. import responses
from ..errors import ApiError
from ..http import json_text, tenant_call
from ..schemas import CURSOR, ID, LIMIT, SORT_ORDER, Array, Object, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}/analytics"
TAGS = ("analytics",)
PAGE = {"limit": LIMIT, "cursor": CURSOR, "sortOrder": SORT_ORDER}
_NAME = Text(min_length=1, max_length=1024)
_TIME = Text(min_length=1, max_length=64, description="ISO 8601; startTime and endTime go together")
WINDOW = {"startTime": _TIME, "endTime": _TIME}
RUN_STATUS = Text(enum=("pending", "running", "completed", "failed", "cancelled"))
ATTRIBUTES = Text(max_length=8192, description='JSON object of up to 8 attribute filters: {"key": "value"}')


def _params(args: Args, **extra: Any) -> str:
    """The query members given (absent ones left out) plus ``extra``, as the JSON SQL reads."""
    members = {k: v for k, v in {**args.query, **extra}.items() if v is not None}
    return json.dumps(members)


def _one(args: Args, name: str) -> dict[str, Any]:
    """The statement parameters of a run-scoped get: the run and the id ``name``."""
    return {"run_id": args.path["runId"], "params": json.dumps({"id": args.path[name]})}


@operation(routes, "GET", PREFIX + "/runs", summary="Runs' metadata (analytics.runs.list)",
           query={"workflowName": _NAME, "status": RUN_STATUS, "attributes": ATTRIBUTES, **WINDOW, **PAGE},
           responses={200: responses.analytics_page(responses.ANALYTICS_RUN)}, tags=TAGS)
async def analytics_list_runs(request: web.Request, args: Args) -> web.Response:
    extra: dict[str, Any] = {}
    if args.query["attributes"] is not None:
        try:
            extra["attributes"] = json.loads(args.query["attributes"])
        except ValueError:
            raise ApiError(400, "WF_BAD_REQUEST", "query.attributes is not valid JSON",
                           {"field": "query.attributes"}) from None
    return json_text(await tenant_call(request, "analytics_runs", {"params": _params(args, **extra)}))


@operation(routes, "GET", PREFIX + "/runs/{runId}", summary="One run's metadata (analytics.runs.get)",
           responses={200: responses.ANALYTICS_RUN}, tags=TAGS)
async def analytics_get_run(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_runs", {"params": json.dumps({"id": args.path["runId"]})}))


@operation(routes, "GET", PREFIX + "/attributes", summary="Attribute keys of runs (analytics.attributes.list)",
           query={"workflowName": _NAME, **WINDOW, **PAGE},
           responses={200: responses.analytics_page(responses.ANALYTICS_ATTRIBUTE)}, tags=TAGS)
async def analytics_list_attributes(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_attributes", {"params": _params(args)}))


@operation(routes, "GET", PREFIX + "/runs/{runId}/steps", summary="A run's steps (analytics.steps.list)",
           query=PAGE, responses={200: responses.analytics_page(responses.ANALYTICS_STEP)}, tags=TAGS)
async def analytics_list_steps(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_steps",
                                       {"run_id": args.path["runId"], "params": _params(args)}))


@operation(routes, "GET", PREFIX + "/runs/{runId}/steps/{stepId}", summary="One step (analytics.steps.get)",
           responses={200: responses.ANALYTICS_STEP}, tags=TAGS)
async def analytics_get_step(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_steps", _one(args, "stepId")))


@operation(routes, "GET", PREFIX + "/runs/{runId}/events", summary="A run's events (analytics.events.list)",
           query={"eventType": _NAME, "correlationId": ID, **PAGE},
           responses={200: responses.analytics_page(responses.ANALYTICS_EVENT)}, tags=TAGS)
async def analytics_list_events(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_events",
                                       {"run_id": args.path["runId"], "params": _params(args)}))


@operation(routes, "GET", PREFIX + "/runs/{runId}/events/{eventId}", summary="One event (analytics.events.get)",
           responses={200: responses.ANALYTICS_EVENT}, tags=TAGS)
async def analytics_get_event(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_events", _one(args, "eventId")))


@operation(routes, "POST", PREFIX + "/runs/{runId}/event-batches/get",
           summary="The events present among up to 100 ids (analytics.events.getMany)",
           body=Object({"eventIds": Array(ID, max_items=100)}, required=("eventIds",), extra=None),
           responses={200: responses.ANALYTICS_EVENTS_MANY}, tags=TAGS)
async def analytics_get_many_events(request: web.Request, args: Args) -> web.Response:
    rows = await tenant_call(request, "analytics_events",
                             {"run_id": args.path["runId"], "params": json.dumps({"ids": args.body["eventIds"]})})
    return json_text('{"data": ' + rows + "}")


@operation(routes, "GET", PREFIX + "/runs/{runId}/hooks", summary="A run's hooks (analytics.hooks.list)",
           query=PAGE, responses={200: responses.analytics_page(responses.ANALYTICS_HOOK)}, tags=TAGS)
async def analytics_list_hooks(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_hooks", {"params": _params(args, runId=args.path["runId"])}))


@operation(routes, "GET", PREFIX + "/hooks/{hookId}", summary="One hook (analytics.hooks.get)",
           query={"runId": ID}, responses={200: responses.ANALYTICS_HOOK}, tags=TAGS)
async def analytics_get_hook(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_hooks", {"params": _params(args, id=args.path["hookId"])}))


@operation(routes, "GET", PREFIX + "/runs/{runId}/waits", summary="A run's waits (analytics.waits.list)",
           query={"status": Text(enum=("waiting", "completed")), **PAGE},
           responses={200: responses.analytics_page(responses.ANALYTICS_WAIT)}, tags=TAGS)
async def analytics_list_waits(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_waits",
                                       {"run_id": args.path["runId"], "params": _params(args)}))


@operation(routes, "GET", PREFIX + "/runs/{runId}/waits/{waitId}", summary="One wait (analytics.waits.get)",
           responses={200: responses.ANALYTICS_WAIT}, tags=TAGS)
async def analytics_get_wait(request: web.Request, args: Args) -> web.Response:
    return json_text(await tenant_call(request, "analytics_waits", _one(args, "waitId")))
