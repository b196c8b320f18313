"""Connection pools and the one-statement-per-request call helper."""

from __future__ import annotations

import asyncio
import logging
import select
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import config
from .capacity import AppCapacity
from .errors import DatabaseUnreachable, PoolBusy, from_database
from .queries import QUERIES

log = logging.getLogger("pg_workflow.db")

TENANT_ROLE = "pgw_tenant"
# Tenant statements scope and authorize themselves:
#   FROM workflow.request_context(%(app_id)s, %(principal)s) AS ctx
# (a non-NULL principal without a binding to the app is refused there, 403).
_SCOPED = "workflow.request_context(%(app_id)s, %(principal)s)"
# The service's statements are short and planned generically inside its
# functions; as tables grow, a generic plan's estimated cost passes
# jit_above_cost and every call would pay milliseconds of JIT compilation for
# nothing (seen with 1M stored runs: a 0.2 ms claim took 8-10 ms). Analysts'
# own connections keep JIT.
_NO_JIT = "SET jit = off"
# TCP keepalives notice a silently dead server; the libpq defaults never would.
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# A pool gives up re-adding a lost connection after this long; the next request
# then connects at once instead of waiting out an ever longer backoff, so the
# service is back within moments of PostgreSQL.
_RECONNECT_GIVE_UP_SECONDS = 5.0
# /ready answers within this, whatever the database does (Kubernetes probes
# give up after 1 s by default): a check still running then is reported as
# "not ready" and keeps running in the background, where the next /ready finds it.
READINESS_BUDGET_SECONDS = 0.5
# The part of it a check may wait for a pooled connection (a closed port or a
# server that never answers leaves the pool empty).
_READINESS_POOL_WAIT_SECONDS = 0.4


@dataclass(frozen=True)
class Limits:
    """How long a request may wait for a connection, a lock and its statement (seconds; 0 = no limit).

    The defaults are the options' (config.OPTIONS); app.py passes the configured values.
    """

    pool_timeout: float = config.BY_ENV["WF_DB_POOL_TIMEOUT_SECONDS"].default
    connect_timeout: int = config.BY_ENV["WF_DB_CONNECT_TIMEOUT_SECONDS"].default
    statement_timeout: float = config.BY_ENV["WF_DB_STATEMENT_TIMEOUT_SECONDS"].default
    lock_timeout: float = config.BY_ENV["WF_DB_LOCK_TIMEOUT_SECONDS"].default
    # The service's own pool (dispatcher, retention, metrics, admin API): no
    # statement of it may wait forever on a lock a tenant request holds.
    service_statement_timeout: float = config.BY_ENV["WF_SERVICE_STATEMENT_TIMEOUT_SECONDS"].default
    service_lock_timeout: float = config.BY_ENV["WF_SERVICE_LOCK_TIMEOUT_SECONDS"].default


class _PoolHealth:
    """Whether a pool's most recent connection attempts failed (database unreachable) or not (just busy)."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool[Any] | None = None
        self._errors_when_last_connected = 0

    def connected(self) -> None:
        if self.pool is not None:
            self._errors_when_last_connected = self.pool.get_stats().get("connections_errors", 0)

    @property
    def failing(self) -> bool:
        if self.pool is None:
            return False
        return self.pool.get_stats().get("connections_errors", 0) > self._errors_when_last_connected


async def _still_usable(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether a pooled connection still works, without a round trip in the common case.

    An idle connection receives nothing unless the server is closing it
    (restart, admin termination, idle timeout): then its socket is readable
    and one round trip finds out. (psycopg_pool's own ``check=`` would work
    too, but it sleeps 1 s, 2 s, 4 s… between failed checks, so after a
    restart a request would wait out a backoff per dead connection.)
    """
    if conn.closed or conn.broken:
        return False
    poller = select.poll()  # not select.select: descriptors above 1024 are common in a busy server
    poller.register(conn.pgconn.socket, select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        await conn.execute("")
    except psycopg.Error:
        return False
    return True


class Database:
    """Two pools: tenant connections (role pgw_tenant, row-level security
    applies, per-statement lock and statement timeouts) for API requests, and
    the service's own for start-up, readiness, metrics and the dispatcher.
    ``call`` is how every request reaches SQL."""

    def __init__(self, url: str, min_size: int = 2, max_size: int = 20, limits: Limits | None = None,
                 app_cap: int = 0, app_cap_refresh_seconds: float = 5.0) -> None:
        self.url = url
        self.limits = limits or Limits()
        # Per-app cap on tenant requests (quota maxConcurrentRequests), checked before taking a connection.
        self.capacity = AppCapacity(app_cap, app_cap_refresh_seconds, self._load_request_caps)
        kwargs = {"autocommit": True, "application_name": "pg-workflow",
                  "connect_timeout": self.limits.connect_timeout, **_KEEPALIVE}
        self._tenant_health = _PoolHealth()
        self._admin_health = _PoolHealth()
        # Set once per connection, so the timeouts cost no round trip per request.
        self._tenant_setup = (
            f"{_NO_JIT}; SET ROLE {TENANT_ROLE}; "
            f"SET statement_timeout = {int(self.limits.statement_timeout * 1000)}; "
            f"SET lock_timeout = {int(self.limits.lock_timeout * 1000)}"
        )
        self._admin_setup = (
            f"{_NO_JIT}; SET statement_timeout = {int(self.limits.service_statement_timeout * 1000)}; "
            f"SET lock_timeout = {int(self.limits.service_lock_timeout * 1000)}"
        )
        common = {"kwargs": kwargs, "open": False, "timeout": self.limits.pool_timeout,
                  "reconnect_timeout": _RECONNECT_GIVE_UP_SECONDS}
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, configure=self._become_tenant,
            name="pg-workflow-tenant", **common,  # type: ignore[arg-type]
        )
        self.admin_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=max(4, max_size // 4), configure=self._admin_connected,
            name="pg-workflow-admin", **common,  # type: ignore[arg-type]
        )
        self._tenant_health.pool = self.pool
        self._admin_health.pool = self.admin_pool
        self._readiness_check: asyncio.Future[tuple[bool, str | None]] | None = None
        self._readiness_started = 0.0

    async def open(self) -> None:
        await self.admin_pool.open(wait=True, timeout=30)
        await self.pool.open(wait=True, timeout=30)
        await self.capacity.refresh()

    async def close(self) -> None:
        if self._readiness_check is not None:
            self._readiness_check.cancel()  # not awaited: it may be stuck on a server that never answers
        await self.capacity.close()
        await self.pool.close()
        await self.admin_pool.close()

    async def _become_tenant(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(self._tenant_setup)
        self._tenant_health.connected()

    async def _admin_connected(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(self._admin_setup)
        self._admin_health.connected()

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
            async with _Lend(self.admin_pool, self._admin_health) as conn:
                return await (await conn.execute(query, params)).fetchone()
        if _SCOPED not in query:
            raise ValueError(f"query {name!r} is used for a tenant but does not select FROM {_SCOPED}")
        with self.capacity.slot(app_id):  # 429 at once beyond the app's cap: it cannot take the others' connections
            async with _Lend(self.pool, self._tenant_health) as conn:
                scoped = {**params, "app_id": app_id, "principal": principal}
                return await (await conn.execute(query, scoped)).fetchone()

    async def _load_request_caps(self) -> str | None:
        return await self.call("request_caps", {})

    async def admin_call(self, name: str, params: dict[str, Any]) -> Any:
        """Like ``call`` but as the service's own role (start-up, dispatcher bookkeeping)."""
        return await self.call(name, params, app_id=None)

    async def readiness(self) -> tuple[bool, str | None]:
        """(ready, reason): the database answers and the schema is deployed, within READINESS_BUDGET_SECONDS.

        One check at a time: concurrent probes share it, and a check that
        outlives the budget (a server that accepts connections but never
        answers, so neither connect_timeout nor statement_timeout helps) is
        not cancelled — psycopg would wait for the server to acknowledge the
        cancel — but left to finish in the background, holding at most one
        connection, while every /ready in the meantime answers "not ready" in time.
        """
        check = self._readiness_check
        if check is None or check.done():
            check = self._readiness_check = asyncio.ensure_future(self._check_readiness())
            check.add_done_callback(_retrieve)
            self._readiness_started = time.monotonic()
        try:
            return await asyncio.wait_for(asyncio.shield(check), READINESS_BUDGET_SECONDS)
        except TimeoutError:
            waited = time.monotonic() - self._readiness_started
            return False, f"the database has not answered a readiness check for {waited:.1f} s"

    async def _check_readiness(self) -> tuple[bool, str | None]:
        try:
            async with _Lend(self.admin_pool, self._admin_health, _READINESS_POOL_WAIT_SECONDS) as conn:
                deployed = (await (await conn.execute(QUERIES["schema_ready"])).fetchone() or (False,))[0]
            if not deployed:
                return False, "schema not deployed (workflow.create_event is missing)"
        except psycopg.Error as exc:
            err = from_database(exc)
            return False, err.message if err is not None else f"database error: {_one_line(exc)}"
        except OSError as exc:
            return False, f"database error: {_one_line(exc)}"
        return True, None


class _Lend:
    """``async with``: a pooled connection, or an error saying why none came within the pool timeout.

    DatabaseUnreachable (503 WF_DB_UNAVAILABLE) when the pool's recent
    connection attempts failed, PoolBusy (503 WF_BUSY) when every connection
    is simply in use.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], health: _PoolHealth, timeout: float | None = None) -> None:
        self._pool = pool
        self._health = health
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        deadline = time.monotonic() + (self._pool.timeout if self._timeout is None else self._timeout)
        try:
            # After a restart every idle connection is dead: discard each (the pool
            # replaces it in the background) until a live or new one comes.
            while True:
                conn = await self._pool.getconn(max(deadline - time.monotonic(), 0.001))
                if await _still_usable(conn):
                    self._conn = conn
                    return conn
                log.info("discarding a pooled connection the server closed")
                await self._pool.putconn(conn)
        except PoolTimeout:
            # psycopg errors, so the dispatcher's retry loops treat them as the outages they are
            if self._health.failing:
                raise DatabaseUnreachable("no database connection could be opened") from None
            raise PoolBusy(f"no free connection in pool {self._pool.name!r}") from None

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._pool.putconn(self._conn)


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Marks a background future's failure as seen (no "exception was never retrieved" at exit)."""
    if not done.cancelled():
        done.exception()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
