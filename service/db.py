"""Connection pool and the one-transaction-per-request call helper."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from .queries import QUERIES

log = logging.getLogger("pg_workflow.db")


class Database:
    """The service's pool. ``call`` is how every API request reaches SQL."""

    def __init__(self, url: str, min_size: int = 2, max_size: int = 20) -> None:
        self.url = url
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "application_name": "pg-workflow"},
            open=False,
            name="pg-workflow",
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def call(self, name: str, params: dict[str, Any], app_id: str | None = None) -> Any:
        """Run query ``name`` in its own transaction and return the first column of its row.

        With ``app_id`` the transaction first takes the tenant role and app
        context, so row-level security confines it to that app's rows. The
        statements are pipelined: one round trip for the request's work.
        """
        row = await self.call_row(name, params, app_id)
        return None if row is None else row[0]

    async def call_row(self, name: str, params: dict[str, Any], app_id: str | None = None) -> tuple[Any, ...] | None:
        """Like ``call`` but returns the whole first row (e.g. raw bytes next to their position)."""
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            if app_id is not None:
                await conn.execute(QUERIES["set_request_context"], {"app_id": app_id})
            cur = await conn.execute(QUERIES[name], params)
            return await cur.fetchone()

    async def admin_call(self, name: str, params: dict[str, Any]) -> Any:
        """Like ``call`` but as the service's own role (startup, dispatcher bookkeeping)."""
        return await self.call(name, params, app_id=None)

    async def ready(self) -> bool:
        try:
            return bool(await self.admin_call("schema_ready", {}))
        except (psycopg.Error, OSError) as exc:
            log.warning("readiness check failed: %s", exc)
            return False
