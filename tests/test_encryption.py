"""Run encryption over HTTP in multi-tenant mode (change run_encryption):
the admin API provisions and rotates an app's secret, the app's own service
account gets its runs' keys, another app's gets none, bad input is 400."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator

import aiohttp
import psycopg
import pytest

from .api import new_run
from .k8s_fake import Cluster, cluster, fake_k8s
from .tenants import admin, app_client, call, new_bound_app

__all__ = ["cluster", "fake_k8s"]

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def run_id_at(ms: int, tail: str = "A" * 16) -> str:
    """wrun_ + a ULID stamped with ``ms`` (as the runtime's ulid() makes them)."""
    stamp = "".join(CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    return f"wrun_{stamp}{tail}"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, to check the service's key against an independent computation."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def key_of(cluster: Cluster, http: aiohttp.ClientSession, app_id: str, token: str,
                 run_id: str | None) -> tuple[int, dict]:
    url = f"{cluster.service.url}/api/v1/apps/{app_id}/encryption-key"
    params = {} if run_id is None else {"runId": run_id}
    async with http.get(url, params=params, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def test_provision_rotate_and_keys(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    run_id = run_id_at(int(time.time() * 1000))

    status, body = await key_of(cluster, http, app_id, "tok-a", run_id)
    assert (status, body["code"]) == (404, "WF_NO_ENCRYPTION_SECRET"), body
    status, body = await admin(http, cluster, "GET", f"/{app_id}/encryption-secret")
    assert (status, body["code"]) == (404, "WF_NO_ENCRYPTION_SECRET")

    status, first = await admin(http, cluster, "POST", f"/{app_id}/encryption-secret")
    assert status == 201 and first["appId"] == app_id and first["version"] == 1, first
    assert set(first) == {"appId", "version", "activatesAt", "createdAt"}, "the secret is never answered"
    status, again = await admin(http, cluster, "POST", f"/{app_id}/encryption-secret")
    assert (status, again) == (200, first), "provisioning is idempotent"
    assert (await admin(http, cluster, "POST", "/no-such-app/encryption-secret"))[0] == 404

    status, body = await key_of(cluster, http, app_id, "tok-a", run_id)
    assert status == 200, body
    assert (body["runId"], body["keyVersion"]) == (run_id, 1)
    key = base64.b64decode(body["key"])
    assert len(key) == 32
    assert (await key_of(cluster, http, app_id, "tok-a", run_id))[1] == body, "a run's key is stable"
    other_run = run_id_at(int(time.time() * 1000), "B" * 16)
    assert (await key_of(cluster, http, app_id, "tok-a", other_run))[1]["key"] != body["key"]

    # The derivation, checked independently against the stored secret (read as the superuser, as only tests do).
    with psycopg.connect(cluster.service.database_url) as conn:
        secret = conn.execute("SELECT secret FROM workflow.app_encryption_secrets WHERE app_id = %s AND version = 1",
                              (app_id,)).fetchone()[0]
    assert key == hkdf_sha256(bytes(secret), run_id.encode(), b"workflow-encryption", 32)

    status, rotated = await admin(http, cluster, "POST", f"/{app_id}/encryption-secret/rotate")
    assert status == 201 and rotated["version"] == 2, rotated
    assert (await key_of(cluster, http, app_id, "tok-a", run_id))[1] == body, "a run keeps its key after a rotation"
    later = run_id_at(int(time.time() * 1000) + 3_600_000)
    status, new = await key_of(cluster, http, app_id, "tok-a", later)
    assert (status, new["keyVersion"]) == (200, 2), "runs stamped after the rotation activates use the new version"
    status, listed = await admin(http, cluster, "GET", f"/{app_id}/encryption-secret")
    assert status == 200 and [v["version"] for v in listed["versions"]] == [1, 2]


async def test_another_apps_token_gets_no_key(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_a = await new_bound_app(http, cluster, namespace="team-a")
    app_b = await new_bound_app(http, cluster, namespace="team-b")
    for app_id in (app_a, app_b):
        assert (await admin(http, cluster, "POST", f"/{app_id}/encryption-secret"))[0] == 201
    async with app_client(cluster, app_a, "tok-a") as client:
        run_id = await new_run(client)
    status, body = await key_of(cluster, http, app_a, "tok-b", run_id)
    assert (status, body["code"]) == (403, "WF_FORBIDDEN"), body
    # B asking under its own app gets B's key, which is not A's: useless for A's data.
    own_a = (await key_of(cluster, http, app_a, "tok-a", run_id))[1]["key"]
    own_b = (await key_of(cluster, http, app_b, "tok-b", run_id))[1]["key"]
    assert own_a != own_b
    # Tenants never reach the admin routes.
    for method, path in (("POST", ""), ("POST", "/rotate"), ("GET", "")):
        status, _, _ = await call(http, method, f"{cluster.service.url}/api/v1/apps/{app_a}/encryption-secret{path}",
                                  "tok-a")
        assert status == 403, (method, path)


async def test_bad_input(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    await admin(http, cluster, "POST", f"/{app_id}/encryption-secret")
    for run_id in (None, "run-1", "wrun_", "wrun_01arz3ndektsv4rrffq69g5fav", "wrun_81ARZ3NDEKTSV4RRFFQ69G5FAV",
                   "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAVX", "x" * 65):
        status, body = await key_of(cluster, http, app_id, "tok-a", run_id)
        assert status == 400 and body["code"] in ("WF_BAD_REQUEST", "WF_VALIDATION"), (run_id, body)
        assert "runId" in body["message"] or "runId" in str(body["meta"]), body
