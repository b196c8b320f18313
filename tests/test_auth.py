"""Multi-tenant authentication and authorization over real HTTP: a fake
Kubernetes API (real TLS) answers the service's TokenReviews."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from .k8s_fake import ADMIN_TOKEN, Cluster, FakeKubernetes, cluster, fake_k8s, multi_tenant_env
from .pgw import Service, free_port
from .tenants import admin, call, new_bound_app

__all__ = ["cluster", "fake_k8s"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def new_token(fake: FakeKubernetes, username: str = "system:serviceaccount:team-a:app") -> str:
    """A token the fake API server accepts and the service has never seen (so not cached)."""
    token = f"tok-{uuid.uuid4().hex}"
    fake.users[token] = username
    return token


async def test_mode_is_logged_and_probes_need_no_token(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    assert "multi-tenant mode" in cluster.service.log_tail(100_000)
    for path in ("/status", "/ready", "/metrics", "/openapi.json"):
        status, _, _ = await call(http, "GET", cluster.service.url + path)
        assert status not in (401, 403), path
    status, _, _ = await call(http, "GET", cluster.service.url + "/ready")
    assert status == 200


async def test_missing_or_invalid_token_is_401(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    status, body, _ = await call(http, "GET", url)
    assert (status, body["code"]) == (401, "WF_UNAUTHENTICATED")
    async with http.get(url, headers={"Authorization": "Basic dXNlcjpwdw=="}) as resp:
        assert resp.status == 401
    before = cluster.fake.review_count("not-a-token")
    for _ in range(2):
        status, body, _ = await call(http, "GET", url, "not-a-token")
        assert (status, body["code"]) == (401, "WF_UNAUTHENTICATED")
    assert cluster.fake.review_count("not-a-token") == before + 2, "a refused token is never cached"


async def test_users_other_than_service_accounts_are_403(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    status, body, _ = await call(http, "GET", f"{cluster.service.url}/api/v1/apps/{app_id}/runs", "tok-human")
    assert (status, body["code"]) == (403, "WF_FORBIDDEN")


async def test_a_service_account_acts_only_for_bound_apps(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster, "team-a", "app")
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    assert (await call(http, "GET", url, "tok-a"))[0] == 200
    status, body, _ = await call(http, "GET", url, "tok-b")
    assert (status, body["code"]) == (403, "WF_FORBIDDEN")
    status, body, _ = await call(http, "GET", f"{cluster.service.url}/api/v1/apps/no-such-app/runs", "tok-a")
    assert (status, body["code"]) == (403, "WF_FORBIDDEN"), "an unknown app is not even confirmed to exist"
    assert (await call(http, "GET", url, ADMIN_TOKEN))[0] == 200, "the admin acts for any app"
    # Unbinding takes effect at once: the binding is checked in every request's statement.
    status, body = await admin(http, cluster, "DELETE", f"/{app_id}/k8s-binding",
                               {"namespace": "team-a", "serviceAccount": "app"})
    assert (status, body) == (200, {"deleted": True})
    assert (await call(http, "GET", url, "tok-a"))[0] == 403
    status, body = await admin(http, cluster, "DELETE", f"/{app_id}/k8s-binding",
                               {"namespace": "team-a", "serviceAccount": "app"})
    assert status == 404, body


async def test_unbinding_names_the_binding_in_the_query_string(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster, "team-a", "app")
    status, body = await admin(http, cluster, "DELETE", f"/{app_id}/k8s-binding")
    assert (status, body["code"], body["meta"]) == (400, "WF_BAD_REQUEST", {"field": "namespace"})
    status, body = await admin(http, cluster, "DELETE", f"/{app_id}/k8s-binding?namespace=team-a&serviceAccount=app")
    assert (status, body) == (200, {"deleted": True})
    assert (await call(http, "GET", f"{cluster.service.url}/api/v1/apps/{app_id}/runs", "tok-a"))[0] == 403


async def test_admin_endpoints_are_for_the_admin_only(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = f"t{uuid.uuid4().hex[:10]}"
    apps = cluster.service.url + "/api/v1/apps"
    status, body, _ = await call(http, "POST", apps, "tok-a", {"appId": app_id})
    assert (status, body["code"]) == (403, "WF_FORBIDDEN")
    status, body = await admin(http, cluster, "POST", "", {"appId": app_id})
    assert status == 201 and body["appId"] == app_id and set(body["quotas"]) == {
        "maxRuns", "maxEventsPerRun", "maxQueuePerMinute", "maxMessageBytes", "maxQueuedBytes", "maxStreamBytes",
        "maxConcurrentRequests"}
    status, again = await admin(http, cluster, "POST", "", {"appId": app_id})
    assert (status, again) == (200, body)
    status, page = await admin(http, cluster, "GET", f"?cursor={app_id[:-1]}&limit=1000")
    assert status == 200 and app_id in [a["appId"] for a in page["data"]]
    status, body = await admin(http, cluster, "POST", "", {"appId": "bad id!"})
    assert status == 400, body
    status, body = await admin(http, cluster, "POST", f"/{app_id}/k8s-binding",
                               {"namespace": "Bad_NS", "serviceAccount": "app"})
    assert status == 400, body
    status, body = await admin(http, cluster, "POST", "/no-such-app/k8s-binding",
                               {"namespace": "team-a", "serviceAccount": "app"})
    assert status == 404, body


async def test_a_cached_token_is_reviewed_once(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    token = new_token(cluster.fake)
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    for _ in range(3):
        assert (await call(http, "GET", url, token))[0] == 200
    assert cluster.fake.review_count(token) == 1


async def test_concurrent_requests_share_one_review(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    token = new_token(cluster.fake)
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    cluster.fake.delay = 0.3  # all requests arrive while the first review is pending
    try:
        answers = await asyncio.gather(*(call(http, "GET", url, token) for _ in range(8)))
    finally:
        cluster.fake.delay = 0.0
    assert [a[0] for a in answers] == [200] * 8
    assert cluster.fake.review_count(token) == 1


async def test_a_review_is_not_trusted_past_the_token_expiry(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 1}).encode()).decode().rstrip("=")
    token = f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl"
    cluster.fake.users[token] = "system:serviceaccount:team-a:app"
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    assert (await call(http, "GET", url, token))[0] == 200
    await asyncio.sleep(1.2)
    assert (await call(http, "GET", url, token))[0] == 200
    assert cluster.fake.review_count(token) == 2


async def test_api_server_errors_are_503_and_not_cached(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    token = new_token(cluster.fake)
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"
    cluster.fake.fail_status = 500
    try:
        status, body, headers = await call(http, "GET", url, token)
    finally:
        cluster.fake.fail_status = None
    assert (status, body["code"]) == (503, "WF_AUTH_UNAVAILABLE")
    assert int(headers["Retry-After"]) >= 1
    assert (await call(http, "GET", url, token))[0] == 200
    assert cluster.fake.review_count(token) == 2


async def test_a_slow_api_server_is_503(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    token = new_token(cluster.fake)
    cluster.fake.delay = 2.0  # the cluster's review timeout is 1 s
    try:
        status, body, headers = await call(http, "GET", f"{cluster.service.url}/api/v1/apps/{app_id}/runs", token)
    finally:
        cluster.fake.delay = 0.0
    assert (status, body["code"]) == (503, "WF_AUTH_UNAVAILABLE") and "Retry-After" in headers


async def test_the_service_token_is_reread_after_rotation(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    """The kubelet swaps the projected token atomically: token -> ..data/token, ..data -> ..<timestamp>."""
    app_id = await new_bound_app(http, cluster)
    sa_dir: Path = cluster.sa_dir
    generation = sa_dir / f"..{uuid.uuid4().hex[:8]}"
    generation.mkdir()
    (generation / "token").write_text("service-token-2")
    os.symlink(generation.name, sa_dir / "..data_tmp")
    os.replace(sa_dir / "..data_tmp", sa_dir / "..data")
    os.symlink("..data/token", sa_dir / "token_tmp")
    os.replace(sa_dir / "token_tmp", sa_dir / "token")
    cluster.fake.service_tokens = {"service-token-2"}  # the old token no longer works
    try:
        token = new_token(cluster.fake)
        status, body, _ = await call(http, "GET", f"{cluster.service.url}/api/v1/apps/{app_id}/runs", token)
        assert status == 200, body
        assert cluster.fake.signed_with[-1] == "service-token-2"
    finally:
        cluster.fake.service_tokens = {"service-token-1", "service-token-2"}


async def test_an_unreachable_api_server_is_503(start_service: Callable[..., Service], fake_k8s: FakeKubernetes,
                                                tmp_path: Path, http: aiohttp.ClientSession) -> None:
    fake_k8s.write_service_account(tmp_path)
    env = multi_tenant_env(fake_k8s, tmp_path)
    env["K8S_API_SERVER"] = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    service = start_service(**env)
    status, body, headers = await call(http, "GET", f"{service.url}/api/v1/apps/default/runs", "tok-a")
    assert (status, body["code"]) == (503, "WF_AUTH_UNAVAILABLE") and "Retry-After" in headers


async def test_without_a_token_file_everything_is_open(start_service: Callable[..., Service], tmp_path: Path,
                                                       http: aiohttp.ClientSession) -> None:
    service = start_service(K8S_SERVICE_ACCOUNT_DIR=str(tmp_path))
    assert "single-tenant mode" in service.log_tail(100_000)
    assert (await call(http, "GET", f"{service.url}/api/v1/apps/default/runs"))[0] == 200
    status, body, _ = await call(http, "POST", f"{service.url}/api/v1/apps", None, {"appId": "second"})
    assert status == 201, body


async def test_an_unauthenticated_body_is_refused_before_it_is_read(cluster: Cluster) -> None:
    """401 answers the headers alone: the service never waits for (or buffers) an anonymous body."""
    port = int(cluster.service.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /api/v1/apps/default/queue HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"401", status_line
