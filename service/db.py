"""Connection pools and the one-statement-per-request call helper."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from .queries import QUERIES

log = logging.getLogger("pg_workflow.db")

TENANT_ROLE = "pgw_tenant"
# Tenant statements scope and authorize themselves:
#   FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx
# (a non-NULL principal without a binding to the app is refused there, 403).
_SCOPED = "workflow.request_context(%(app_id)s, %(principal)s)"


class Database:
    """Two pools: tenant connections (role pgw_tenant, row-level security
    applies) for API requests, and the service's own for start-up and the
    dispatcher. ``call`` is how every request reaches SQL."""

    def __init__(self, url: str, min_size: int = 2, max_size: int = 20) -> None:
        self.url = url
        kwargs = {"autocommit": True, "application_name": "pg-workflow"}
        self.pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, kwargs=kwargs, configure=_become_tenant,
            open=False, name="pg-workflow-tenant",
        )
        self.admin_pool = AsyncConnectionPool(
            url, min_size=1, max_size=max(4, max_size // 4), kwargs=kwargs, open=False, name="pg-workflow-admin",
        )

    async def open(self) -> None:
        await self.admin_pool.open(wait=True, timeout=30)
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()
        await self.admin_pool.close()

    async def call(self, name: str, params: dict[str, Any], app_id: str | None = None,
                   principal: str | None = None) -> Any:
        """Run query ``name`` and return the first column of its first row."""
        row = await self.call_row(name, params, app_id, principal)
        return None if row is None else row[0]

    async def call_row(self, name: str, params: dict[str, Any], app_id: str | None = None,
                       principal: str | None = None) -> tuple[Any, ...] | None:
        """Run query ``name`` as one statement (so one transaction, one round trip) and return its first row.

        With ``app_id`` it runs on a tenant connection and the statement scopes
        itself to that app, so row-level security confines it to the app's rows;
        with ``principal`` ("namespace:serviceaccount") the same statement
        refuses (403) unless that service account is bound to the app.
        """
        query = QUERIES[name]
        if app_id is None:
            async with self.admin_pool.connection() as conn:
                return await (await conn.execute(query, params)).fetchone()
        if _SCOPED not in query:
            raise ValueError(f"query {name!r} is used for a tenant but does not select FROM {_SCOPED}")
        async with self.pool.connection() as conn:
            return await (await conn.execute(query, {**params, "app_id": app_id, "principal": principal})).fetchone()

    async def admin_call(self, name: str, params: dict[str, Any]) -> Any:
        """Like ``call`` but as the service's own role (start-up, dispatcher bookkeeping)."""
        return await self.call(name, params, app_id=None)

    async def ready(self) -> bool:
        try:
            return bool(await self.admin_call("schema_ready", {}))
        except (psycopg.Error, OSError) as exc:
            log.warning("readiness check failed: %s", exc)
            return False


async def _become_tenant(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(f"SET ROLE {TENANT_ROLE}")
