"""Typed keys of what the application and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
DB = web.AppKey("db", "Database")
# Single-tenant or Kubernetes (service/auth.py): who the caller is.
AUTHENTICATOR = web.AppKey("authenticator", Any)
# Where deliveries may connect (service/outbound.py): judged at registration and at every delivery.
OUTBOUND_POLICY = web.AppKey("outbound_policy", Any)
# The dispatcher of this replica, when enabled (its ``listening`` feeds /ready).
DISPATCHER = web.AppKey("dispatcher", Any)
# The app id a request acts for, set by the auth middleware.
APP_ID = web.RequestKey("app_id", str)
# "namespace:serviceaccount" that workflow.request_context checks against the app's bindings (None: unrestricted).
PRINCIPAL = web.RequestKey("principal", Any)
