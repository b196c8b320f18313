"""The queue dispatcher (SPEC section 6): claims due messages and pushes them
to the deployments' handlers.

It waits on "a notification OR the next due time the database reported",
never on a fixed polling interval: delayed messages and lost leases send no
notification, so every claim also answers when the next message falls due.
After every (re)connect of its LISTEN connection it claims at once, since
notifications sent meanwhile are gone. Every replica may run one; claims are
leases taken with SKIP LOCKED, so there is no leader.

Claims belong to the dispatcher's database session: the LISTEN connection
holds the session's lock (workflow.open_dispatcher_session), and every
replica periodically reaps sessions whose lock is free, so a killed replica's
messages come back within seconds (at once when it restarts under the same
name); the lease only covers a dispatcher that hangs while connected. When
the LISTEN connection drops, claiming pauses until the session is resumed on
the new connection, which keeps its claims if it comes back within the grace
period. All rules (routing, serialisation per run, retries, dead letters,
sessions, fair order across apps, per-app shares, byte bounds) live in SQL;
this module moves bytes and keeps time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from aiohttp import web
from psycopg.types.json import Jsonb

from . import config, fastjson, keys, observe
from .db import Database
from .delivery import Deliverer
from .listener import Listener
from .outbound import OutboundPolicy
from .queries import QUERIES

log = logging.getLogger("pg_workflow.dispatcher")

# Due messages that another dispatcher's open claim transaction holds: look
# again shortly rather than spin while it commits.
_CONTENDED_RETRY = 0.05
_DB_ERROR_RETRY = 1.0
# Cap on the LISTEN connection's reconnect backoff: well inside the session grace period.
_SESSION_RECONNECT_DELAY = 1.0


@dataclass(frozen=True)
class DispatcherSettings:
    """Tuning from the WF_QUEUE_* / WF_HANDLER_* options (declared in config.OPTIONS, section dispatcher)."""

    concurrency: int
    batch_size: int
    handler_timeout: float
    lease_seconds: float
    max_attempts: int
    retry_base: float
    retry_max: float
    cooldown: float
    grace: float
    retention: float
    drain: float
    session_grace: float
    session_check: float
    max_answer_bytes: int
    resolve_timeout: float
    resolve_concurrency: int
    resolve_concurrency_per_app: int
    app_concurrency: int
    batch_bytes: int
    snapshot_max_bytes: int
    min_redelivery: float
    async_commit: bool
    acks_with_claims: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DispatcherSettings:
        values = config.read_section("dispatcher", env)
        if values["lease_seconds"] is None:
            # A lease outlives the slowest allowed answer, or a working delivery would be duplicated.
            values["lease_seconds"] = values["handler_timeout"] + 30
        if values["app_concurrency"] is None:
            # A quarter of the slots: a misbehaving app leaves three quarters to the others.
            values["app_concurrency"] = max(1, values["concurrency"] // 4)
        return cls(**values)

    def ack_params(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "retry_base_seconds": self.retry_base,
            "retry_max_seconds": self.retry_max,
            "cooldown_seconds": self.cooldown,
            "grace_seconds": self.grace,
            "retention_seconds": self.retention,
            "min_redelivery_seconds": self.min_redelivery,
            "synchronous_commit": self.synchronous_commit,
        }

    def claim_params(self) -> dict[str, Any]:
        return {
            "lease_seconds": self.lease_seconds,
            "grace_seconds": self.grace,
            "app_concurrency": self.app_concurrency,
            "batch_bytes": self.batch_bytes,
            "snapshot_max_bytes": self.snapshot_max_bytes,
            "synchronous_commit": self.synchronous_commit,
        }

    @property
    def synchronous_commit(self) -> str | None:
        """For the claim and ack transactions only ('off', or None: the server's setting); see queue.sql."""
        return "off" if self.async_commit else None


class Dispatcher:
    """LISTEN task + claim loop + delivery tasks + ack batcher of one replica."""

    def __init__(self, db: Database, settings: DispatcherSettings, policy: OutboundPolicy, name: str) -> None:
        self._db = db
        self._name = name  # the replica: a restart under the same name takes its dead session's claims at once
        self._session_id: int | None = None
        # After a reconnect, claim at once: notifications sent meanwhile are gone.
        # Reconnect quickly: the session must be resumed within its grace period.
        self._listener = Listener(db.url, "listen_queue", "dispatcher", self._on_notify, lambda: self._wake_in(0),
                                  prepare=self._attach_session, max_reconnect_delay=_SESSION_RECONNECT_DELAY)
        self._settings = settings
        self._deliverer = Deliverer(settings.concurrency, settings.handler_timeout, policy,
                                    max_answer_bytes=settings.max_answer_bytes,
                                    resolve_timeout=settings.resolve_timeout,
                                    resolve_concurrency=settings.resolve_concurrency,
                                    resolve_concurrency_per_app=settings.resolve_concurrency_per_app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due_at = 0.0  # loop time at which to claim next (inf: when notified)
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._claims: dict[int, int] = {}  # seq -> attempt of claims not yet settled
        # Some app was at its share of the slots (WF_QUEUE_APP_CONCURRENCY) at
        # the last claim: once one of its deliveries is settled its due
        # messages may be claimable, so claim again then.
        self._apps_at_share = False
        # The last claim failed with an error of the data (not of the moment):
        # claim one message at a time, so the row that fails is set aside.
        self._one_at_a_time = False
        self._deliveries: set[asyncio.Task[None]] = set()
        self._acks: list[dict[str, Any]] = []
        self._ack_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ack_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        log.info("dispatcher starting: %s", asdict(self._settings))
        self._loop = asyncio.get_running_loop()
        await self._deliverer.open()
        self._ack_task = asyncio.create_task(self._ack_forever(), name="pg-workflow queue acks")
        self._tasks = [
            asyncio.create_task(self._listener.run_forever(), name="pg-workflow queue listener"),
            asyncio.create_task(self._claim_forever(), name="pg-workflow queue claims"),
            asyncio.create_task(self._reap_forever(), name="pg-workflow queue session reaper"),
        ]

    async def stop(self) -> None:
        """Stop claiming, let deliveries finish for a moment, settle what finished, give back the rest.

        The LISTEN connection (and so the session's lock) stays open until the
        session is closed: other replicas must not hand back claims that are
        still being delivered here.
        """
        listener, *others = self._tasks
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=self._settings.drain)
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self._ack_task is not None:
            self._ack_task.cancel()
            await asyncio.gather(self._ack_task, return_exceptions=True)
        with contextlib.suppress(psycopg.Error, OSError):
            await self._flush_acks()
        if self._claims:
            claims = [{"seq": seq, "attempt": attempt} for seq, attempt in self._claims.items()]
            with contextlib.suppress(psycopg.Error, OSError):
                released = await self._db.admin_call("release_messages", {"claims": Jsonb(claims)})
                log.info("released %s unfinished deliveries", released)
        if self._session_id is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._db.admin_call("close_dispatcher_session", {"session_id": self._session_id})
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await self._deliverer.close()

    # -- the claim session -------------------------------------------------

    async def _attach_session(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """On every (re)connect of the LISTEN connection: resume our session there, or open a new one."""
        if self._session_id is not None:
            row = await (await conn.execute(QUERIES["resume_dispatcher_session"],
                                            {"session_id": self._session_id})).fetchone()
            if row is not None and row[0]:
                log.info("resumed dispatcher session %s", self._session_id)
                return
            log.warning("dispatcher session %s was taken over while disconnected: its %s deliveries in flight "
                        "may be delivered again", self._session_id, len(self._claims))
        row = await (await conn.execute(QUERIES["open_dispatcher_session"], {"name": self._name})).fetchone()
        assert row is not None
        self._session_id = row[0]
        log.info("opened dispatcher session %s as %s", self._session_id, self._name)

    async def _reap_forever(self) -> None:
        """Hands back the claims of sessions whose connection is gone (every replica does it; SKIP LOCKED)."""
        while True:
            await asyncio.sleep(self._settings.session_check)
            try:
                reaped = await self._db.admin_call("reap_dispatcher_sessions",
                                                   {"grace_seconds": self._settings.session_grace})
            except (psycopg.Error, OSError) as exc:
                log.warning("reaping dispatcher sessions failed (%s)", exc)
                continue
            if reaped:
                log.warning("handed back %s claims of dispatcher sessions that ended", reaped)

    # -- waking up ---------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None, "Dispatcher.start() first"
        return self._loop.time()

    def _wake_in(self, seconds: float) -> None:
        self._due_at = min(self._due_at, self._now() + max(seconds, 0.0))
        self._wake.set()

    def _on_notify(self, payload: str) -> None:
        try:
            ms = int(payload)
        except ValueError:
            ms = 0
        self._wake_in(ms / 1000)

    async def _until_due(self) -> None:
        while True:
            delay = self._due_at - self._now()
            if delay <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if math.isinf(delay) else delay)

    @property
    def listening(self) -> bool:
        return self._listener.listening

    # -- claiming ----------------------------------------------------------

    async def _claim_forever(self) -> None:
        settings = self._settings
        while True:
            await self._until_due()
            free = settings.concurrency - len(self._deliveries)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            limit = min(settings.batch_size, free)
            self._due_at = math.inf  # notifications during the claim lower it again
            if self._session_id is None or not self._listener.listening:
                continue  # no session to claim for: the (re)connect wakes us
            params = {"session_id": self._session_id, "limit": limit, "one_at_a_time": self._one_at_a_time,
                      **settings.claim_params()}
            # Results the ack task has not taken yet (it is busy settling others) are settled by this claim.
            acks, self._acks = (self._acks, []) if settings.acks_with_claims and self._acks else ([], self._acks)
            try:
                text = await self._claim(params, acks)
            except (psycopg.Error, OSError) as exc:
                if not acks:  # with acks, the failure says nothing about the claimed rows alone
                    self._one_at_a_time = _about_the_data(exc)
                log.warning("claiming failed (%s); retrying in %.1fs%s", exc, _DB_ERROR_RETRY,
                            " one message at a time" if self._one_at_a_time else "")
                self._wake_in(_DB_ERROR_RETRY)
                continue
            except Exception:  # never let a bug end the loop: leases bring the messages back
                log.exception("claiming failed; retrying in %.1fs", _DB_ERROR_RETRY)
                self._wake_in(_DB_ERROR_RETRY)
                continue
            self._one_at_a_time = False
            result = fastjson.loads_text(text)
            deliveries: list[dict[str, Any]] = result["deliveries"]
            for claim in deliveries:
                self._start(claim)
            next_due: float | None = result["nextDueIn"]
            self._apps_at_share = bool(result.get("appsAtShare"))
            if len(deliveries) >= limit:
                self._wake_in(0)  # probably more due
            elif next_due is not None:
                self._wake_in(next_due if next_due > 0 or deliveries else _CONTENDED_RETRY)

    async def _claim(self, params: dict[str, Any], acks: list[dict[str, Any]]) -> str:
        """One claim, settling ``acks`` first in the same transaction; on any failure they go back to the ack task
        (settling one twice is harmless: a result only counts for a message still claimed at that attempt)."""
        if not acks:
            return str(await self._db.admin_call("claim_messages", params))
        try:
            text = await self._db.admin_call("settle_and_claim", {
                **params, **self._settings.ack_params(), "results": Jsonb(acks, fastjson.dumps)})
        except BaseException:
            self._acks[:0] = acks
            self._ack_wake.set()
            raise
        self._settled(acks)
        return str(text)

    def _start(self, claim: dict[str, Any]) -> None:
        self._claims[claim["seq"]] = claim["attempt"]
        task = asyncio.create_task(self._deliver(claim))
        self._deliveries.add(task)
        task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._slot_free.set()

    async def _deliver(self, claim: dict[str, Any]) -> None:
        claimed_at = time.time()
        try:
            outcome = await self._deliverer.deliver(claim)
        except Exception as exc:  # a bug here must not strand the claim until its lease ends
            log.exception("delivery of %s crashed", claim["messageId"])
            outcome = {"outcome": "failed", "error": f"dispatcher error: {exc!r}"}
        observe.delivery_finished(claim, outcome, claimed_at)  # one log line and the dispatch metrics
        self._acks.append({"seq": claim["seq"], "attempt": claim["attempt"], "podId": claim["podId"], **outcome})
        self._ack_wake.set()

    # -- settling ----------------------------------------------------------

    async def _ack_forever(self) -> None:
        """One ack call at a time: results that finish meanwhile go in the next batch."""
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            try:
                await self._flush_acks()
            except Exception as exc:
                # Unsettled claims stay leased; try again (their leases cover the wait).
                log.warning("settling deliveries failed (%s); retrying in %.1fs", exc, _DB_ERROR_RETRY)
                await asyncio.sleep(_DB_ERROR_RETRY)
                self._ack_wake.set()

    async def _flush_acks(self) -> None:
        while self._acks:
            batch, self._acks = self._acks, []
            try:
                await self._db.admin_call("ack_messages", {"results": Jsonb(batch, fastjson.dumps),
                                                           **self._settings.ack_params()})
            except BaseException:
                self._acks[:0] = batch
                raise
            self._settled(batch)

    def _settled(self, batch: list[dict[str, Any]]) -> None:
        """Bookkeeping once a batch of results is settled (by an ack or a claim)."""
        for result in batch:
            if self._claims.get(result["seq"]) == result["attempt"]:
                del self._claims[result["seq"]]
        if self._apps_at_share:
            # The claim counts an app's unsettled claims against its share:
            # now that some are settled, its due messages may be claimable
            # (nothing else would say so: a settled delivery sends no NOTIFY).
            self._wake_in(0)




def _about_the_data(exc: BaseException) -> bool:
    """Whether a failed claim may have failed because of one row (so claiming one at a time sets it aside).

    Not for errors of the moment: serialization and deadlocks (40), resources (53), locks (55), cancellation and
    shutdown (57), system (58), internal (XX), connections (08 or no SQLSTATE), and the claim's own refusals (PW,
    e.g. a lost session).
    """
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state[:2] not in {"40", "53", "55", "57", "58", "XX", "08", "PW"}


def setup(app: web.Application) -> None:
    """Runs a dispatcher for the app's lifetime unless WF_ENABLE_POLLER=false.

    Registered after the database's start-up hook; stopped on shutdown, while
    the pool is still open to settle and release its claims.
    """
    if not app[keys.SETTINGS].enable_poller:
        return
    settings = app[keys.SETTINGS]
    policy = app[keys.OUTBOUND_POLICY]
    log.info("outbound policy for deliveries: %s", policy.describe())
    name = settings.replica_name or f"{socket.gethostname()}:{settings.port}"
    dispatcher = Dispatcher(app[keys.DB], DispatcherSettings.from_env(), policy, name)
    app[keys.DISPATCHER] = dispatcher

    async def start(app: web.Application) -> None:
        await dispatcher.start()

    async def stop(app: web.Application) -> None:
        await dispatcher.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
