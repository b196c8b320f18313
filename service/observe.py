"""One log line and one metric observation per HTTP request and per delivery outcome.

Request lines carry the route template (never the raw path), method, status,
duration, app id and a request id: the client's ``x-request-id`` when it is a
short plain token, else a generated one; it is echoed in the response header.
They replace aiohttp's access log; WF_ACCESS_LOG=false turns them off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from . import keys, metrics, timeouts
from .logging_setup import clean

request_log = logging.getLogger("pg_workflow.request")
delivery_log = logging.getLogger("pg_workflow.delivery")

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_CLIENT_CLOSED = 499  # the client went away before the answer (nginx's convention)


def request_id_of(header: str | None) -> str:
    if header is not None and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 32 hex digits, as uuid4().hex, at a fifth of its cost


def route_of(request: web.BaseRequest) -> str:
    """The matched route's template, or a fixed word: label values stay few."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


def middleware(access_log: bool) -> Any:
    @web.middleware
    async def observe_request(request: web.Request, handler: Any) -> web.StreamResponse:
        request[REQUEST_ID] = request_id_of(request.headers.get(_REQUEST_ID_HEADER))
        deadline = timeouts.deadline_of(request)
        if deadline is not None:
            deadline.request_started()
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = _CLIENT_CLOSED
            raise
        finally:
            seconds = time.perf_counter() - started
            if deadline is not None:
                deadline.request_finished()
            route = route_of(request)
            metrics.request_finished(route, request.method, status, seconds)
            if access_log:
                _log_request(request, route, status, seconds)

    return observe_request


def _log_request(request: web.Request, route: str, status: int, seconds: float) -> None:
    app_id = request.get(keys.APP_ID) or request.match_info.get("appId")
    fields = {
        "requestId": request[REQUEST_ID],
        "method": clean(request.method, 16),
        "route": route,
        "status": status,
        "durationMs": round(seconds * 1000, 3),
        "appId": None if app_id is None else clean(app_id, 64),
        "userAgent": clean(request.headers.get("User-Agent", ""), 80) or None,
    }
    if route == "unmatched":
        fields["path"] = clean(request.path, 120)  # escaped and cut: never raw client bytes
    request_log.info("%s %s %s", fields["method"], route, status, extra={"fields": fields})


async def echo_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer (errors and streams too) names its request id."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[_REQUEST_ID_HEADER] = request_id


class _Delivered:
    """The message sequence numbers of this replica's last ``size`` successful deliveries.

    A message delivered again after one of them is a duplicate the queue's
    at-least-once contract allows: its claim or ack was lost (a database crash
    with WF_QUEUE_ASYNC_COMMIT, or a lease that ran out). The database cannot
    count those (a lost claim takes its attempt number with it), so they are
    counted here, in wf_deliveries_repeated. Insertion-ordered dict: the
    oldest entry goes first; about 100 bytes per entry.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._seqs: dict[int, None] = {}

    def finished(self, seq: Any, done: bool) -> bool:
        """Notes a finished delivery; True when its message had already been delivered successfully."""
        repeated = seq in self._seqs
        if done and not repeated and isinstance(seq, int):
            self._seqs[seq] = None
            if len(self._seqs) > self._size:
                del self._seqs[next(iter(self._seqs))]
        return repeated


DELIVERED = _Delivered(16384)


def delivery_finished(claim: dict[str, Any], outcome: dict[str, Any], claimed_at: float) -> None:
    """Called by the dispatcher once per delivery: one log line and the dispatch metrics."""
    answered_at = time.time()
    since = _due_epoch(claim.get("dueAt")) or claimed_at
    kind = str(outcome.get("outcome"))
    repeated = DELIVERED.finished(claim.get("seq"), kind == "done")
    metrics.delivery_finished(kind, answered_at - since, repeated)
    fields: dict[str, Any] = {
        "messageId": claim.get("messageId"),
        "queue": claim.get("queueName"),
        "appId": claim.get("appId"),
        "attempt": claim.get("attempt"),
        "outcome": kind,
        "latencyMs": round((answered_at - since) * 1000, 3),
        "handlerMs": round((answered_at - claimed_at) * 1000, 3),
    }
    if kind in ("failed", "refused"):
        fields["error"] = clean(outcome.get("error"), 300)
    if repeated:
        fields["repeated"] = True  # delivered successfully before: its claim or ack was lost
    delivery_log.info("delivery %s", kind, extra={"fields": fields})


def _due_epoch(value: object) -> float | None:
    """A claim's ``dueAt`` (ISO-8601) as epoch seconds, when the claim carries it."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
