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
     "stepCreated": {"const": True},
     "queued": obj({"messageId": TEXT, "created": BOOL}, ("messageId", "created"))},
    description="the appended event and the entity it changed; run_started adds the whole log (events); "
                "queued: the message sent with the event (enqueue). Spec >= 6 runs: events/cursor/hasMore also "
                "report the slots a stale eventCount skipped, or everything after sinceCursor; stepCreated: a "
                "step_started with {stepName, input} created its step",
)

EVENT_BATCH_RESULT = obj({"results": {"type": "array", "items": obj({
    "status": INT, "error": TEXT, "message": TEXT, "event": EVENT, "run": RUN, "step": STEP, "hook": HOOK, "wait": WAIT,
    "stepCreated": {"const": True}}, ("status",))}}, ("results",),
    description="one outcome per submitted event, in order: status 200 with the event and its entity, or the status, "
                "WF_ code (error) and message its single create would have failed with")

BINARY = obj({"__type": {"const": "Uint8Array"}, "data": TEXT}, ("__type", "data"))
MESSAGE = obj({
    "messageId": TEXT, "queueName": TEXT, "status": TEXT, "deploymentId": TEXT, "runId": TEXT,
    "idempotencyKey": TEXT, "attempt": INT, "failures": INT, "lastError": TEXT, "dueAt": TIME,
    "createdAt": TIME, "updatedAt": TIME, "deliveredAt": TIME, "deadAt": TIME, "message": {"type": "object"},
}, ("messageId", "queueName", "status"))

MESSAGE_ID = obj({"messageId": TEXT}, ("messageId",))
QUEUE_BATCH = obj({"results": {"type": "array", "items": obj(
    {"messageId": TEXT, "created": BOOL}, ("messageId", "created"))}}, ("results",))
# ttlSeconds: the registration is a lease the pod must renew within that time (absent: no expiry).
REGISTERED = obj({"registered": BOOL, "ttlSeconds": {"type": "number"}}, ("registered",))
DEREGISTERED = obj({"deregistered": BOOL}, ("deregistered",))

STREAM_WRITE = obj({"written": INT, "tailIndex": INT, "done": BOOL, "duplicate": INT}, ("written", "tailIndex", "done"))
STREAM_NAMES = {"type": "array", "items": TEXT}
STREAM_CHUNKS = obj({
    "data": {"type": "array", "items": obj({"index": INT, "data": BINARY}, ("index", "data"))},
    "cursor": {"type": ["string", "null"]}, "hasMore": BOOL, "done": BOOL,
}, ("data", "cursor", "hasMore", "done"))
STREAM_INFO = obj({"tailIndex": INT, "done": BOOL}, ("tailIndex", "done"))

STATUS = obj({"status": {"const": "ok"}}, ("status",))
READY = obj({"ready": BOOL, "checks": {"type": "object", "additionalProperties": BOOL},
             "reason": {"type": "string", "description": "why not ready (only when not)"}}, ("ready", "checks"))

# The DevKit 5 analytics namespace (service/routes/analytics.py): metadata only
NULL_TEXT: dict[str, Any] = {"type": ["string", "null"]}
NULL_TIME: dict[str, Any] = {"type": ["string", "null"], "description": "ISO-8601 UTC with milliseconds"}
PAGE_INFO = obj({"currentLookbackDays": INT, "maxLookbackDays": INT, "currentWindowStart": TIME,
                 "maxWindowStart": TIME, "upgradeAvailable": BOOL},
                ("currentLookbackDays", "maxLookbackDays", "currentWindowStart", "maxWindowStart", "upgradeAvailable"),
                description="the window a cross-run listing covers: from startTime, else from the app's oldest run")
ANALYTICS_RUN = obj({
    "runId": TEXT, "status": RUN["properties"]["status"], "deploymentId": TEXT, "workflowName": TEXT,
    "specVersion": {"type": ["integer", "null"]}, "attributes": {"type": "object", "additionalProperties": TEXT},
    "createdAt": TIME, "updatedAt": TIME, "startedAt": NULL_TIME, "completedAt": NULL_TIME, "errorCode": NULL_TEXT,
}, ("runId", "status", "deploymentId", "workflowName", "attributes", "createdAt", "updatedAt"))
ANALYTICS_ATTRIBUTE = obj({"key": TEXT, "runCount": INT, "firstSeenAt": TIME, "lastSeenAt": TIME},
                          ("key", "runCount", "firstSeenAt", "lastSeenAt"))
ANALYTICS_STEP = obj({
    "runId": TEXT, "stepId": TEXT, "stepName": NULL_TEXT, "status": STEP["properties"]["status"], "attempt": INT,
    "createdAt": TIME, "updatedAt": TIME, "startedAt": NULL_TIME, "completedAt": NULL_TIME, "retryAfter": NULL_TIME,
    "errorCode": NULL_TEXT,
}, ("runId", "stepId", "status", "createdAt", "updatedAt"))
ANALYTICS_EVENT = obj({
    "runId": TEXT, "eventId": TEXT, "eventType": TEXT, "correlationId": NULL_TEXT, "entityId": NULL_TEXT,
    "stepName": NULL_TEXT, "workflowName": TEXT, "deploymentId": TEXT, "specVersion": {"type": ["integer", "null"]},
    "runCreatedAt": TIME, "createdAt": TIME,
}, ("runId", "eventId", "eventType", "workflowName", "deploymentId", "runCreatedAt", "createdAt"))
ANALYTICS_EVENTS_MANY = obj({"data": {"type": "array", "items": ANALYTICS_EVENT}}, ("data",),
                            description="the events present among the ids asked for, each once, in no set order")
ANALYTICS_HOOK = obj({
    "runId": TEXT, "hookId": TEXT, "status": {"enum": ["created", "received", "disposed", "conflict"]},
    "createdAt": TIME, "updatedAt": TIME, "receivedAt": NULL_TIME, "disposedAt": NULL_TIME, "isWebhook": BOOL,
}, ("runId", "hookId", "status", "createdAt", "updatedAt"))
ANALYTICS_WAIT = obj({
    "runId": TEXT, "waitId": TEXT, "status": WAIT["properties"]["status"], "resumeAt": NULL_TIME,
    "createdAt": TIME, "updatedAt": TIME, "completedAt": NULL_TIME,
}, ("runId", "waitId", "status", "createdAt", "updatedAt"))


def analytics_page(item: dict[str, Any]) -> dict[str, Any]:
    """An analytics page: the storage page shape plus pageInfo (cross-run listings)."""
    doc = page(item)
    doc["properties"]["pageInfo"] = PAGE_INFO
    return doc


# Run actions (SPEC section 5)
# DevKit 5 run operations (service/routes/run_ops.py)
RUNS_MANY = obj({"data": {"type": "array", "items": {"anyOf": [RUN, {"type": "null"}]}}}, ("data",),
                description="the runs in request order; null for an id the app has no run for")
CANCEL_MANY = obj({
    "summary": obj({k: INT for k in ("requested", "cancelled", "alreadyCancelled", "notCancellable", "notFound",
                                     "failed")},
                   ("requested", "cancelled", "alreadyCancelled", "notCancellable", "notFound", "failed")),
    "results": {"type": "array", "items": obj({
        "runId": TEXT,
        "outcome": {"enum": ["cancelled", "already_cancelled", "not_cancellable", "not_found", "failed"]},
        "status": TEXT, "code": TEXT, "retryable": BOOL}, ("runId", "outcome"))},
}, ("summary", "results"), description="one outcome per requested id, in request order, and their counts")
WAKE_UP = obj({"stoppedCount": INT}, ("stoppedCount",))
TEMPLATE = obj({
    "steps": {"type": "array", "items": obj({"stepName": TEXT, "order": INT, "parallelGroup": INT},
                                            ("stepName", "order"))},
    "hasHooks": BOOL, "hasWaits": BOOL, "sourceRunId": TEXT,
}, ("steps", "hasHooks", "hasWaits", "sourceRunId"))

# Admin API (SPEC section 8)
_QUOTA_NAMES = ("maxRuns", "maxEventsPerRun", "maxQueuePerMinute", "maxMessageBytes", "maxQueuedBytes",
                "maxStreamBytes", "maxConcurrentRequests")
QUOTAS = obj(dict.fromkeys(_QUOTA_NAMES, INT), _QUOTA_NAMES)
APP = obj({"appId": TEXT, "createdAt": TIME, "quotas": QUOTAS}, ("appId", "createdAt", "quotas"))
BINDING = obj({"appId": TEXT, "namespace": TEXT, "serviceAccount": TEXT, "createdAt": TIME},
              ("appId", "namespace", "serviceAccount", "createdAt"))
UNBOUND = obj({"deleted": {"const": True}}, ("deleted",))
VERSION_STATUS = obj({"activeRuns": INT, "pendingHooks": INT, "pendingWaits": INT, "queuedMessages": INT},
                     ("activeRuns", "pendingHooks", "pendingWaits", "queuedMessages"))
VERSION_EXPIRED = obj({"cancelledRuns": INT, "deadLetteredMessages": INT, "removedHandlers": INT},
                      ("cancelledRuns", "deadLetteredMessages", "removedHandlers"))

# Run encryption
ENCRYPTION_SECRET = obj({"appId": TEXT, "version": INT, "activatesAt": TIME, "createdAt": TIME},
                        ("appId", "version", "activatesAt", "createdAt"),
                        description="a secret version (the secret itself is never returned)")
ENCRYPTION_SECRET_STATUS = obj({"appId": TEXT, "versions": {"type": "array", "items": obj(
    {"version": INT, "activatesAt": TIME, "createdAt": TIME}, ("version", "activatesAt", "createdAt"))}},
    ("appId", "versions"))
ENCRYPTION_KEY = obj({"runId": TEXT, "key": {"type": "string", "contentEncoding": "base64"}, "keyVersion": INT},
                     ("runId", "key", "keyVersion"), description="the run's 32-byte AES-256 key")
