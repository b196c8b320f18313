"""Claims under concurrency, spelled out with two real PostgreSQL sessions
(no service): what one dispatcher's open claim transaction hides from another."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

APP = "claims"
HANDLER = ("SELECT workflow.register_handler(%s, 'pod', 'v1', 'http://127.0.0.1:9/flow', 'http://127.0.0.1:9/step')")


@pytest.fixture
def sessions(fresh_db: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    with psycopg.connect(fresh_db, autocommit=True) as a, psycopg.connect(fresh_db, autocommit=True) as b:
        a.execute("SELECT workflow.ensure_app(%s)", (APP,))
        for conn in (a, b):  # API functions act only for the session's app
            conn.execute("SELECT set_config('workflow.app_id', %s, false)", (APP,))
        a.execute(HANDLER, (APP,))
        yield a, b


def enqueue(conn: psycopg.Connection[Any], queue: str, message: dict[str, Any], key: str | None = None) -> str:
    row = conn.execute("SELECT workflow.enqueue(%s, %s, %s, 'v1', %s)", (APP, queue, Jsonb(message), key)).fetchone()
    assert row is not None
    return row[0]["messageId"]


def claim(conn: psycopg.Connection[Any], limit: int = 100, lease: float = 30) -> list[dict[str, Any]]:
    row = conn.execute("SELECT workflow.claim_messages(%s::integer, %s::numeric, 60)", (limit, lease)).fetchone()
    assert row is not None
    return row[0]["deliveries"]


def ack(conn: psycopg.Connection[Any], claims: list[dict[str, Any]], outcome: str = "done") -> int:
    results = [{"seq": c["seq"], "attempt": c["attempt"], "podId": c["podId"], "outcome": outcome} for c in claims]
    row = conn.execute("SELECT workflow.ack_messages(%s)", (Jsonb(results),)).fetchone()
    assert row is not None
    return row[0]


def ids(claims: list[dict[str, Any]]) -> set[str]:
    return {c["messageId"] for c in claims}


def test_concurrent_claims_never_overlap(sessions: tuple[psycopg.Connection[Any], psycopg.Connection[Any]]) -> None:
    a, b = sessions
    sent = {enqueue(a, "__wkf_step_s", {"workflowRunId": f"r{i}"}) for i in range(50)}
    with a.transaction(), b.transaction():
        first = claim(a, limit=30)
        started = time.monotonic()
        second = claim(b, limit=30)  # skips a's locked rows instead of waiting for them
        assert time.monotonic() - started < 1
    assert len(first) == 30 and len(second) == 20
    assert ids(first).isdisjoint(ids(second)) and ids(first) | ids(second) == sent
    assert claim(b) == []


def test_uncommitted_enqueue_is_not_claimable(sessions: tuple[psycopg.Connection[Any],
                                                              psycopg.Connection[Any]]) -> None:
    a, b = sessions
    with a.transaction():
        message_id = enqueue(a, "__wkf_step_s", {"workflowRunId": "r"})
        assert claim(b) == []
    assert ids(claim(b)) == {message_id}


def test_one_workflow_message_per_run_across_sessions(sessions: tuple[psycopg.Connection[Any],
                                                                      psycopg.Connection[Any]]) -> None:
    a, b = sessions
    m1 = enqueue(a, "__wkf_workflow_w", {"runId": "wrun_r", "i": 1}, key="k1")
    m2 = enqueue(a, "__wkf_workflow_w", {"runId": "wrun_r", "i": 2}, key="k2")
    other = enqueue(a, "__wkf_workflow_w", {"runId": "wrun_s"})
    with a.transaction(), b.transaction():
        assert ids(claim(a, limit=1)) == {m1}
        # b sees m2 as claimable (a has not committed) but a holds the run's lock
        assert ids(claim(b)) == {other}
    assert claim(b) == [], "m2 waits while m1 is in flight"
    (due_in,) = b.execute("SELECT workflow.next_due_in()").fetchone() or (None,)
    assert due_in > 20, "a waiting message is not reported as due (only the leases, 30 s away)"
    seq, attempt = a.execute("SELECT message_seq, attempt FROM workflow.messages WHERE message_id = %s",
                             (m1,)).fetchone() or (0, 0)
    assert ack(a, [{"seq": seq, "attempt": attempt, "podId": "pod"}]) == 1
    assert ids(claim(b)) == {m2}


def test_lost_lease_is_redelivered_and_stale_ack_ignored(sessions: tuple[psycopg.Connection[Any],
                                                                         psycopg.Connection[Any]]) -> None:
    a, b = sessions
    message_id = enqueue(a, "__wkf_step_s", {"workflowRunId": "r"})
    (first,) = claim(a, lease=0.2)
    assert claim(b) == []
    time.sleep(0.3)
    (second,) = claim(b)
    assert (second["messageId"], second["attempt"]) == (message_id, first["attempt"] + 1)
    assert ack(a, [first]) == 0, "the dispatcher that lost the lease cannot settle it"
    assert ack(b, [second]) == 1
