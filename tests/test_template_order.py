"""GET /workflows/:name/template over HTTP (change template_order): a step
that overlaps the steps before it joins their parallelGroup and keeps their
order; only a step that starts after them takes the next order."""

from __future__ import annotations

from .queue_support import QueueClient, handler_server, queue_client, queue_service
from .test_run_actions import event, started_run, template

__all__ = ["handler_server", "queue_client", "queue_service"]  # fixtures


async def test_a_step_overlapping_the_group_joins_it(queue_client: QueueClient) -> None:
    qc = queue_client
    workflow = f"workflow//./src/{qc.app_id}//chain"
    run_id = await started_run(qc, workflow)

    async def created(sid: str) -> None:
        await event(qc, run_id, "step_created", sid, {"stepName": f"step//{sid}"})

    async def done(sid: str) -> None:
        await event(qc, run_id, "step_started", sid)
        await event(qc, run_id, "step_completed", sid, {"result": 1})

    await created("a")
    await done("a")
    await created("b")
    await created("c")
    await done("b")
    await created("d")  # c still runs: d overlaps the group of b and c
    await done("c")
    await done("d")
    await created("e")  # after all of them
    await done("e")
    await event(qc, run_id, "run_completed", data={"output": 1})

    status, body = await template(qc, workflow)
    assert status == 200, body
    assert body["steps"] == [
        {"stepName": "step//a", "order": 1},
        {"stepName": "step//b", "order": 2, "parallelGroup": 1},
        {"stepName": "step//c", "order": 2, "parallelGroup": 1},
        {"stepName": "step//d", "order": 2, "parallelGroup": 1},
        {"stepName": "step//e", "order": 3},
    ]
