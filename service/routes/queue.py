"""Queue, handler registration and dead letters (SPEC section 6)."""

from __future__ import annotations

from aiohttp import web
from psycopg.types.json import Jsonb

from .. import fastjson, keys, responses
from ..errors import ApiError
from ..http import json_text, page_args, tenant_call
from ..outbound import registration_refusal
from ..schemas import ID, PAGE_QUERY, SORT_ORDER, URL, Array, Number, Object, Text
from ..validate import Args, operation

routes = web.RouteTableDef()
PREFIX = "/api/v1/apps/{appId}"

QUEUE_NAME = Text(pattern=r"^__([a-z][a-z0-9]*_)?wkf_(workflow|step)_.+$", max_length=1024,
                  description="__wkf_workflow_<name> or __wkf_step_<name>, optionally __<namespace>_wkf_...")
ENQUEUE_BODY = Object({
    "queueName": QUEUE_NAME,
    "message": Object({}, description="the message the handler receives as its body"),
    "deploymentId": Text(min_length=1, max_length=1024),
    "idempotencyKey": Text(min_length=1, max_length=1024),
    "delaySeconds": Number(minimum=0, maximum=315_360_000, description="may be fractional"),
}, required=("queueName", "message"))

POD_ID = Text(min_length=1, max_length=256, pattern="^[^/]+$")
HANDLER_BODY = Object({
    "podId": POD_ID,
    "machineId": POD_ID,
    "deploymentVersion": Text(min_length=1, max_length=1024),
    # No step URL for a DevKit 5 handler (steps travel on the workflow queue); SQL then sends step-kind messages
    # to the flow URL (change handler_step_optional).
    "endpoints": Object({"workflow": URL, "step": URL, "webhook": URL}, required=("workflow",)),
    "features": Array(Text(min_length=1, max_length=64), max_items=16,
                      description='what the pod\'s World understands beyond the DevKit queue protocol: "run-started" '
                                  '= workflow deliveries may carry the run_started answer (header x-pgw-run-started)'),
}, required=("endpoints",), one_required=(("podId", "machineId"),))


@operation(routes, "POST", PREFIX + "/queue", summary="Enqueue a message",
           body=ENQUEUE_BODY, responses={201: responses.MESSAGE_ID, 200: responses.MESSAGE_ID},
           errors=(410, 429), tags=("queue",),
           description="201 for a new message; 200 when an existing one answers (same idempotencyKey, "
                       "or a merged workflow wake-up).")
async def enqueue(request: web.Request, args: Args) -> web.Response:
    body = args.body
    params = {
        "queue_name": body["queueName"],
        "message": Jsonb(body["message"], fastjson.dumps),
        "deployment_id": body.get("deploymentId"),
        "idempotency_key": body.get("idempotencyKey"),
        "delay_seconds": body.get("delaySeconds"),
    }
    result = fastjson.loads_text(await tenant_call(request, "enqueue", params))
    return web.json_response({"messageId": result["messageId"]}, status=201 if result["created"] else 200)


QUEUE_BATCH_MAX = 1000  # workflow.enqueue_batch refuses more: one transaction stays short
QUEUE_BATCH_BODY = Object({
    "messages": Array(ENQUEUE_BODY, max_items=QUEUE_BATCH_MAX,
                      description=f"1 to {QUEUE_BATCH_MAX} messages, each as the body of POST /queue"),
}, required=("messages",))


@operation(routes, "POST", PREFIX + "/queue-batches", summary="Enqueue messages in one transaction (queueBatch)",
           body=QUEUE_BATCH_BODY, responses={201: responses.QUEUE_BATCH, 200: responses.QUEUE_BATCH},
           errors=(410, 429), tags=("queue",),
           description="Each message as POST /queue would queue it (idempotency, merged wake-ups, quotas), in one "
                       "transaction: all are queued or none (a refusal names messages[i]). results answer in input "
                       "order; 201 when at least one message is new, else 200.")
async def enqueue_batch(request: web.Request, args: Args) -> web.Response:
    messages = args.body["messages"]
    if not messages:
        raise ApiError(400, "WF_BAD_REQUEST", f"messages must hold 1 to {QUEUE_BATCH_MAX} entries, not 0",
                       {"field": "messages"})
    answer = await tenant_call(request, "enqueue_batch", {"messages": Jsonb(messages, fastjson.dumps)})
    result = fastjson.loads_text(answer)
    created = any(r["created"] for r in result["results"])
    return web.json_response({"results": result["results"]}, status=201 if created else 200)


@operation(routes, "POST", PREFIX + "/handlers", summary="Register (or refresh) a pod's endpoints",
           body=HANDLER_BODY, responses={201: responses.REGISTERED}, errors=(410,), tags=("queue",),
           description="An endpoint whose host is a literal IP address the outbound policy refuses (link-local, "
                       "multicast, denied; in multi-tenant mode also loopback or not the registering pod's own "
                       "address) is a 400 WF_BAD_REQUEST naming the rule, and nothing is stored. Host names are "
                       "judged at every delivery.")
async def register_handler(request: web.Request, args: Args) -> web.Response:
    body = args.body
    endpoints = body["endpoints"]
    # The outbound policy is the service's, not SQL's (it needs the resolver and the deployment's networks);
    # what a literal address already shows is refused now rather than at every delivery.
    refused = registration_refusal(request.app[keys.OUTBOUND_POLICY], endpoints, request.remote)
    if refused is not None:
        key, refusal = refused
        raise ApiError(400, "WF_BAD_REQUEST", f"endpoints.{key}: {refusal}",
                       {"field": f"endpoints.{key}", "rule": refusal.rule})
    params = {
        "pod_id": body.get("podId") or body.get("machineId"),
        "deployment_version": body.get("deploymentVersion"),
        "workflow_url": endpoints["workflow"],
        "step_url": endpoints.get("step"),
        "webhook_url": endpoints.get("webhook"),
        # Deliveries in multi-tenant mode go back only to this address (service/outbound.py).
        "source_address": request.remote,
        "features": body.get("features"),
        # A lease: the pod registers again within it (the client World does) or stops getting deliveries.
        "ttl_seconds": request.app[keys.SETTINGS].handler_ttl,
    }
    return json_text(await tenant_call(request, "register_handler", params), status=201)


@operation(routes, "DELETE", PREFIX + "/handlers/{podId}", summary="Remove a pod's registration",
           path_params={"podId": POD_ID}, responses={200: responses.DEREGISTERED}, tags=("queue",))
async def unregister_handler(request: web.Request, args: Args) -> web.Response:
    params = {"pod_id": args.path["podId"]}
    return json_text(await tenant_call(request, "unregister_handler", params))


@operation(routes, "GET", PREFIX + "/dead-letters", summary="Dead-lettered messages",
           query={key: PAGE_QUERY[key] for key in ("limit", "cursor")} | {"sortOrder": SORT_ORDER},
           responses={200: responses.page(responses.MESSAGE)}, tags=("queue",))
async def list_dead_letters(request: web.Request, args: Args) -> web.Response:
    params = page_args(args)
    params.pop("resolve_data")
    return json_text(await tenant_call(request, "list_dead_letters", params))


@operation(routes, "POST", PREFIX + "/dead-letters/{messageId}/retry", summary="Queue a dead letter again",
           path_params={"messageId": ID}, responses={200: responses.MESSAGE}, errors=(409, 410), tags=("queue",))
async def retry_dead_letter(request: web.Request, args: Args) -> web.Response:
    params = {"message_id": args.path["messageId"]}
    return json_text(await tenant_call(request, "retry_dead_letter", params))
