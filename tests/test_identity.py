"""Identity: tokens must be issued for the service's audience (checked against the fake Kubernetes API, which
checks audiences as a real API server does), and the tenancy mode refuses to start when it contradicts the
environment (issue 16, Identity)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from service.config import MULTI_TENANT, SINGLE_TENANT, ConfigError, Settings

from .k8s_fake import (
    API_SERVER_AUDIENCE,
    SERVICE_AUDIENCE,
    Cluster,
    FakeKubernetes,
    cluster,
    fake_k8s,
    multi_tenant_env,
)
from .pgw import ROOT, Service, free_port, service_env
from .tenants import call, new_bound_app

__all__ = ["cluster", "fake_k8s"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def minted(fake: FakeKubernetes, audiences: list[str], username: str = "system:serviceaccount:team-a:app") -> str:
    """A fresh token (never cached by the service) that the fake API server issued for ``audiences``."""
    token = f"tok-{uuid.uuid4().hex}"
    fake.users[token] = username
    fake.token_audiences[token] = audiences
    return token


# -- audiences ------------------------------------------------------------------------------------------------

async def test_only_tokens_for_the_service_audience_are_accepted(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster, "team-a", "app")
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/runs"

    ours = minted(cluster.fake, [SERVICE_AUDIENCE])
    assert (await call(http, "GET", url, ours))[0] == 200
    assert cluster.fake.requested_audiences[-1] == [SERVICE_AUDIENCE], "every review names the service's audience"
    assert (await call(http, "GET", url, minted(cluster.fake, ["vault", SERVICE_AUDIENCE])))[0] == 200

    for audiences in (["another-service"], [API_SERVER_AUDIENCE]):  # replayed, or the pod's automounted token
        token = minted(cluster.fake, audiences)
        for _ in range(2):
            status, body, _ = await call(http, "GET", url, token)
            assert (status, body["code"]) == (401, "WF_UNAUTHENTICATED"), audiences
            assert body["meta"] == {"audiences": [SERVICE_AUDIENCE]} and SERVICE_AUDIENCE in body["message"]
        assert cluster.fake.review_count(token) == 2, "a refused token is never cached"


async def test_an_answer_without_our_audience_is_not_trusted(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    """An audience-unaware authenticator says "authenticated" without status.audiences: valid for the API server,
    not proof the token was issued for us."""
    app_id = await new_bound_app(http, cluster, "team-a", "app")
    token = minted(cluster.fake, ["another-service"])
    cluster.fake.audience_unaware = True
    try:
        status, body, _ = await call(http, "GET", f"{cluster.service.url}/api/v1/apps/{app_id}/runs", token)
    finally:
        cluster.fake.audience_unaware = False
    assert (status, body["code"]) == (401, "WF_UNAUTHENTICATED")


async def test_the_audience_is_configurable(start_service: Callable[..., Service], fake_k8s: FakeKubernetes,
                                            tmp_path: Path, http: aiohttp.ClientSession) -> None:
    fake_k8s.write_service_account(tmp_path)
    service = start_service(**multi_tenant_env(fake_k8s, tmp_path, WF_TOKEN_AUDIENCE="workflows.example"))
    assert "audience workflows.example checked" in service.log_tail(100_000)
    url = f"{service.url}/api/v1/apps/default/runs"
    admin_token = minted(fake_k8s, ["workflows.example"], "system:serviceaccount:pgw-system:admin")
    assert (await call(http, "GET", url, admin_token))[0] == 200
    assert fake_k8s.requested_audiences[-1] == ["workflows.example"]
    default_audience = minted(fake_k8s, [SERVICE_AUDIENCE], "system:serviceaccount:pgw-system:admin")
    assert (await call(http, "GET", url, default_audience))[0] == 401


async def test_several_audiences_accept_a_token_for_any_of_them(
        start_service: Callable[..., Service], fake_k8s: FakeKubernetes, tmp_path: Path,
        http: aiohttp.ClientSession) -> None:
    """The migration path: the API server's audience next to ours while apps move to projected tokens."""
    fake_k8s.write_service_account(tmp_path)
    service = start_service(**multi_tenant_env(fake_k8s, tmp_path,
                                               WF_TOKEN_AUDIENCE=f"{SERVICE_AUDIENCE}, {API_SERVER_AUDIENCE}"))
    url = f"{service.url}/api/v1/apps/default/runs"
    for audiences in ([SERVICE_AUDIENCE], [API_SERVER_AUDIENCE]):
        token = minted(fake_k8s, audiences, "system:serviceaccount:pgw-system:admin")
        assert (await call(http, "GET", url, token))[0] == 200, audiences
    assert fake_k8s.requested_audiences[-1] == [SERVICE_AUDIENCE, API_SERVER_AUDIENCE]
    other = minted(fake_k8s, ["vault"], "system:serviceaccount:pgw-system:admin")
    status, body, _ = await call(http, "GET", url, other)
    assert status == 401 and body["meta"] == {"audiences": [SERVICE_AUDIENCE, API_SERVER_AUDIENCE]}


# -- the tenancy mode: decision table ---------------------------------------------------------------------------

@pytest.fixture
def token_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "with-token"
    directory.mkdir()
    (directory / "token").write_text("service-token")
    yield directory


@pytest.mark.parametrize(("mode", "token", "in_kubernetes", "expected"), [
    ("auto", False, False, SINGLE_TENANT),
    ("auto", True, False, MULTI_TENANT),
    ("auto", True, True, MULTI_TENANT),
    ("auto", False, True, "refused"),
    ("single-tenant", False, True, SINGLE_TENANT),
    ("single-tenant", True, True, SINGLE_TENANT),
    ("multi-tenant", True, False, MULTI_TENANT),
    ("multi-tenant", False, False, "refused"),
    ("multi-tenant", False, True, "refused"),
])
def test_the_mode_follows_the_setting_and_the_environment(mode: str, token: bool, in_kubernetes: bool, expected: str,
                                                          token_dir: Path, tmp_path: Path) -> None:
    env = {"WF_MODE": mode, "K8S_SERVICE_ACCOUNT_DIR": str(token_dir if token else tmp_path)}
    if in_kubernetes:
        env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1"
    settings = Settings.from_env(env)
    if expected == "refused":
        with pytest.raises(ConfigError, match="WF_MODE"):
            settings.tenancy()
    else:
        tenancy = settings.tenancy()
        assert tenancy.mode == expected and "WF_MODE=" in tenancy.reason
        assert settings.multi_tenant == (expected == MULTI_TENANT)


# -- the tenancy mode: the service process --------------------------------------------------------------------

def run_service(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Starts the service on a database nobody listens on: a mode refusal must come before any connection."""
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    return subprocess.run([sys.executable, "-m", "service", "--port", str(free_port()), unreachable],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                          env=service_env(K8S_SERVICE_ACCOUNT_DIR=str(tmp_path), **env))


def test_in_kubernetes_without_a_token_the_service_refuses_to_start(tmp_path: Path) -> None:
    result = run_service(tmp_path, KUBERNETES_SERVICE_HOST="10.96.0.1")
    assert result.returncode == 2, result.stderr
    for named in ("KUBERNETES_SERVICE_HOST", "K8S_SERVICE_ACCOUNT_DIR", "WF_MODE=single-tenant", str(tmp_path)):
        assert named in result.stderr, named
    assert "cannot connect to PostgreSQL" not in result.stderr and "Traceback" not in result.stderr


def test_multi_tenant_by_name_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    result = run_service(tmp_path, WF_MODE="multi-tenant")
    assert result.returncode == 2, result.stderr
    assert "WF_MODE=multi-tenant" in result.stderr and "K8S_SERVICE_ACCOUNT_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_mode_is_a_configuration_error(tmp_path: Path) -> None:
    result = run_service(tmp_path, WF_MODE="multi")
    assert result.returncode == 2, result.stderr
    assert "WF_MODE='multi': expected one of auto, single-tenant, multi-tenant" in result.stderr


async def test_single_tenant_by_name_starts_in_kubernetes(start_service: Callable[..., Service], tmp_path: Path,
                                                           http: aiohttp.ClientSession) -> None:
    service = start_service(KUBERNETES_SERVICE_HOST="10.96.0.1", WF_MODE="single-tenant",
                            K8S_SERVICE_ACCOUNT_DIR=str(tmp_path))
    assert "single-tenant mode (WF_MODE=single-tenant)" in service.log_tail(100_000)
    assert (await call(http, "GET", f"{service.url}/api/v1/apps/default/runs"))[0] == 200
