"""/status and /ready over real HTTP."""

import aiohttp

from .pgw import Service


async def test_status_and_ready(pgw_server: Service) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(pgw_server.url + "/status") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        async with http.get(pgw_server.url + "/ready") as resp:
            assert resp.status == 200
            body = await resp.json()
            assert body["ready"] is True and body["checks"]["database"] is True


async def test_unknown_route_is_json_404(pgw_server: Service) -> None:
    async with aiohttp.ClientSession() as http, http.get(pgw_server.url + "/nope") as resp:
        assert resp.status == 404
        body = await resp.json()
        assert body["statusCode"] == 404 and body["code"] == "WF_NOT_FOUND"
