"""Multi-tenant test kit: HTTP clients that carry a service-account token,
and apps created and bound through the admin API."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from .k8s_fake import ADMIN_TOKEN, Cluster


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
               body: Any = None) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    """One request; the JSON answer (None when it has none), and the headers."""
    async with http.request(method, url, json=body, headers=bearer(token)) as resp:
        try:
            answer = await resp.json(content_type=None)
        except ValueError:
            answer = None
        return resp.status, answer, resp.headers


async def admin(http: aiohttp.ClientSession, cluster: Cluster, method: str, path: str,
                body: Any = None) -> tuple[int, Any]:
    status, answer, _ = await call(http, method, cluster.service.url + "/api/v1/apps" + path, ADMIN_TOKEN, body)
    return status, answer


async def new_bound_app(http: aiohttp.ClientSession, cluster: Cluster, namespace: str = "team-a",
                        service_account: str = "app") -> str:
    """A fresh app (admin API) that ``namespace:service_account`` may act for."""
    app_id = f"t{uuid.uuid4().hex[:10]}"
    status, answer = await admin(http, cluster, "POST", "", {"appId": app_id})
    assert status == 201, answer
    status, answer = await admin(http, cluster, "POST", f"/{app_id}/k8s-binding",
                                 {"namespace": namespace, "serviceAccount": service_account})
    assert status == 201, answer
    return app_id


def app_client(cluster: Cluster, app_id: str, token: str) -> aiohttp.ClientSession:
    """A session whose relative URLs are the app's (``client.get("runs")``), sending ``token``."""
    return aiohttp.ClientSession(base_url=f"{cluster.service.url}/api/v1/apps/{app_id}/", headers=bearer(token))
