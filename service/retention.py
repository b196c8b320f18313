"""The retention job (SPEC section 14): purges terminal runs, delivered
messages, dead letters, health-check streams and old enqueue counters on a
schedule, through the workflow.purge_* functions, and releases the hooks that
ended DevKit 5 runs kept past their end once their tokenRetentionUntil has
passed (workflow.release_kept_hooks).

Each call deletes one batch in its own short transaction and skips rows other
transactions hold (SKIP LOCKED), so the job never blocks live traffic for
long and several replicas can run it at once: they share the work instead of
waiting for each other. A kind of data whose age is 0 is kept forever.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from aiohttp import web

from . import keys
from .config import RetentionSettings
from .db import Database

log = logging.getLogger("pg_workflow.retention")

# Upper bound on batches per kind and round, so one round cannot run for ever
# while writers keep producing old data faster than we purge it.
_MAX_BATCHES_PER_ROUND = 1000
# How the log names what a query released rather than purged.
_KINDS = {"release_kept_hooks": "kept hooks released"}


class RetentionJob:
    def __init__(self, db: Database, settings: RetentionSettings) -> None:
        self._db = db
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    def purges(self) -> list[tuple[str, dict[str, float | int]]]:
        """(named query, parameters) of each enabled purge; a query with a batch runs until a batch comes back short."""
        s = self._settings
        ages = [("purge_runs", s.runs), ("purge_delivered_messages", s.delivered),
                ("purge_dead_letters", s.dead_letters), ("purge_health_check_streams", s.health_checks)]
        enabled: list[tuple[str, dict[str, float | int]]] = [
            (name, {"older_than_seconds": age, "batch": s.batch}) for name, age in ages if age > 0]
        # Kept hooks are released when their own retention says (always on: it is the hooks' rule, not an age).
        return [*enabled, ("release_kept_hooks", {"batch": s.batch}), ("purge_queue_rate", {})]

    async def run_once(self) -> dict[str, int]:
        """One round: every enabled purge, batch after batch until one comes back short. Returns the counts."""
        purged: dict[str, int] = {}
        for name, params in self.purges():
            total = 0
            for _ in range(_MAX_BATCHES_PER_ROUND):
                count = await self._db.admin_call(name, params)
                total += count
                if "batch" not in params or count < self._settings.batch:
                    break
            if total:
                purged[_KINDS.get(name, name.removeprefix("purge_"))] = total
        return purged

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.interval)
            try:
                purged = await self.run_once()
            except (psycopg.Error, OSError) as exc:  # a lock timeout, the database away: next round
                log.warning("retention round failed (%s); next one in %.0fs", exc, self._settings.interval)
                continue
            except Exception:
                log.exception("retention round failed; next one in %.0fs", self._settings.interval)
                continue
            if purged:
                log.info("retention purged %s", ", ".join(f"{n} {kind}" for kind, n in purged.items()))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="pg-workflow retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def setup(app: web.Application) -> None:
    """Runs the retention job for the app's lifetime unless WF_RETENTION_INTERVAL_SECONDS=0."""
    settings = RetentionSettings.from_env()
    if settings.interval <= 0:
        return
    job = RetentionJob(app[keys.DB], settings)

    async def start(app: web.Application) -> None:
        log.info("retention job every %.0fs: %s", settings.interval, settings)
        job.start()

    async def stop(app: web.Application) -> None:
        await job.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
