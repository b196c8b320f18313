"""What multi-tenant mode costs per request (not a test).

    .venv/bin/python -m bench.auth_overhead [--requests 2000]

Starts two pg-workflow processes on the same fresh database: one in
single-tenant mode, one in multi-tenant mode trusting a fake Kubernetes API
(tests/k8s_fake.py, real TLS). Both serve the same app and run: the
multi-tenant one as a bound service account whose token is already cached
(one TokenReview, before timing starts), so what is measured is the
per-request price of the mode — the cache lookup and the binding check in
request_context. Requests alternate between the services one by one (and
which goes first) so load from elsewhere on the machine hits both alike.
Workloads: GET /runs/:id and POST /runs/:id/events (step_created). The
client is a minimal keep-alive HTTP/1.1 client, so the latencies are the
service's rather than a client library's.

Prints median latencies and the overhead (multi / single - 1); the budget is
10%. Databases: PGW_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from service import migrate
from tests.k8s_fake import FakeKubernetes, multi_tenant_env
from tests.pgw import Service, create_database, db_url, drop_database

APP = "bench-app"
TOKEN = "tok-a"  # team-a:app in the fake API server


class RawClient:
    """One keep-alive HTTP/1.1 connection; each request is one write."""

    def __init__(self, url: str, token: str | None) -> None:
        self._host, port = url.removeprefix("http://").split(":")
        self._port = int(port)
        self._auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._conn
        payload = b"" if body is None else json.dumps(body).encode()
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._auth}"
                     f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await reader.readexactly(length)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()


async def timed(client: RawClient, method: str, path: str, body: Any = None) -> float:
    started = time.perf_counter()
    status, answer = await client.request(method, path, body)
    elapsed = time.perf_counter() - started
    assert status == 200, (status, answer[:300])
    return elapsed


async def setup_app(multi: Service, admin_token: str) -> str:
    admin = RawClient(multi.url, admin_token)
    status, answer = await admin.request("POST", "/api/v1/apps", {"appId": APP})
    assert status in (200, 201), answer
    status, answer = await admin.request("POST", f"/api/v1/apps/{APP}/k8s-binding",
                                         {"namespace": "team-a", "serviceAccount": "app"})
    assert status in (200, 201), answer
    await admin.close()
    client = RawClient(multi.url, TOKEN)
    status, answer = await client.request("POST", f"/api/v1/apps/{APP}/runs/null/events", {
        "eventType": "run_created", "specVersion": 3,
        "eventData": {"deploymentId": "bench", "workflowName": "bench", "input": {"__type": "Uint8Array", "data": ""}}})
    assert status == 200, answer
    run_id = json.loads(answer)["run"]["runId"]
    status, answer = await client.request("POST", f"/api/v1/apps/{APP}/runs/{run_id}/events",
                                          {"eventType": "run_started", "specVersion": 3})
    assert status == 200, answer
    await client.close()
    return run_id


async def measure(clients: dict[str, RawClient], run_id: str, requests: int) -> dict[tuple[str, str], list[float]]:
    """Request by request, alternating which mode goes first, so both see the same machine."""
    samples: dict[tuple[str, str], list[float]] = {}
    base = f"/api/v1/apps/{APP}/runs/{run_id}"
    order = list(clients.items())
    for i in range(requests):
        for mode, client in (order if i % 2 == 0 else order[::-1]):
            samples.setdefault((mode, "GET /runs/:id"), []).append(await timed(client, "GET", base))
        for mode, client in (order if i % 2 == 0 else order[::-1]):
            body = {"eventType": "step_created", "correlationId": f"step_{mode}_{i}", "specVersion": 3,
                    "eventData": {"stepName": "s", "input": {"__type": "Uint8Array", "data": ""}}}
            samples.setdefault((mode, "POST /runs/:id/events"), []).append(
                await timed(client, "POST", base + "/events", body))
        if (i + 1) % max(1, requests // 10) == 0:
            print(f"  {i + 1}/{requests}", flush=True)
    for client in clients.values():
        await client.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per workload and mode")
    args = parser.parse_args()

    name = create_database(prefix="pgw_bench")
    fake = FakeKubernetes().start()
    services: list[Service] = []
    try:
        url = db_url(name)
        migrate.deploy(url)
        sa_dir = Path(tempfile.mkdtemp(prefix="pgw-bench-sa-"))
        fake.write_service_account(sa_dir)
        quiet = {"WF_ENABLE_POLLER": "false", "LOG_LEVEL": "WARNING"}
        single = Service(url, env={"K8S_SERVICE_ACCOUNT_DIR": str(sa_dir / "absent"), **quiet})
        multi = Service(url, env={**multi_tenant_env(fake, sa_dir), **quiet})
        services += [single.start(), multi.start()]
        run_id = asyncio.run(setup_app(multi, "tok-admin"))
        reviews_before = fake.review_count(TOKEN)
        clients = {"single": RawClient(single.url, None), "multi": RawClient(multi.url, TOKEN)}
        samples = asyncio.run(measure(clients, run_id, args.requests))
        assert fake.review_count(TOKEN) == reviews_before, "the token should have been served from the cache"
        print(f"\n{'workload':<24}{'single ms':>11}{'multi ms':>11}{'overhead':>10}")
        for workload in ("GET /runs/:id", "POST /runs/:id/events"):
            one = statistics.median(samples[("single", workload)]) * 1000
            many = statistics.median(samples[("multi", workload)]) * 1000
            print(f"{workload:<24}{one:>11.3f}{many:>11.3f}{(many / one - 1) * 100:>9.1f}%")
        print("\nbudget: multi-tenant with a cached token at most 10% slower per request")
    finally:
        for service in services:
            service.stop()
        fake.stop()
        drop_database(name)


if __name__ == "__main__":
    main()
