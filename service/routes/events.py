"""POST /runs/:runId/events and the event reads (SPEC section 4)."""

from __future__ import annotations

from aiohttp import web
from psycopg.types.json import Jsonb

from .. import fastjson, metrics, responses
from ..http import json_text, page_args, tenant_call
from ..schemas import (
    EPOCH_MS_LIMIT,
    ID,
    INT4_MAX,
    PAGE_QUERY,
    RESOLVE_DATA,
    Array,
    Boolean,
    Integer,
    Json,
    Nullable,
    Object,
    Tagged,
    Text,
    Time,
)
from ..validate import Args, operation
from .queue import QUEUE_NAME

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"

_NAME = Text(min_length=1, max_length=1024)
_RUN_DATA = {"deploymentId": _NAME, "workflowName": _NAME, "input": Json(), "executionContext": Nullable(Object({}))}
_FAILURE = {"error": Json(), "stack": Json()}

# eventData per eventType: the members whose shape matters here; anything
# else is kept as it came (checked as safe JSON). SQL decides what the event
# means for the run's state.
EVENT_DATA: dict[str, Object] = {
    "run_created": Object(_RUN_DATA, required=("deploymentId", "workflowName")),
    "run_started": Object(_RUN_DATA),
    "run_completed": Object({"output": Json()}),
    "run_failed": Object({**_FAILURE, "errorCode": Json()}),
    "run_cancelled": Object({}),
    "step_created": Object({"stepName": _NAME, "input": Json()}, required=("stepName",)),
    "step_started": Object({}),
    "step_completed": Object({"result": Json()}),
    "step_failed": Object(_FAILURE),
    "step_retrying": Object({**_FAILURE, "retryAfter": Time()}),
    "hook_created": Object({"token": Text(min_length=1, max_length=2048), "metadata": Json(),
                            "isWebhook": Boolean()}, required=("token",)),
    "hook_received": Object({"payload": Json()}),
    "hook_disposed": Object({}),
    "wait_created": Object({"resumeAt": Time()}, required=("resumeAt",)),
    "wait_completed": Object({}),
    # DevKit 5 (spec >= 6 runs; a spec <= 3 run refuses it in SQL): run attribute changes.
    "attr_set": Object({"changes": Json(), "writer": Object({"type": Text(min_length=1, max_length=64)}),
                        "allowReservedAttributes": Json()}, required=("changes", "writer")),
}
_NEEDS_DATA = ("run_created", "step_created", "hook_created", "wait_created", "attr_set")

# The run's state the runtime acted on (epoch ms): older than the run's latest
# external event is a 412 (SQL decides).
STATE_UPDATED_AT = Integer(minimum=0, maximum=EPOCH_MS_LIMIT,
                           description="epoch ms of the run state the caller saw; stale: 412 WF_PRECONDITION_FAILED")

# DevKit 5 write options (runs with specVersion >= 6; ignored for older runs). SQL
# decides what they mean: the answer then carries events/cursor/hasMore.
WRITE_OPTIONS = {
    "eventCount": Integer(minimum=0, maximum=INT4_MAX,
                          description="events the writer has seen; a stale count is reported, never refused"),
    "sinceCursor": Text(min_length=1, max_length=64,
                        description="answer every event after this cursor (a position or an event id of the run)"),
    "skipPreload": Boolean(description="run_started: answer without the run's log"),
    "resumeId": Text(min_length=1, max_length=256,
                     description="hook_received: idempotency key; a repeat answers the same event"),
    "resumePayloadDigest": Text(min_length=1, max_length=256,
                                description="hook_received: digest of the payload, recorded with resumeId"),
    "preloadEvents": Boolean(description="hook_received: also answer the run and its whole log"),
}

EVENT_BODY = Tagged("eventType", Object({
    "correlationId": ID,
    "specVersion": Integer(minimum=0, maximum=INT4_MAX),
    "resolveData": RESOLVE_DATA,
    "stateUpdatedAt": STATE_UPDATED_AT,
    **WRITE_OPTIONS,
    "enqueue": Object({
        "queueName": QUEUE_NAME,
        "message": Object({}),
        "deploymentId": Text(min_length=1, max_length=1024),
        "idempotencyKey": Text(min_length=1, max_length=1024),
    }, required=("queueName", "message"), extra=None,
       description="the queue message this event makes necessary (step_created: the step's; step_completed, "
                   "step_failed, hook_received, wait_completed: the run's wake-up), queued in the event's "
                   "transaction; the answer then carries queued {messageId, created}"),
}), {
    event_type: Object({"eventData": data}, required=("eventData",) if event_type in _NEEDS_DATA else ())
    for event_type, data in EVENT_DATA.items()
}, description="one event: correlationId names the step, hook or wait (not for run_* events)")


@operation(routes, "POST", PREFIX + "/runs/{runId}/events", summary="Append an event (create_event)",
           path_params={"runId": Text(min_length=1, max_length=512,
                                      description='the run, or "null" for run_created (the server picks an id)')},
           query={"resolveData": RESOLVE_DATA, "stateUpdatedAt": STATE_UPDATED_AT}, body=EVENT_BODY,
           responses={200: responses.EVENT_RESULT}, errors=(409, 410, 412, 425, 429), tags=("events",))
async def create_event(request: web.Request, args: Args) -> web.Response:
    body, run_id = args.body, args.path["runId"]
    event_data = body.get("eventData")
    params = {
        "run_id": None if run_id == "null" else run_id,
        "event_type": body["eventType"],
        "correlation_id": body.get("correlationId"),
        "event_data": None if event_data is None else Jsonb(event_data, fastjson.dumps),
        "spec_version": body.get("specVersion"),
        "resolve_data": args.query["resolveData"] or body.get("resolveData"),
        # The runtime's optimistic-concurrency snapshot (epoch ms), from the body (as the client World
        # sends it) or the query string; SQL answers 412 when it is stale.
        "state_updated_at": _first(body.get("stateUpdatedAt"), args.query["stateUpdatedAt"]),
        "enqueue": None if body.get("enqueue") is None else Jsonb(body["enqueue"], fastjson.dumps),
        "options": _write_options(body),
    }
    result = await tenant_call(request, "create_event", params)
    metrics.event_created(params["event_type"])
    return json_text(result)


# events.createBatch (DevKit 5): events of one spec >= 6 run, appended in order in
# one transaction; SQL answers one outcome per event and bounds the batch. Not
# under /events/: GET /events/{eventId} would claim the path.
BATCH_EVENT = Tagged("eventType", Object({
    "correlationId": ID,
    "specVersion": Integer(minimum=0, maximum=INT4_MAX),
}), {
    event_type: Object({"eventData": data}, required=("eventData",) if event_type in _NEEDS_DATA else ())
    for event_type, data in EVENT_DATA.items() if event_type != "run_created"
}, description="one event of the run (not run_created)")
BATCH_BODY = Object({
    "events": Array(Object({
        "event": BATCH_EVENT,
        "occurredAt": Time(description="client event time (accepted, not stored)"),
        "computeInstanceId": Text(min_length=1, max_length=256, description="accepted, not stored"),
    }, required=("event",)), description="at most 100 events, appended in this order"),
    "resolveData": RESOLVE_DATA,
}, required=("events",))


@operation(routes, "POST", PREFIX + "/runs/{runId}/event-batches", summary="Append several events (events.createBatch)",
           body=BATCH_BODY, responses={200: responses.EVENT_BATCH_RESULT}, errors=(404, 409), tags=("events",))
async def create_event_batch(request: web.Request, args: Args) -> web.Response:
    body = args.body
    params = {"run_id": args.path["runId"], "resolve_data": body.get("resolveData"),
              "events": Jsonb([{"event": item["event"]} for item in body["events"]], fastjson.dumps)}
    result = await tenant_call(request, "create_event_batch", params)
    # Count what was appended: refused events of a batch appended nothing.
    outcomes = fastjson.loads_text(result)["results"]
    for item, outcome in zip(body["events"], outcomes, strict=True):
        if outcome["status"] == 200:
            metrics.event_created(item["event"]["eventType"])
    return json_text(result)


def _write_options(body: dict[str, object]) -> Jsonb | None:
    """The DevKit 5 write options the body carries, or None (a DevKit 4 write: SQL takes the same path as before)."""
    options = {name: body[name] for name in WRITE_OPTIONS if body.get(name) is not None}
    return Jsonb(options, fastjson.dumps) if options else None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


@operation(routes, "GET", PREFIX + "/runs/{runId}/events", summary="A run's event log, a page at a time",
           query=PAGE_QUERY, responses={200: responses.page(responses.EVENT)}, tags=("events",))
async def list_run_events(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "correlation_id": None, **page_args(args)}
    return json_text(await tenant_call(request, "list_events", params))


@operation(routes, "GET", PREFIX + "/runs/{runId}/events/{eventId}", summary="One event",
           query={"resolveData": RESOLVE_DATA}, responses={200: responses.EVENT}, tags=("events",))
async def get_event(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.path["runId"], "event_id": args.path["eventId"],
              "resolve_data": args.query["resolveData"]}
    return json_text(await tenant_call(request, "get_event", params))


@operation(routes, "GET", PREFIX + "/events", summary="Events by correlationId and/or runId",
           query={"runId": ID, "correlationId": ID, **PAGE_QUERY},
           responses={200: responses.page(responses.EVENT)}, tags=("events",))
async def list_events(request: web.Request, args: Args) -> web.Response:
    params = {"run_id": args.query["runId"], "correlation_id": args.query["correlationId"], **page_args(args)}
    return json_text(await tenant_call(request, "list_events", params))
