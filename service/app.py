"""The aiohttp application: middlewares, routes, start-up and shutdown."""

from __future__ import annotations

import logging

from aiohttp import web

from . import dispatcher, keys, live, metrics, observe, retention, run_waiters
from .auth import auth_middleware, authenticator_for
from .config import Settings
from .db import Database, Limits
from .errors import error_middleware
from .openapi import routes as openapi_routes
from .outbound import OutboundPolicy
from .routes import admin, analytics, encryption, events, health, hooks, run_actions, run_ops, runs
from .routes import queue as queue_routes
from .routes import streams as stream_routes
from .timeouts import body_deadline
from .validate import request_guard

log = logging.getLogger("pg_workflow")

def make_app(settings: Settings, database_url: str) -> web.Application:
    app = web.Application(
        middlewares=[
            observe.middleware(settings.access_log),  # outermost: sees every final status, times everything
            error_middleware,
            request_guard,  # safe path and query text
            auth_middleware,  # before the body is read: an unauthenticated client gets 401 without buffering
            body_deadline(settings.body_timeout, settings.max_body_bytes),  # the whole body, in time and size
        ],
        client_max_size=settings.max_body_bytes + 1,  # aiohttp refuses a body of exactly this size
    )
    app[keys.SETTINGS] = settings
    # Built here, not by the dispatcher: API-only replicas check registrations too (a bad CIDR stops the start).
    app[keys.OUTBOUND_POLICY] = OutboundPolicy.from_lists(settings.multi_tenant, settings.handler_allow_networks,
                                                          settings.handler_deny_networks)
    limits = Limits(pool_timeout=settings.pool_timeout, connect_timeout=settings.connect_timeout,
                    statement_timeout=settings.statement_timeout, lock_timeout=settings.lock_timeout,
                    service_statement_timeout=settings.service_statement_timeout,
                    service_lock_timeout=settings.service_lock_timeout)
    app[keys.DB] = Database(database_url, settings.pool_min_size, settings.pool_max_size, limits,
                            app_cap=settings.app_request_cap, app_cap_refresh_seconds=settings.app_quota_cache_seconds)
    app.on_response_prepare.append(observe.echo_request_id)
    app[keys.AUTHENTICATOR] = authenticator_for(settings)
    for module in (health, events, runs, hooks, admin):
        app.router.add_routes(module.routes)
    app.on_startup.append(_open_database)
    app.on_cleanup.append(_close_database)
    app.router.add_routes(stream_routes.routes)
    live.setup(app, database_url)  # stream listener: started on startup, stopped on cleanup
    app.router.add_routes(queue_routes.routes)
    app.router.add_routes(run_actions.routes)
    app.router.add_routes(encryption.routes)  # run encryption: secrets (admin) and run keys
    app.router.add_routes(run_ops.routes)  # DevKit 5 run operations: getMany, cancelMany, waitForTerminalStatus
    app.router.add_routes(analytics.routes)  # DevKit 5 analytics namespace (metadata only)
    run_waiters.setup(app, database_url, settings.run_waiters_per_app)  # terminal-status listener and long polls
    dispatcher.setup(app)  # queue dispatcher (unless WF_ENABLE_POLLER=false): started on startup, stopped on shutdown
    metrics.setup(app)  # GET /metrics
    retention.setup(app)  # purge job (unless WF_RETENTION_INTERVAL_SECONDS=0): started on startup, stopped on shutdown
    app.router.add_routes(openapi_routes)  # /openapi.json and /docs, generated from the routes' declared schemas
    return app


async def _open_database(app: web.Application) -> None:
    db: Database = app[keys.DB]
    await db.open()
    settings: Settings = app[keys.SETTINGS]
    if await db.admin_call("ensure_app", {"app_id": settings.default_app_id}):
        log.info("created the implicit app %r", settings.default_app_id)


async def _close_database(app: web.Application) -> None:
    await app[keys.AUTHENTICATOR].close()
    await app[keys.DB].close()
