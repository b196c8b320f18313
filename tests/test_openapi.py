"""/openapi.json documents exactly the routes the service serves."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from service.app import make_app
from service.config import Settings
from service.openapi import build_document

from .pgw import Service


def _app() -> web.Application:
    return make_app(Settings.from_env({}), "postgresql://unused")  # no connection before start-up


def _registered(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route, aiohttp's {name:regex} written {name}; HEAD twins of GETs left out."""
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        assert path, route
        routes.add((route.method, re.sub(r"\{([^}:]+)(:[^}]*)?\}", r"{\1}", path)))
    return {(m, p) for m, p in routes if not (m == "HEAD" and ("GET", p) in routes)}


def test_every_route_is_documented_and_nothing_else() -> None:
    app = _app()
    document = build_document(app)
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert documented == _registered(app)


def test_operations_are_complete() -> None:
    document = build_document(_app())
    assert document["openapi"].startswith("3.1")
    operation_ids = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            operation_ids.append(op["operationId"])
            assert op["summary"], where
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"\{([^}]+)\}", path)), where
            statuses = set(op["responses"])
            assert any(s.startswith("2") for s in statuses), where
            assert "400" in statuses, where
            if path.startswith("/api/v1/apps/"):
                assert {"401", "403", "404"} <= statuses, where
            if "requestBody" in op:
                assert "413" in statuses, where
            for status, answer in op["responses"].items():
                if status >= "400" and op["operationId"] != "ready":
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, where
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"


async def test_served_without_auth_with_a_readable_page(pgw_server: Service) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(pgw_server.url + "/openapi.json") as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            served = await resp.json()
        async with http.get(pgw_server.url + "/docs") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
    assert served == build_document(_app())
    assert "POST /api/v1/apps/{appId}/runs/{runId}/events" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page), "the page loads nothing from elsewhere"
