"""The retention job: a replica purges 10k old terminal runs (with everything
they own) in batches, and live runs, recent runs and their queue messages
stay exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from service.config import RetentionSettings
from service.retention import RetentionJob

from . import api
from .pgw import Service
from .queue_support import eventually, sql
from .test_devkit5_events import new_run5
from .test_devkit5_events import post as post5

# 10k finished runs, 40 days old, each with two events, a step, a hook, a wait
# and a stream of two chunks: written with generate_series as the database owner.
OLD_RUNS = """
WITH r AS (
  INSERT INTO workflow.runs (app_id, run_id, status, deployment_id, workflow_name, created_at, updated_at,
                             started_at, completed_at)
  SELECT 'default', 'wrun_old' || i, 'completed', 'dep-test', 'wf', t, t, t, t
    FROM generate_series(1, 10000) i, LATERAL (SELECT now() - interval '40 days' - i * interval '1 second' AS t) x
  RETURNING run_id, created_at
), e AS (
  INSERT INTO workflow.events (app_id, run_id, run_ordinal, event_id, event_type, created_at, event_json)
  SELECT 'default', run_id, o, 'wevt_' || run_id || '_' || o, 'run_created', created_at, '{}'
    FROM r, generate_series(1, 2) o
), s AS (
  INSERT INTO workflow.steps (app_id, run_id, step_id, step_name, status, attempt, created_at, updated_at,
                              started_at, completed_at)
  SELECT 'default', run_id, 'step_' || run_id, 's', 'completed', 1, created_at, created_at, created_at, created_at
    FROM r
), h AS (
  INSERT INTO workflow.hooks (app_id, run_id, hook_id, token, created_at, disposed_at)
  SELECT 'default', run_id, 'hook_' || run_id, 'tok_' || run_id, created_at, created_at FROM r
), w AS (
  INSERT INTO workflow.waits (app_id, run_id, wait_id, status, created_at, updated_at, completed_at)
  SELECT 'default', run_id, 'wait_' || run_id, 'completed', created_at, created_at, created_at FROM r
), st AS (
  INSERT INTO workflow.streams (app_id, name, run_id, next_index, created_at, updated_at)
  SELECT 'default', 'out_' || run_id, run_id, 2, created_at, created_at FROM r
  RETURNING name
)
INSERT INTO workflow.stream_chunks (app_id, name, chunk_index, data)
SELECT 'default', name, c, '\\x00ff'::bytea FROM st, generate_series(0, 1) c
"""

COUNTS = """
SELECT (SELECT count(*) FROM workflow.runs), (SELECT count(*) FROM workflow.events),
       (SELECT count(*) FROM workflow.steps), (SELECT count(*) FROM workflow.hooks),
       (SELECT count(*) FROM workflow.waits), (SELECT count(*) FROM workflow.streams),
       (SELECT count(*) FROM workflow.stream_chunks)
"""

# What must not change: every row of the runs that stay and of every queue message.
SNAPSHOT = """
SELECT (SELECT jsonb_agg(r ORDER BY run_id) FROM workflow.runs r WHERE run_id NOT LIKE 'wrun_old%%'),
       (SELECT jsonb_agg(e ORDER BY event_seq) FROM workflow.events e WHERE run_id NOT LIKE 'wrun_old%%'),
       (SELECT jsonb_agg(m ORDER BY message_seq) FROM workflow.messages m)
"""


async def test_purging_10k_old_runs_leaves_live_runs_and_their_messages(
        fresh_db: str, start_service: Callable[..., Service]) -> None:
    sql(fresh_db, "SELECT workflow.ensure_app('default')")
    sql(fresh_db, OLD_RUNS)
    assert sql(fresh_db, COUNTS) == [(10000, 20000, 10000, 10000, 10000, 10000, 20000)]
    # Live and recent runs through the API, with messages that are waiting for a handler.
    first = start_service(fresh_db, WF_RETENTION_INTERVAL_SECONDS="0")
    async with aiohttp.ClientSession(base_url=first.url + "/api/v1/apps/default/") as client:
        live = [await api.new_run(client) for _ in range(5)]
        pending = await api.new_run(client, start=False)
        finished = await api.new_run(client)
        status, body = await api.event(client, finished, "run_completed", data={"output": api.binary(b"x")})
        assert status == 200, body
        for run_id in [*live, pending, finished]:
            async with client.post("queue", json={"queueName": "__wkf_workflow_w", "message": {"runId": run_id},
                                                  "deploymentId": "dep-test"}) as resp:
                assert resp.status == 201
    first.stop()
    # An old running run: age alone never makes a run purgeable.
    sql(fresh_db, "UPDATE workflow.runs SET created_at = now() - interval '90 days' WHERE run_id = %s", live[0])
    before = sql(fresh_db, SNAPSHOT)

    # Two replicas run the job at the same time: they share the batches.
    env = {"WF_RETENTION_INTERVAL_SECONDS": "0.5", "WF_RETENTION_RUN_DAYS": "30", "WF_RETENTION_BATCH": "500",
           "WF_ENABLE_POLLER": "false"}
    one, two = start_service(fresh_db, **env), start_service(fresh_db, **env)
    await eventually(lambda: sql(fresh_db, "SELECT count(*) FROM workflow.runs WHERE run_id LIKE 'wrun_old%%'")
                     == [(0,)], within=120, interval=0.5)
    one.stop()
    two.stop()
    assert sql(fresh_db, COUNTS) == [(7, 14, 0, 0, 0, 0, 0)], "only the API runs' rows are left"
    after = sql(fresh_db, SNAPSHOT)
    assert after == before, "the runs that stay, their events and every queue message are untouched"
    logs = one.log_tail(100000) + two.log_tail(100000)
    purged = sum(int(line.split("retention purged ")[1].split(" runs")[0])
                 for line in logs.splitlines() if "retention purged" in line and " runs" in line)
    assert purged == 10000, "each replica logged what it purged; together exactly the 10k"



async def test_kept_hooks_are_released_when_their_retention_ends(
        fresh_db: str, start_service: Callable[..., Service]) -> None:
    """A DevKit 5 hook kept past its run's end (tokenRetentionUntil) holds its token until then; the job
    releases it at that time though nobody asks for the token, and a DevKit 4 run can then take it."""
    sql(fresh_db, "SELECT workflow.ensure_app('default')")
    service = start_service(fresh_db, WF_RETENTION_INTERVAL_SECONDS="0.5", WF_ENABLE_POLLER="false")
    async with aiohttp.ClientSession(base_url=service.url + "/api/v1/apps/default/") as client:
        kept, running = await new_run5(client), await new_run5(client)
        token = f"kept-{kept}"
        until = (datetime.now(UTC) + timedelta(seconds=3)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        status, body = await post5(client, kept, "hook_created", "h1", {"token": token, "tokenRetentionUntil": until})
        assert status == 200, body
        # A running run's hook whose retention time passes stays: retention only counts after the run's end.
        status, body = await post5(client, running, "hook_created", "h1",
                                   {"token": f"live-{running}", "tokenRetentionUntil": until})
        assert status == 200, body
        status, body = await post5(client, kept, "run_completed", data={"output": api.binary(b"done")})
        assert status == 200, body

        devkit4 = await api.new_run(client)
        status, body = await api.event(client, devkit4, "hook_created", "h1", data={"token": token})
        assert status == 200 and body["event"]["eventType"] == "hook_conflict", "held during the retention"

        def disposed(run_id: str) -> bool:
            return sql(fresh_db, "SELECT disposed_at IS NOT NULL FROM workflow.hooks WHERE run_id = %s", run_id) \
                == [(True,)]

        await eventually(lambda: disposed(kept), within=30, interval=0.2)
        assert not disposed(running), "a running run's hook is never released"
        status, body = await api.get(client, f"hooks/by-token/{token}")
        assert status == 404, body
        status, body = await api.event(client, devkit4, "hook_created", "h2", data={"token": token})
        assert status == 200 and body["event"]["eventType"] == "hook_created", body
    service.stop()
    assert "1 kept hooks released" in service.log_tail(100000)


def test_retention_settings_disable_each_kind_with_zero() -> None:
    settings = RetentionSettings.from_env({"WF_RETENTION_RUN_DAYS": "0", "WF_RETENTION_DEAD_LETTER_DAYS": "0.5"})
    assert settings.dead_letters == 43200 and settings.interval == 300
    purges = [name for name, _ in RetentionJob(None, settings).purges()]  # type: ignore[arg-type]
    assert "purge_runs" not in purges and "purge_dead_letters" in purges
    assert "release_kept_hooks" in purges, "kept hooks follow their own retention: never switched off by an age"
    for bad in ({"WF_RETENTION_RUN_DAYS": "-1"}, {"WF_RETENTION_BATCH": "0"}, {"WF_RETENTION_INTERVAL_SECONDS": "x"}):
        with pytest.raises(ValueError):
            RetentionSettings.from_env(bad)
