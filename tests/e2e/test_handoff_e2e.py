"""The DevKit app on a pg-workflow with WF_QUEUE_HANDOFF=true: messages queued by the app's requests are
claimed in those requests' transactions and delivered by the same replica; runs behave exactly as with
NOTIFY and claims (sequential and parallel steps, hooks, sleeps)."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..pgw import Service, create_database, db_url, drop_database
from .conftest import E2EApp, running_app


@pytest.fixture(scope="module")
def e2e_app(template_db: str, e2e_app_build: Path) -> Iterator[E2EApp]:
    """The e2e app on this module's own pg-workflow, which has handoffs on."""
    name = create_database(template_db)
    service = Service(db_url(name), env={"WF_QUEUE_HANDOFF": "true"})
    try:
        service.start()
        with running_app(service, e2e_app_build) as app:
            yield app
    finally:
        service.stop()
        drop_database(name)


def handoffs(service: Service) -> float:
    with urllib.request.urlopen(service.url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("wf_queue_handoffs_total "):
                return float(line.split()[1])
    raise AssertionError("wf_queue_handoffs_total is not exported")


def test_runs_complete_with_handoffs(e2e_app: E2EApp) -> None:
    before = handoffs(e2e_app.service)
    sequential = e2e_app.start("sequentialSteps", 10)
    parallel = e2e_app.start("parallelSteps", 10)
    assert e2e_app.result(sequential) == list(range(10))
    assert e2e_app.result(parallel) == list(range(10))
    assert handoffs(e2e_app.service) - before >= 10, "step messages and wake-ups were handed off"
    for run_id in (sequential, parallel):
        steps = e2e_app.api("GET", f"runs/{run_id}/steps?limit=100")["data"]
        assert sorted(s["status"] for s in steps) == ["completed"] * 10


def test_hooks_and_sleeps_with_handoffs(e2e_app: E2EApp) -> None:
    token = f"e2e-handoff-{uuid.uuid4().hex}"
    owner = e2e_app.start("hookCollector", token, 2)
    e2e_app.wait_for(lambda: e2e_app.control("GET", f"runs/{owner}/hooks")["hooks"], "the hook to be created")
    for i in range(2):
        assert e2e_app.control("POST", "hooks/resume", {"token": token, "payload": {"n": i}})["runId"] == owner
    assert e2e_app.result(owner) == {"conflict": False, "payloads": [{"n": 0}, {"n": 1}]}
    result = e2e_app.run("sleepThenReport", 500, wait=30)
    assert result["after"] - result["before"] >= 500
