"""The one table from database errors to HTTP answers, and the JSON error shape.

SQL refuses with SQLSTATE ``PWnnn`` (nnn = the HTTP status), the WF_* code in
HINT and a JSON object of extra fields in DETAIL (see workflow.refuse).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import psycopg
from aiohttp import web

from .logging_setup import clean

log = logging.getLogger("pg_workflow.errors")

# Standard SQLSTATEs that bad input can still reach; everything else is a 500.
_SQLSTATE_STATUS: dict[str, tuple[int, str]] = {
    "22P02": (400, "WF_INVALID_INPUT"),  # invalid_text_representation
    "22P05": (400, "WF_INVALID_INPUT"),  # untranslatable_character (\u0000 in JSON text)
    "22007": (400, "WF_INVALID_INPUT"),  # invalid_datetime_format
    "22008": (400, "WF_INVALID_INPUT"),  # datetime_field_overflow
    "22003": (400, "WF_INVALID_INPUT"),  # numeric_value_out_of_range
    "22023": (400, "WF_INVALID_INPUT"),  # invalid_parameter_value
    "22021": (400, "WF_INVALID_INPUT"),  # character_not_in_repertoire
    "2202E": (400, "WF_INVALID_INPUT"),  # array_subscript_error
    "23505": (409, "WF_CONFLICT"),  # unique_violation
    "40001": (409, "WF_CONFLICT"),  # serialization_failure
    "40P01": (409, "WF_CONFLICT"),  # deadlock_detected
    "42501": (403, "WF_FORBIDDEN"),  # insufficient_privilege / row-level security
    "54000": (413, "WF_PAYLOAD_TOO_LARGE"),  # program_limit_exceeded (e.g. a jsonb value over 255 MB)
    "57014": (503, "WF_BUSY"),  # query_canceled: statement_timeout
    "55P03": (503, "WF_BUSY"),  # lock_not_available: lock_timeout (a busy run)
    "53000": (503, "WF_BUSY"),  # insufficient_resources
    "53100": (503, "WF_BUSY"),  # disk_full
    "53200": (503, "WF_BUSY"),  # out_of_memory
    "53300": (503, "WF_DB_UNAVAILABLE"),  # too_many_connections
    "57P01": (503, "WF_DB_UNAVAILABLE"),  # admin_shutdown
    "57P02": (503, "WF_DB_UNAVAILABLE"),  # crash_shutdown
    "57P03": (503, "WF_DB_UNAVAILABLE"),  # cannot_connect_now (starting up, recovering)
    "57P04": (503, "WF_DB_UNAVAILABLE"),  # database_dropped
    "25006": (503, "WF_DB_UNAVAILABLE"),  # read_only_sql_transaction (connected to a standby)
}
_MESSAGES = {
    "WF_BUSY": "the database is busy (a lock or statement timeout); retry shortly",
    "WF_DB_UNAVAILABLE": "the database is unavailable; retry shortly",
}

_RETRY_AFTER_STATUSES = (425, 429, 503)


class ApiError(Exception):
    """An HTTP error answer with the API's JSON body."""

    def __init__(self, status: int, code: str, message: str, meta: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.meta = meta or {}


class PoolBusy(psycopg.OperationalError):
    """No pooled connection came within the pool timeout: every one is in use."""


class AppBusy(psycopg.OperationalError):
    """The app already has as many requests using the database as its cap allows (service/capacity.py)."""

    def __init__(self, app_id: str, cap: int) -> None:
        super().__init__(f"app {app_id} has {cap} requests in progress")
        self.app_id = app_id
        self.cap = cap


class DatabaseUnreachable(psycopg.OperationalError):
    """No pooled connection came within the pool timeout: the pool cannot connect."""


def db_unavailable(reason: str) -> ApiError:
    return ApiError(503, "WF_DB_UNAVAILABLE", f"the database is unavailable ({reason}); retry shortly",
                    {"retryAfter": 1})


def from_database(exc: psycopg.Error) -> ApiError | None:
    """The API error for a database error, or None when it is our fault (500)."""
    if isinstance(exc, AppBusy):
        return ApiError(429, "WF_QUOTA_EXCEEDED",
                        f"quota maxConcurrentRequests exceeded: app {exc.app_id} may have {exc.cap} requests in "
                        "progress at once in this replica; retry shortly",
                        {"quota": "maxConcurrentRequests", "limit": exc.cap, "retryAfter": 1})
    if isinstance(exc, PoolBusy):
        return ApiError(503, "WF_BUSY", "all database connections are busy; retry shortly", {"retryAfter": 1})
    if isinstance(exc, DatabaseUnreachable):
        return db_unavailable(str(exc))
    state = exc.sqlstate or ""
    if isinstance(exc, psycopg.OperationalError) and (not state or state.startswith("08")):
        return db_unavailable("connection lost")  # no SQLSTATE: the connection broke mid-statement
    diag = exc.diag
    if state.startswith("PW") and state[2:].isdigit():
        meta: dict[str, Any] = {}
        if diag.message_detail:
            try:
                meta = json.loads(diag.message_detail)
            except ValueError:
                meta = {"detail": diag.message_detail}
        return ApiError(int(state[2:]), diag.message_hint or "WF_ERROR", diag.message_primary or "refused", meta)
    if state in _SQLSTATE_STATUS:
        status, code = _SQLSTATE_STATUS[state]
        if code in _MESSAGES:  # the server's wording (e.g. "canceling statement") helps no client
            return ApiError(status, code, _MESSAGES[code], {"retryAfter": 1})
        return ApiError(status, code, diag.message_primary or str(exc))
    return None


def error_response(err: ApiError) -> web.Response:
    body = {
        "statusCode": err.status,
        "error": HTTPStatus(err.status).phrase if err.status in HTTPStatus._value2member_map_ else "Error",
        "code": err.code,
        "message": err.message,
        "meta": err.meta,
    }
    headers = {}
    if err.status in _RETRY_AFTER_STATUSES:
        retry_after = err.meta.get("retryAfter", 1)
        headers["Retry-After"] = str(max(1, int(retry_after)) if isinstance(retry_after, int | float) else 1)
    return web.json_response(body, status=err.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except psycopg.Error as exc:
        err = from_database(exc)
        if err is None:
            log.exception("database error on %s %s", clean(request.method, 16), clean(request.path))
            return error_response(ApiError(500, "WF_INTERNAL", "internal database error"))
        return error_response(err)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(ApiError(413, "WF_PAYLOAD_TOO_LARGE", f"request body too large: {exc.text}"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "WF_NOT_FOUND", 405: "WF_METHOD_NOT_ALLOWED"}.get(exc.status, "WF_HTTP_ERROR")
        message = exc.reason if exc.status in (404, 405) else (exc.text or exc.reason)
        if exc.status == 404:
            message = f"no route for {request.method} {request.path}"
        response = error_response(ApiError(exc.status, code, message))
        if "Allow" in exc.headers:  # a 405 says which methods the path has (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", clean(request.method, 16), clean(request.path))
        return error_response(ApiError(500, "WF_INTERNAL", "internal error"))
