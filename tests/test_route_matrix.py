"""Every route x {no token, another app's service account, the app's own
service account, the admin}: the routes are enumerated from the app's own
router, so a route added later is in the matrix without anyone listing it.

Expected: no token ⇒ 401; another app's SA ⇒ 403; own SA ⇒ admin routes 403,
app routes let through (anything but 401/403); admin ⇒ let through
everywhere. Public probes are open to all. Bodies are valid enough to reach
SQL (where the binding is checked); a new route whose body Python rejects
before that needs an entry in SAMPLE_BODIES.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from service.app import make_app
from service.auth import PUBLIC_PATHS
from service.config import Settings

from .k8s_fake import ADMIN_TOKEN, Cluster, cluster, fake_k8s
from .tenants import bearer, new_bound_app

__all__ = ["cluster", "fake_k8s"]

RUN_ID = "wrun_01HZZZZZZZZZZZZZZZZZZZZZZZ"
PATH_VALUES = {"runId": RUN_ID, "deploymentId": "v-matrix", "token": "hook-token", "name": "matrix-stream"}

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/apps"): {"appId": "matrix-created"},
    ("POST", "/api/v1/apps/{appId}/runs/{runId}/events"): {
        "eventType": "run_created", "eventData": {"deploymentId": "d", "workflowName": "w", "input": None}},
    ("POST", "/api/v1/apps/{appId}/runs/{runId}/event-batches"): {
        "events": [{"event": {"eventType": "wait_completed", "correlationId": "w1"}}]},
    ("PUT", "/api/v1/apps/{appId}/runs/{runId}/streams/{name}"): {"data": "chunk"},
    ("POST", "/api/v1/apps/{appId}/queue"): {
        "queueName": "__wkf_step_s", "message": {"workflowRunId": RUN_ID}, "delaySeconds": 3600},
    ("POST", "/api/v1/apps/{appId}/queue-batches"): {"messages": [
        {"queueName": "__wkf_step_s", "message": {"workflowRunId": RUN_ID}, "delaySeconds": 3600}]},
    ("POST", "/api/v1/apps/{appId}/handlers"): {
        "podId": "matrix-pod", "endpoints": {"workflow": "http://127.0.0.1:9/f", "step": "http://127.0.0.1:9/s"}},
    ("POST", "/api/v1/apps/{appId}/k8s-binding"): {"namespace": "team-c", "serviceAccount": "app"},
    ("DELETE", "/api/v1/apps/{appId}/k8s-binding"): {"namespace": "team-c", "serviceAccount": "app"},
    ("PUT", "/api/v1/apps/{appId}/quotas"): {"maxRuns": 100000},
    # DevKit 5 run operations (service/routes/run_ops.py)
    ("POST", "/api/v1/apps/{appId}/run-batches/get"): {"runIds": [RUN_ID]},
    ("POST", "/api/v1/apps/{appId}/run-batches/cancel"): {"runIds": [RUN_ID]},
    ("POST", "/api/v1/apps/{appId}/analytics/runs/{runId}/event-batches/get"): {"eventIds": ["evnt_1"]},
}


def _routes() -> list[tuple[str, str, bool]]:
    """(method, path template, admin only) of every route the service serves."""
    app = make_app(Settings(database_url=None, k8s_service_account_dir=Path("/nonexistent")), "postgresql:///x")
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template is None or route.method in ("HEAD", "*"):
            continue
        found.add((route.method, template, bool(getattr(route.handler, "admin_only", False))))
    return sorted(found)


ROUTES = _routes()


def _url(base: str, template: str, app_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return app_id if name == "appId" else PATH_VALUES.get(name, f"x-{name}")
    return base + re.sub(r"\{([^}]+)\}", value, template)


def test_the_matrix_covers_the_routes() -> None:
    templates = {template for _, template, _ in ROUTES}
    assert "/api/v1/apps/{appId}/runs/{runId}/events" in templates and "/api/v1/apps" in templates
    # 8, plus the encryption secret's provision, rotate and status (change run_encryption)
    assert sum(admin for *_, admin in ROUTES) == 11, "the admin API has 11 routes"


@pytest.mark.parametrize(("method", "template", "admin_only"), ROUTES, ids=[f"{m} {t}" for m, t, _ in ROUTES])
@pytest.mark.parametrize("who", ["no token", "other app's SA", "own SA", "admin"])
async def test_route(cluster: Cluster, who: str, method: str, template: str, admin_only: bool) -> None:
    async with aiohttp.ClientSession() as http:
        app_id = await new_bound_app(http, cluster, "team-a", "app")
        token = {"no token": None, "other app's SA": "tok-b", "own SA": "tok-a", "admin": ADMIN_TOKEN}[who]
        url = _url(cluster.service.url, template, app_id)
        body = SAMPLE_BODIES.get((method, template))
        if (method, template) == ("POST", "/api/v1/apps"):
            body = {"appId": f"{app_id}-new"}
        timeout = aiohttp.ClientTimeout(total=10)
        # Headers arrive before a live stream read's body: the status is all we read.
        async with http.request(method, url, json=body, headers=bearer(token), timeout=timeout) as resp:
            status = resp.status
            answer = await resp.read() if resp.content_type == "application/json" else b""
    public = template in PUBLIC_PATHS
    if public:
        expected: object = "let through"
    elif who == "no token":
        expected = 401
    elif who == "other app's SA" and (admin_only or "{appId}" in template):
        expected = 403
    elif who in ("other app's SA", "own SA") and admin_only:
        expected = 403
    else:
        expected = "let through"
    if expected == "let through":
        assert status not in (401, 403), (who, method, url, status, answer)
        assert status < 500, (who, method, url, status, answer)
    else:
        assert status == expected, (who, method, url, status, answer)
