"""Prometheus metrics (SPEC section 9): GET /metrics, no auth.

Labels are bounded: routes are templates (``/api/v1/apps/{appId}/runs/{runId}``),
never ids; event types come from the known set (anything else is ``other``);
outcomes and methods are fixed sets. Queue depth, active runs, queue lag and
the dead-letter count come from ``workflow.metrics_snapshot()`` (index-only
counts), read at most every WF_METRICS_CACHE_SECONDS whatever the scrape rate;
those are the same on every replica (aggregate them with max, not sum).

Several processes on one port: with PROMETHEUS_MULTIPROC_DIR set (before
start), counters and histograms of all of them are summed through the
directory (prometheus-client multiprocess mode); database gauges are global
anyway; wf_db_pool_* and process metrics then describe the answering process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import keys
from .db import Database
from .validate import Args, operation

log = logging.getLogger("pg_workflow.metrics")

EVENT_TYPES = frozenset({
    "run_created", "run_started", "run_completed", "run_failed", "run_cancelled",
    "step_created", "step_started", "step_completed", "step_failed", "step_retrying",
    "hook_created", "hook_received", "hook_disposed", "hook_conflict",
    "wait_created", "wait_completed", "attr_set",
})
OUTCOMES = frozenset({"done", "timeout", "failed", "refused"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

EVENTS_CREATED = Counter("wf_events_created", "Events appended, by event type.", ["type"])
RUNS_CREATED = Counter("wf_runs_created", "Runs created (run_created events appended).")
MESSAGES_DISPATCHED = Counter("wf_messages_dispatched", "Queue deliveries by outcome (done, timeout = redelivery "
                              "asked, failed, refused = connection refused).", ["outcome"])
DELIVERIES_REPEATED = Counter("wf_deliveries_repeated", "Deliveries of a message this replica had already "
                              "delivered successfully (a claim or ack lost in a database crash, see "
                              "WF_QUEUE_ASYNC_COMMIT, or a lease that ran out during the delivery); remembered for "
                              "the replica's last 16384 successful deliveries.")
DISPATCH_LATENCY = Histogram("wf_dispatch_latency_seconds", "From a message falling due (or, when the claim does "
                             "not say, from its claim) to its handler's answer.", buckets=_LATENCY_BUCKETS)
HTTP_DURATION = Histogram("wf_http_request_duration_seconds", "HTTP requests by route template, method and status.",
                          ["route", "method", "status"], buckets=_LATENCY_BUCKETS)


# The labelled children the hot paths use, by their (bounded) label values, each made on first use as before:
# ``labels()`` checks and locks on every call, a dict lookup does not. Same series, same values.
_EVENT_CHILDREN: dict[str, Any] = {}
_OUTCOME_CHILDREN: dict[str, Any] = {}
_HTTP_CHILDREN: dict[tuple[str, str, int], Any] = {}  # (route template, method or OTHER, status)


def event_created(event_type: object) -> None:
    label = event_type if isinstance(event_type, str) and event_type in EVENT_TYPES else "other"
    child = _EVENT_CHILDREN.get(label)
    if child is None:
        child = _EVENT_CHILDREN[label] = EVENTS_CREATED.labels(label)
    child.inc()
    if label == "run_created":
        RUNS_CREATED.inc()


def delivery_finished(outcome: str, latency: float, repeated: bool = False) -> None:
    label = outcome if outcome in OUTCOMES else "failed"
    child = _OUTCOME_CHILDREN.get(label)
    if child is None:
        child = _OUTCOME_CHILDREN[label] = MESSAGES_DISPATCHED.labels(label)
    child.inc()
    if repeated:
        DELIVERIES_REPEATED.inc()
    DISPATCH_LATENCY.observe(max(latency, 0.0))


def request_finished(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "OTHER"
    key = (route, method, status)
    child = _HTTP_CHILDREN.get(key)
    if child is None:  # routes are templates, methods and statuses few: the dict stays small
        child = _HTTP_CHILDREN[key] = HTTP_DURATION.labels(route, method, str(status))
    child.observe(seconds)


class DatabaseGauges(Collector):
    """The figures of workflow.metrics_snapshot(), refreshed by ``refresh`` before a scrape renders them."""

    def __init__(self, db: Database, max_age: float) -> None:
        self._db = db
        self._max_age = max_age
        self._snapshot: dict[str, float] | None = None
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()
        self.error: str | None = None

    async def refresh(self) -> None:
        async with self._lock:  # concurrent scrapes share one query
            if time.monotonic() - self._read_at < self._max_age:
                return
            self._read_at = time.monotonic()
            try:
                self._snapshot = json.loads(await self._db.admin_call("metrics_snapshot", {}))
                self.error = None
            except Exception as exc:  # a scrape during an outage still answers, without these figures
                self._snapshot = None
                self.error = type(exc).__name__
                log.warning("metrics snapshot failed: %s", self.error)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("wf_metrics_database_up", "1 when the last metrics snapshot query succeeded.")
        up.add_metric([], 0 if self._snapshot is None else 1)
        yield up
        snap = self._snapshot
        if snap is None:
            return
        gauges = (
            ("wf_queue_depth", "Messages not yet delivered: queued, claimed or held.",
             snap["queueWaiting"] + snap["queueHeld"]),
            ("wf_queue_held", "Messages held because their version has no live handler.", snap["queueHeld"]),
            ("wf_queue_lag_seconds", "How overdue the most overdue message (or expired lease) is.",
             snap["queueLagSeconds"]),
            ("wf_dead_letters", "Current dead letters (all apps).", snap["deadLetters"]),
            ("wf_active_runs", "Runs pending or running (all apps).", snap["activeRuns"]),
        )
        for name, help_text, value in gauges:
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], float(value))
            yield family
        dead = CounterMetricFamily("wf_messages_dead_lettered", "Messages that became dead letters (all apps, "
                                   "counted in the database).")
        dead.add_metric([], float(snap["deadLetteredTotal"]))
        yield dead


class PoolGauges(Collector):
    """wf_db_pool_* from psycopg_pool's get_stats(), per pool (tenant: API requests; admin: the service)."""

    _COUNTERS = (
        ("requests", "requests_num", "Connections lent by the pool.", 1.0),
        ("timeouts", "requests_errors", "Requests that got no connection in time.", 1.0),
        ("wait_seconds", "requests_wait_ms", "Time requests spent waiting for a connection.", 0.001),
        ("connection_errors", "connections_errors", "Failed attempts to open a connection.", 1.0),
        ("connections_lost", "connections_lost", "Connections found broken.", 1.0),
    )
    _GAUGES = (
        ("size", "pool_size", "Connections open or being opened."),
        ("available", "pool_available", "Idle connections."),
        ("waiting", "requests_waiting", "Requests waiting for a connection now."),
        ("max", "pool_max", "Most connections the pool may open."),
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        stats = {"tenant": self._db.pool.get_stats(), "admin": self._db.admin_pool.get_stats()}
        for suffix, key, help_text in self._GAUGES:
            family = GaugeMetricFamily(f"wf_db_pool_{suffix}", help_text, labels=["pool"])
            for pool, values in stats.items():
                family.add_metric([pool], float(values.get(key, 0)))
            yield family
        for suffix, key, help_text, scale in self._COUNTERS:
            counter = CounterMetricFamily(f"wf_db_pool_{suffix}", help_text, labels=["pool"])
            for pool, values in stats.items():
                counter.add_metric([pool], values.get(key, 0) * scale)
            yield counter


METRICS_KEY = web.AppKey("metrics", Any)


class Exposition:
    """What GET /metrics renders for one app."""

    def __init__(self, db: Database, cache_seconds: float, multiproc_dir: Path | None) -> None:
        self.database = DatabaseGauges(db, cache_seconds)
        self._live = (self.database, PoolGauges(db))
        if multiproc_dir is not None:
            # prometheus-client itself reads PROMETHEUS_MULTIPROC_DIR when it is imported.
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry, str(multiproc_dir))
            ProcessCollector(registry=self.registry)
        else:
            self.registry = REGISTRY  # this process's counters plus process and platform metrics

    def register(self) -> None:
        for collector in self._live:
            self.registry.register(collector)

    def unregister(self) -> None:
        for collector in self._live:
            self.registry.unregister(collector)

    async def render(self) -> bytes:
        await self.database.refresh()
        return generate_latest(self.registry)


routes = web.RouteTableDef()


@operation(routes, "GET", "/metrics", summary="Prometheus text exposition (counters, histograms, gauges)",
           responses={200: None}, response_type="text/plain", tags=("health",),
           description="No authentication in any mode. The database figures are global (aggregate them with max).")
async def metrics(request: web.Request, args: Args) -> web.Response:
    body = await request.app[METRICS_KEY].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    """GET /metrics; the database and pool collectors live as long as the app."""
    settings = app[keys.SETTINGS]
    exposition = Exposition(app[keys.DB], settings.metrics_cache_seconds, settings.prometheus_multiproc_dir)
    app[METRICS_KEY] = exposition
    app.router.add_routes(routes)

    async def start(app: web.Application) -> None:
        exposition.register()

    async def stop(app: web.Application) -> None:
        exposition.unregister()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
