"""A fake Kubernetes API server for multi-tenant tests: real HTTPS on
127.0.0.1 with a certificate from a CA made at test time (trustme), so the
service's real kubernetes-asyncio TokenReview path runs end to end.

It runs in its own thread and event loop, so it serves pg-workflow processes
whatever the test's own loop is doing. It answers TokenReviews from
``users`` (token → username) and checks audiences as a real API server does:
each token was minted for ``token_audiences[token]`` (default: pg-workflow's
own audience, as a projected token would be), a review asks for
``spec.audiences`` (none: the API server's own), and the token is
authenticated only for the intersection, which the answer lists in
``status.audiences``. ``audience_unaware`` answers like an old webhook
authenticator that ignores audiences (no ``status.audiences``). It accepts only reviews signed with one of
``service_tokens`` (the pg-workflow pod's own token), counts the reviews of
each token, and can be told to fail (``fail_status``) or to be slow
(``delay``).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from .pgw import Service, create_database, db_url, drop_database

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
ADMIN_SA = "pgw-system:admin"
ADMIN_TOKEN = "tok-admin"

# Tokens the fake API server knows, and whom they belong to.
USERS = {
    ADMIN_TOKEN: "system:serviceaccount:pgw-system:admin",
    "tok-a": "system:serviceaccount:team-a:app",
    "tok-b": "system:serviceaccount:team-b:app",
    "tok-human": "kubernetes-admin",
}


# The audience pg-workflow asks for by default, and the API server's own (what an
# automounted service-account token is minted for).
SERVICE_AUDIENCE = "pg-workflow"
API_SERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


@dataclass
class FakeKubernetes:
    ca: trustme.CA = field(default_factory=trustme.CA)
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    service_tokens: set[str] = field(default_factory=lambda: {"service-token-1"})
    token_audiences: dict[str, list[str]] = field(default_factory=dict)  # unlisted: [SERVICE_AUDIENCE]
    audience_unaware: bool = False
    requested_audiences: list[list[str] | None] = field(default_factory=list)
    reviews: collections.Counter[str] = field(default_factory=collections.Counter)
    signed_with: list[str] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write_service_account(self, directory: Path, token: str = "service-token-1") -> None:
        """What the kubelet mounts into a pod: token and the cluster CA."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(token)
        self.ca.cert_pem.write_to_path(str(directory / "ca.crt"))

    def review_count(self, token: str) -> int:
        return self.reviews[token]

    async def _review(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        token = body.get("spec", {}).get("token", "")
        self.reviews[token] += 1
        signed = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.signed_with.append(signed)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status is not None:
            return web.json_response({"kind": "Status", "code": self.fail_status}, status=self.fail_status)
        if signed not in self.service_tokens:
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        requested = body.get("spec", {}).get("audiences")
        self.requested_audiences.append(requested)
        username = self.users.get(token)
        minted_for = self.token_audiences.get(token, [SERVICE_AUDIENCE])
        matched = [a for a in (requested or [API_SERVER_AUDIENCE]) if a in minted_for]
        status: dict[str, Any] = {"authenticated": False}
        if username is None:
            status["error"] = "invalid bearer token"
        elif not matched and not self.audience_unaware:
            status["error"] = "invalid bearer token, token audiences are invalid for the target audiences"
        else:
            status["authenticated"] = True
            status["user"] = {"username": username, "uid": "u-" + username, "groups": ["system:authenticated"]}
            if not self.audience_unaware:
                status["audiences"] = matched
        answer = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                  "metadata": {"creationTimestamp": None}, "spec": body.get("spec", {}), "status": status}
        return web.json_response(answer, status=201)

    def start(self) -> FakeKubernetes:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-kubernetes", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Kubernetes API did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)

        async def up() -> None:
            app = web.Application()
            app.router.add_post(REVIEW_PATH, self._review)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
            await site.start()
            self.port = self._runner.addresses[0][1]

        self._loop.run_until_complete(up())
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def multi_tenant_env(fake: FakeKubernetes, sa_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "K8S_SERVICE_ACCOUNT_DIR": str(sa_dir),
        "K8S_API_SERVER": fake.url,
        "K8S_ADMIN_SERVICE_ACCOUNT": ADMIN_SA,
        **extra,
    }


@dataclass
class Cluster:
    """A fake Kubernetes API and a multi-tenant pg-workflow that trusts it."""

    fake: FakeKubernetes
    service: Service
    sa_dir: Path


@pytest.fixture(scope="module")
def fake_k8s() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def cluster(template_db: str, fake_k8s: FakeKubernetes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """pg-workflow in multi-tenant mode (deliveries to loopback allowed) on its own database."""
    from .queue_support import FAST_QUEUE_ENV

    sa_dir = tmp_path_factory.mktemp("serviceaccount")
    fake_k8s.write_service_account(sa_dir)
    name = create_database(template_db)
    env = multi_tenant_env(fake_k8s, sa_dir, WF_HANDLER_ALLOW_NETWORKS="127.0.0.0/8",
                           K8S_TOKEN_REVIEW_TIMEOUT_SECONDS="1", **FAST_QUEUE_ENV)
    service = Service(db_url(name), env=env)
    try:
        yield Cluster(fake_k8s, service.start(), sa_dir)
    finally:
        service.stop()
        drop_database(name)


def wait_until(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
