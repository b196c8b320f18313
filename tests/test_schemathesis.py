"""Schemathesis over every documented operation, against a live pg-workflow on
loopback: valid and invalid requests generated from /openapi.json must never
get a 5xx, and every answer must match the document (status, content type,
body schema, headers).

Bounded and deterministic (fixed seed, few examples per operation) so CI runs
it in well under a minute or two on 2 cores. The dispatcher is off: handler
URLs registered by generated requests are never called.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis import Case

from service.app import make_app
from service.config import Settings
from service.openapi import build_document

from .pgw import Service, create_database, db_url, drop_database

MAX_EXAMPLES = 30
# The live tail of GET /streams/{name} answers 200 and then waits for chunks
# until the stream is closed: it is fuzzed on its own, always naming a
# stream that is closed before the run (every other parameter generated).
LIVE_READ = "^/api/v1/apps/{appId}/streams/{name}$"
CLOSED_STREAM = "__health_check__schemathesis"


@pytest.fixture(scope="module")
def fuzzed_service(template_db: str) -> Iterator[Service]:
    name = create_database(template_db)
    service = Service(db_url(name), env={"WF_ENABLE_POLLER": "false", "WF_MAX_BODY_BYTES": str(256 * 1024)})
    try:
        yield service.start()
    finally:
        service.stop()
        drop_database(name)


def _api_schema(**parameters: str) -> schemathesis.BaseSchema:
    """The document the service serves at /openapi.json (tests/test_openapi.py
    checks they are the same), built in-process so tests can be generated at
    collection time."""
    config = schemathesis.Config.from_dict({
        "seed": 20261130,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
        # Requests act for the implicit app, or they would all stop at "unknown app".
        "parameters": {"path.appId": "default", **parameters},
        "checks": {
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
            # Generated ids name nothing: 404 is the right answer to valid input here.
            "positive_data_acceptance": {"enabled": False},
        },
    })
    document = build_document(make_app(Settings.from_env({}), "postgresql://unused"))
    return schemathesis.openapi.from_dict(document, config=config)


schema = _api_schema().exclude(path_regex=LIVE_READ)
live_read = _api_schema(**{"path.name": CLOSED_STREAM}).include(path_regex=LIVE_READ)


@schema.parametrize()
def test_api_conforms_and_never_fails(case: Case, fuzzed_service: Service) -> None:
    case.call_and_validate(base_url=fuzzed_service.url, timeout=30)


@pytest.fixture(scope="module")
def closed_stream(fuzzed_service: Service) -> str:
    url = f"{fuzzed_service.url}/api/v1/apps/default/runs/any/streams/{CLOSED_STREAM}"
    for headers in ({}, {"x-stream-done": "true"}):
        reply = requests.put(url, json={"data": "chunk"}, headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text
    return CLOSED_STREAM


@live_read.parametrize()
def test_live_read_conforms_and_never_fails(case: Case, fuzzed_service: Service, closed_stream: str) -> None:
    case.call_and_validate(base_url=fuzzed_service.url, timeout=30)
