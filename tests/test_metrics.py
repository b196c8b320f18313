"""GET /metrics over real HTTP: every SPEC section 9 family with its type, bounded labels, and values
that move with real traffic (events, runs, deliveries, dead letters, requests)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .pgw import Service
from .queue_support import FAST_QUEUE_ENV, Delivery, HandlerServer, QueueClient, eventually, new_app
from .test_timeouts import RUN_CREATED, new_run_id

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = {
    "wf_events_created": "counter",
    "wf_runs_created": "counter",
    "wf_messages_dispatched": "counter",
    "wf_deliveries_repeated": "counter",
    "wf_messages_dead_lettered": "counter",
    "wf_queue_depth": "gauge",
    "wf_active_runs": "gauge",
    "wf_dispatch_latency_seconds": "histogram",
    "wf_http_request_duration_seconds": "histogram",
    "wf_db_pool_size": "gauge",
    "wf_db_pool_available": "gauge",
    "wf_db_pool_timeouts": "counter",
    "process_cpu_seconds": "counter",
}


async def scrape(http: aiohttp.ClientSession, service: Service) -> tuple[dict[str, str], Samples]:
    async with http.get(service.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_families_move_with_traffic(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_METRICS_CACHE_SECONDS="0", **{**FAST_QUEUE_ENV, "WF_QUEUE_MAX_ATTEMPTS": "1"})
    handler = await HandlerServer().start()

    async def answer(d: Delivery) -> tuple[int, object]:
        return (500, {"no": True}) if d.message.get("fail") else (200, {"ok": True})

    handler.respond = answer
    try:
        async with aiohttp.ClientSession() as http:
            types, before = await scrape(http, service)
            for name, kind in FAMILIES.items():
                assert types.get(name) == kind, f"{name}: {types.get(name)}"

            queue = QueueClient(http, service, new_app(service.database_url))
            run_id = new_run_id()
            async with http.post(f"{queue.base}/runs/{run_id}/events", json=RUN_CREATED) as resp:
                assert resp.status == 200
            async with http.post(f"{queue.base}/runs/{run_id}/events", json={"eventType": "run_started"}) as resp:
                assert resp.status == 200
            async with http.get(f"{queue.base}/runs/{run_id}") as resp:
                assert resp.status == 200
            await queue.register(handler)
            await queue.enqueue("__wkf_step_ok", {"workflowRunId": run_id, "stepId": "a"}, deploymentId="v1")
            await queue.enqueue("__wkf_step_bad", {"workflowRunId": run_id, "fail": True}, deploymentId="v1")
            await handler.wait_for(2)

            await eventually(lambda: set(queue.statuses().values()) == {"delivered", "dead"})
            types, after = await scrape(http, service)
    finally:
        await handler.stop()

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) >= by, (name, labels)

    grew("wf_events_created_total", type="run_created")
    grew("wf_events_created_total", type="run_started")
    grew("wf_runs_created_total")
    grew("wf_messages_dispatched_total", outcome="done")
    grew("wf_messages_dispatched_total", outcome="failed")
    grew("wf_messages_dead_lettered_total")
    grew("wf_dispatch_latency_seconds_count", by=2)
    events_route = "/api/v1/apps/{appId}/runs/{runId}/events"
    grew("wf_http_request_duration_seconds_count", by=2, route=events_route, method="POST", status="200")
    grew("wf_http_request_duration_seconds_count", route="/api/v1/apps/{appId}/runs/{runId}", method="GET",
         status="200")
    assert value(after, "wf_active_runs") >= 1
    assert value(after, "wf_db_pool_size", pool="tenant") >= 1
    for (name, labels), _ in after.items():  # bounded labels: templates, never ids
        for label, text in labels:
            assert run_id not in text and queue.app_id not in text, (name, label, text)
    log = service.log_tail(1_000_000)
    assert re.search(r"delivery done .*messageId=msg_\w+ queue=__wkf_step_ok .*attempt=1 outcome=done latencyMs=", log)
    assert re.search(r"delivery failed .*queue=__wkf_step_bad .*outcome=failed .*error=\"HTTP 500", log)


async def test_multiprocess_mode(start_service: Callable[..., Service], tmp_path: Path) -> None:
    service = start_service(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service.url}/api/v1/apps/default/runs/{new_run_id()}/events",
                             json=RUN_CREATED) as resp:
            assert resp.status == 200
        types, samples = await scrape(http, service)
    assert any(name.endswith(".db") for name in os.listdir(tmp_path)), "values live in the shared directory"
    assert value(samples, "wf_runs_created_total") == 1
    for name in ("wf_events_created", "wf_http_request_duration_seconds", "wf_queue_depth", "wf_db_pool_size",
                 "process_cpu_seconds"):
        assert name in types, name


async def test_database_figures_are_cached_between_scrapes(start_service: Callable[..., Service]) -> None:
    service = start_service(WF_METRICS_CACHE_SECONDS="3600")
    async with aiohttp.ClientSession() as http:
        _, first = await scrape(http, service)
        async with http.post(f"{service.url}/api/v1/apps/default/runs/{new_run_id()}/events",
                             json=RUN_CREATED) as resp:
            assert resp.status == 200
        _, second = await scrape(http, service)
    assert value(second, "wf_runs_created_total") == value(first, "wf_runs_created_total") + 1
    assert value(second, "wf_active_runs") == value(first, "wf_active_runs"), "read once, then from the cache"
