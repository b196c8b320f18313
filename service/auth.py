"""Who may act for which app.

Single-tenant mode (no service-account token file): no authentication, every
request may use any app that exists (by default only the implicit one).
Multi-tenant mode (Kubernetes TokenReview) plugs in here as another Authorizer.
Isolation itself is enforced by PostgreSQL row-level security: the app id
chosen here becomes the transaction's workflow.app_id.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from . import keys


class Authorizer(Protocol):
    async def authorize(self, request: web.Request, app_id: str) -> None:
        """Raise ApiError(401/403) unless the caller may act for app_id."""


class SingleTenant:
    async def authorize(self, request: web.Request, app_id: str) -> None:
        return None


@web.middleware
async def tenant_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    app_id = request.match_info.get("appId")
    if app_id is not None:
        await request.app[keys.AUTHORIZER].authorize(request, app_id)
        request[keys.APP_ID] = app_id
    return await handler(request)
