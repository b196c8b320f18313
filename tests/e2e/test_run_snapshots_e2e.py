"""Run snapshots with the real runtime: each workflow delivery of a running run carries the run_started
answer (change run_snapshots), so the runtime's run_started reaches the service only once per run —
for the pending run — however many replays the run takes."""

from __future__ import annotations

import urllib.request

from .conftest import E2EApp


def run_started_requests(e2e_app: E2EApp) -> float:
    """wf_events_created_total{type="run_started"}: every POST of a run_started event, answered or not."""
    with urllib.request.urlopen(e2e_app.service.url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('wf_events_created_total{type="run_started"}'):
                return float(line.split()[1])
    return 0.0


def test_replays_take_run_started_from_the_delivery(e2e_app: E2EApp) -> None:
    before = run_started_requests(e2e_app)
    assert e2e_app.run("sequentialSteps", 5) == list(range(5))
    assert e2e_app.run("parallelSteps", 5) == list(range(5))
    # 2 runs, 6 + at least 2 replays: only each run's first run_started (pending → running) was sent.
    assert run_started_requests(e2e_app) - before == 2
