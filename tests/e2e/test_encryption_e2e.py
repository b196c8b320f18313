"""Run encryption with the real DevKit runtime (workflow 4.8.9): an app with an
encryption secret runs a workflow to completion while everything the runtime
stored about it in PostgreSQL (run input and output, step inputs and results,
hook payloads) is AES-256-GCM ciphertext under the run's key, not the
serialised value; an app without a secret stores plaintext as before.

The encrypted app is a second tenant of the session's service (its own app
id, process and deployment), so its secret leaves the shared app alone."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..pgw import Service
from .conftest import E2EApp, http_json, running_app

ENCRYPTED = b"encr"   # the runtime's format prefix of an encrypted value
PLAIN = b"devl"       # ... and of a plain serialised one (devalue)


@pytest.fixture(scope="module")
def encrypted_app(pgw_server: Service, e2e_app_build: Path) -> Iterator[E2EApp]:
    app_id = f"e2e-enc-{uuid.uuid4().hex[:8]}"
    http_json("POST", f"{pgw_server.url}/api/v1/apps", {"appId": app_id})
    secret = http_json("POST", f"{pgw_server.url}/api/v1/apps/{app_id}/encryption-secret")
    assert secret["version"] == 1
    with running_app(pgw_server, e2e_app_build, app_id) as app:
        yield app


def stored_binaries(app: E2EApp, run_id: str) -> list[tuple[str, str, bytes]]:
    """(event type, member, bytes) of every binary payload stored in the run's events, read from the database."""
    with psycopg.connect(app.service.database_url) as conn:
        rows = conn.execute("SELECT event_type, event_data FROM workflow.events WHERE app_id = %s AND run_id = %s"
                            " ORDER BY run_ordinal", (app.app_id, run_id)).fetchall()
    found = []
    for event_type, data in rows:
        for member, value in (data or {}).items():
            if isinstance(value, dict) and value.get("__type") == "Uint8Array":
                found.append((event_type, member, base64.b64decode(value["data"])))
    return found


def decrypt(app: E2EApp, run_id: str, blob: bytes) -> bytes:
    """What the runtime does: strip the prefix, AES-256-GCM with the 12-byte nonce in front."""
    key = base64.b64decode(app.api("GET", f"encryption-key?runId={run_id}")["key"])
    assert blob[:4] == ENCRYPTED
    return AESGCM(key).decrypt(blob[4:16], blob[16:], None)


def members(found: list[tuple[str, str, bytes]]) -> set[tuple[str, str]]:
    return {(event_type, member) for event_type, member, _ in found}


def test_an_encrypted_run_completes_and_stores_only_ciphertext(encrypted_app: E2EApp) -> None:
    app = encrypted_app
    run_id = app.start("multiStep", 2, 3)
    assert app.result(run_id) == {"sum": 5, "product": 15, "text": "sum=5 product=15"}

    found = stored_binaries(app, run_id)
    assert {("run_created", "input"), ("step_created", "input"), ("step_completed", "result"),
            ("run_completed", "output")} <= members(found), found
    for event_type, member, blob in found:
        assert blob[:4] == ENCRYPTED, f"{event_type}.{member} is stored as {blob[:16]!r}, not ciphertext"
        assert b"sum=5" not in blob and b"product" not in blob
    # ... and it is AES-GCM under the key the service derives for the run: decrypting gives the serialised value.
    output = next(blob for event_type, member, blob in found if (event_type, member) == ("run_completed", "output"))
    plain = decrypt(app, run_id, output)
    assert plain[:4] == PLAIN and b"sum=5 product=15" in plain


def test_hook_payloads_are_encrypted_too(encrypted_app: E2EApp) -> None:
    app = encrypted_app
    token = f"e2e-enc-hook-{uuid.uuid4().hex}"
    run_id = app.start("hookCollector", token, 1)
    app.wait_for(lambda: app.control("GET", f"runs/{run_id}/hooks")["hooks"], "the hook to be created")
    app.control("POST", "hooks/resume", {"token": token, "payload": {"secretNote": "launch codes"}})
    assert app.result(run_id) == {"conflict": False, "payloads": [{"secretNote": "launch codes"}]}
    received = [blob for event_type, _, blob in stored_binaries(app, run_id) if event_type == "hook_received"]
    assert received and all(blob[:4] == ENCRYPTED for blob in received), received
    assert b"launch codes" not in received[0]
    assert b"launch codes" in decrypt(app, run_id, received[0])


def test_an_app_without_a_secret_stores_plaintext(e2e_app: E2EApp) -> None:
    with pytest.raises(Exception) as no_key:
        e2e_app.api("GET", "encryption-key?runId=wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert getattr(no_key.value, "status", None) == 404
    run_id = e2e_app.start("multiStep", 2, 3)
    assert e2e_app.result(run_id)["sum"] == 5
    found: list[Any] = stored_binaries(e2e_app, run_id)
    assert found and all(blob[:4] == PLAIN for _, _, blob in found), found
