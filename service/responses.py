"""JSON Schemas of what the API answers (SPEC sections 3-7), for /openapi.json.

SQL builds the bodies; these describe them for clients and for the
schemathesis test, which checks real answers against them. Members the
entity JSON leaves out when NULL are optional here; unknown members are
allowed so an added field never breaks a client.
"""

from __future__ import annotations

from typing import Any

TEXT: dict[str, Any] = {"type": "string"}
TIME: dict[str, Any] = {"type": "string", "description": "ISO-8601 UTC with milliseconds"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
ANY: dict[str, Any] = {}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


ERROR = obj(
    {"statusCode": INT, "error": TEXT, "code": {"type": "string", "pattern": "^WF_"}, "message": TEXT,
     "meta": {"type": "object", "description": "details; field names the offending request member (JSON path)"}},
    ("statusCode", "error", "code", "message", "meta"),
    description="every refusal: the WF_* code says what, the message says why",
)

RUN = obj({
    "runId": TEXT, "status": {"enum": ["pending", "running", "completed", "failed", "cancelled"]},
    "deploymentId": TEXT, "workflowName": TEXT, "specVersion": INT, "executionContext": ANY,
    "input": ANY, "output": ANY, "error": {"type": "object"}, "createdAt": TIME, "updatedAt": TIME,
    "startedAt": TIME, "completedAt": TIME, "expiredAt": TIME,
}, ("runId", "status", "deploymentId", "workflowName", "createdAt", "updatedAt"))

STEP = obj({
    "runId": TEXT, "stepId": TEXT, "stepName": TEXT,
    "status": {"enum": ["pending", "running", "completed", "failed", "cancelled"]},
    "attempt": INT, "input": ANY, "output": ANY, "error": {"type": "object"}, "specVersion": INT,
    "createdAt": TIME, "updatedAt": TIME, "startedAt": TIME, "completedAt": TIME, "retryAfter": TIME,
}, ("runId", "stepId", "stepName", "status", "attempt", "createdAt", "updatedAt"))

HOOK = obj({
    "runId": TEXT, "hookId": TEXT, "token": TEXT, "ownerId": TEXT, "projectId": TEXT, "environment": TEXT,
    "metadata": ANY, "isWebhook": BOOL, "specVersion": INT, "createdAt": TIME, "disposedAt": TIME,
}, ("runId", "hookId", "token", "createdAt"))

WAIT = obj({
    "waitId": TEXT, "runId": TEXT, "status": {"enum": ["waiting", "completed"]}, "resumeAt": TIME,
    "completedAt": TIME, "createdAt": TIME, "updatedAt": TIME, "specVersion": INT,
}, ("waitId", "runId", "status", "createdAt", "updatedAt"))

EVENT = obj({
    "eventId": TEXT, "runId": TEXT, "eventType": TEXT, "correlationId": TEXT, "eventData": ANY,
    "specVersion": INT, "createdAt": TIME,
}, ("eventId", "runId", "eventType", "createdAt"))


def page(item: dict[str, Any]) -> dict[str, Any]:
    return obj({"data": {"type": "array", "items": item}, "cursor": {"type": ["string", "null"]}, "hasMore": BOOL},
               ("data", "cursor", "hasMore"))


EVENT_RESULT = obj(
    {"event": EVENT, "run": RUN, "step": STEP, "hook": HOOK, "wait": WAIT, "maxEvents": INT,
     "events": {"type": "array", "items": EVENT}, "cursor": {"type": ["string", "null"]}, "hasMore": BOOL,
     "queued": obj({"messageId": TEXT, "created": BOOL}, ("messageId", "created"))},
    description="the appended event and the entity it changed; run_started adds the whole log (events); "
                "queued: the message sent with the event (enqueue)",
)

BINARY = obj({"__type": {"const": "Uint8Array"}, "data": TEXT}, ("__type", "data"))
MESSAGE = obj({
    "messageId": TEXT, "queueName": TEXT, "status": TEXT, "deploymentId": TEXT, "runId": TEXT,
    "idempotencyKey": TEXT, "attempt": INT, "failures": INT, "lastError": TEXT, "dueAt": TIME,
    "createdAt": TIME, "updatedAt": TIME, "deliveredAt": TIME, "deadAt": TIME, "message": {"type": "object"},
}, ("messageId", "queueName", "status"))

MESSAGE_ID = obj({"messageId": TEXT}, ("messageId",))
# ttlSeconds: the registration is a lease the pod must renew within that time (absent: no expiry).
REGISTERED = obj({"registered": BOOL, "ttlSeconds": {"type": "number"}}, ("registered",))
DEREGISTERED = obj({"deregistered": BOOL}, ("deregistered",))

STREAM_WRITE = obj({"written": INT, "tailIndex": INT, "done": BOOL}, ("written", "tailIndex", "done"))
STREAM_NAMES = {"type": "array", "items": TEXT}
STREAM_CHUNKS = obj({
    "data": {"type": "array", "items": obj({"index": INT, "data": BINARY}, ("index", "data"))},
    "cursor": {"type": ["string", "null"]}, "hasMore": BOOL, "done": BOOL,
}, ("data", "cursor", "hasMore", "done"))
STREAM_INFO = obj({"tailIndex": INT, "done": BOOL}, ("tailIndex", "done"))

STATUS = obj({"status": {"const": "ok"}}, ("status",))
READY = obj({"ready": BOOL, "checks": {"type": "object", "additionalProperties": BOOL},
             "reason": {"type": "string", "description": "why not ready (only when not)"}}, ("ready", "checks"))

# Run actions (SPEC section 5)
WAKE_UP = obj({"stoppedCount": INT}, ("stoppedCount",))
TEMPLATE = obj({
    "steps": {"type": "array", "items": obj({"stepName": TEXT, "order": INT, "parallelGroup": INT},
                                            ("stepName", "order"))},
    "hasHooks": BOOL, "hasWaits": BOOL, "sourceRunId": TEXT,
}, ("steps", "hasHooks", "hasWaits", "sourceRunId"))

# Admin API (SPEC section 8)
QUOTAS = obj({"maxRuns": INT, "maxEventsPerRun": INT, "maxQueuePerMinute": INT},
             ("maxRuns", "maxEventsPerRun", "maxQueuePerMinute"))
APP = obj({"appId": TEXT, "createdAt": TIME, "quotas": QUOTAS}, ("appId", "createdAt", "quotas"))
BINDING = obj({"appId": TEXT, "namespace": TEXT, "serviceAccount": TEXT, "createdAt": TIME},
              ("appId", "namespace", "serviceAccount", "createdAt"))
UNBOUND = obj({"deleted": {"const": True}}, ("deleted",))
VERSION_STATUS = obj({"activeRuns": INT, "pendingHooks": INT, "pendingWaits": INT, "queuedMessages": INT},
                     ("activeRuns", "pendingHooks", "pendingWaits", "queuedMessages"))
VERSION_EXPIRED = obj({"cancelledRuns": INT, "deadLetteredMessages": INT, "removedHandlers": INT},
                      ("cancelledRuns", "deadLetteredMessages", "removedHandlers"))
