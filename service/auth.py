"""Who is calling, and may they call this route (SPEC sections 8 and 14).

The mode is WF_MODE's, or with WF_MODE=auto the token file's (config.Settings.tenancy,
which refuses a mode that contradicts the environment).

Single-tenant mode: no authentication; every caller acts for any app with the
service's full rights.

Multi-tenant mode: every request except the public probes carries
``Authorization: Bearer <Kubernetes service-account token>`` issued for the
service's audience (WF_TOKEN_AUDIENCE), checked with the TokenReview API
(service/token_review.py). The service account
``system:serviceaccount:<ns>:<name>`` becomes the principal ``ns:name``. Which
apps a principal may act for is decided by PostgreSQL in the request's own
statement (workflow.request_context refuses an unbound app with 403), so the
check and the work are one transaction. The admin service account
(K8S_ADMIN_SERVICE_ACCOUNT) may call the admin routes and act for any app
(its principal is NULL); for everyone else admin routes are 403.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from . import keys
from .config import SINGLE_TENANT, ConfigError, Settings
from .errors import ApiError
from .token_review import ReviewCache, TokenReviewer

log = logging.getLogger("pg_workflow.auth")

# Probes and descriptions that orchestrators and scrapers call without credentials.
PUBLIC_PATHS = frozenset({"/status", "/ready", "/metrics", "/openapi.json", "/docs"})
_SA_PREFIX = "system:serviceaccount:"
# A service-account JWT is ~1-2 KB; anything far larger is not one (and is not sent on).
_MAX_TOKEN_CHARS = 16 * 1024

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[web.StreamResponse]])


def admin_only(handler: Handler) -> Handler:
    """Marks a route as an admin endpoint: in multi-tenant mode only the admin service account may call it."""
    handler.admin_only = True  # type: ignore[attr-defined]
    return handler


def _is_admin_route(request: web.Request) -> bool:
    return bool(getattr(request.match_info.handler, "admin_only", False))


@dataclass(frozen=True)
class Caller:
    """principal: "namespace:serviceaccount" that SQL checks against the app's bindings; None = unrestricted."""

    principal: str | None
    admin: bool


UNRESTRICTED = Caller(principal=None, admin=True)


class Authenticator(Protocol):
    mode: str

    async def identify(self, request: web.Request) -> Caller:
        """The caller of a non-public request, or ApiError 401/403/503."""

    async def close(self) -> None: ...


class SingleTenant:
    mode = "single-tenant"

    async def identify(self, request: web.Request) -> Caller:
        return UNRESTRICTED

    async def close(self) -> None:
        return None


def principal_of(username: str) -> str | None:
    """``system:serviceaccount:ns:name`` → ``ns:name``; None for any other kind of user."""
    if not username.startswith(_SA_PREFIX):
        return None
    namespace, sep, name = username[len(_SA_PREFIX):].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return f"{namespace}:{name}"


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "WF_UNAUTHENTICATED",
                       "missing credentials: send Authorization: Bearer <Kubernetes service-account token>")
    if len(token) > _MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
        raise ApiError(401, "WF_UNAUTHENTICATED", "the bearer token is not a service-account token")
    return token


class KubernetesTenants:
    """Multi-tenant mode: TokenReview (cached, single-flight) → principal."""

    mode = "multi-tenant"

    def __init__(self, reviews: ReviewCache, admin_service_account: str | None, audiences: tuple[str, ...]) -> None:
        self._reviews = reviews
        self._admin = admin_service_account
        self._audiences = audiences

    async def identify(self, request: web.Request) -> Caller:
        username = await self._reviews.username(bearer_token(request))
        if username is None:
            raise ApiError(401, "WF_UNAUTHENTICATED",
                           "the bearer token was not accepted by the Kubernetes API for audience "
                           f"{' or '.join(self._audiences)} (send a projected service-account token issued for it)",
                           {"audiences": list(self._audiences)})
        principal = principal_of(username)
        if principal is None:
            raise ApiError(403, "WF_FORBIDDEN", "only Kubernetes service accounts may call pg-workflow",
                           {"user": username})
        if principal == self._admin:
            return UNRESTRICTED
        return Caller(principal=principal, admin=False)

    async def close(self) -> None:
        await self._reviews.close()


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    caller = await request.app[keys.AUTHENTICATOR].identify(request)
    if _is_admin_route(request) and not caller.admin:
        raise ApiError(403, "WF_FORBIDDEN", "only the admin service account may call this endpoint")
    app_id = request.match_info.get("appId")
    if app_id is not None:
        request[keys.APP_ID] = app_id
        request[keys.PRINCIPAL] = caller.principal
    return await handler(request)


def authenticator_for(settings: Settings) -> Authenticator:
    """The authenticator of the mode ``Settings.tenancy`` settles on (ConfigError when it contradicts the
    environment); the start-up log says which mode and why."""
    tenancy = settings.tenancy()
    if tenancy.mode == SINGLE_TENANT:
        log.info("single-tenant mode (%s): requests are not authenticated", tenancy.reason)
        return SingleTenant()
    if not settings.token_audiences:
        raise ConfigError("WF_TOKEN_AUDIENCE names no audience")
    reviewer = TokenReviewer(settings.k8s_api_server, settings.k8s_service_account_dir, settings.k8s_review_timeout,
                             settings.token_audiences)
    reviews = ReviewCache(reviewer.review, settings.auth_cache_seconds, settings.auth_cache_entries, reviewer.close)
    log.info("multi-tenant mode (%s): bearer tokens for audience %s checked by TokenReview at %s; "
             "admin service account %s", tenancy.reason, " or ".join(settings.token_audiences),
             settings.k8s_api_server, settings.k8s_admin_service_account or "(none)")
    return KubernetesTenants(reviews, settings.k8s_admin_service_account, settings.token_audiences)
