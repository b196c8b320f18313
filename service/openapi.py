"""GET /openapi.json (OpenAPI 3.1) and GET /docs, generated from the routes'
declared operations (service/validate.py): what is validated is what is
documented. A route registered without an operation is missing here, which
tests/test_openapi.py turns into a failure. No auth in any mode (SPEC §12).
"""

from __future__ import annotations

import html
import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from . import responses
from .validate import Args, Operation, operation, operation_of

routes = web.RouteTableDef()

TITLE = "pg-workflow"
VERSION = "1"
_DOCUMENT = web.AppKey("openapi_document", dict)
_RETRY_AFTER_STATUSES = (425, 429, 503)


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        op = operation_of(route.handler)
        if op is None or route.method != op.method:  # HEAD twins of GET routes are not documented
            continue
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation_doc(op, route.handler.__name__)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "The durable backend (World) of the Workflow DevKit. Every refusal is a JSON Error "
                           "with a WF_* code; bad input is a 4xx that changes nothing.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": responses.ERROR}},
    }


def _operation_doc(op: Operation, operation_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": operation_id, "summary": op.summary, "tags": list(op.tags)}
    if op.description:
        doc["description"] = op.description
    parameters = [_parameter(name, "path", schema.json_schema(), True) for name, schema in op.path_params.items()]
    parameters += [_parameter(name, "query", _empty_is_absent(schema.json_schema()), False)
                   for name, schema in op.query.items()]
    parameters += [_parameter(name, "header", schema.json_schema(), False) for name, schema in op.headers.items()]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": op.body_required,
                              "content": {"application/json": {"schema": op.body.json_schema()}}}
    answers: dict[str, Any] = {}
    for status, schema in sorted(op.responses.items()):
        answers[str(status)] = {"description": HTTPStatus(status).phrase,
                                "content": {op.response_type: {"schema": _body_schema(op, schema)}}}
    for status in op.error_statuses:
        if str(status) in answers:
            continue
        answers[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status in _RETRY_AFTER_STATUSES:
            answers[str(status)]["headers"] = {
                "Retry-After": {"description": "seconds to wait before trying again", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            }
    doc["responses"] = answers
    return doc


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if "description" in schema:
        param["description"] = schema["description"]
    return param


def _empty_is_absent(schema: dict[str, Any]) -> dict[str, Any]:
    # ?cursor= counts as no cursor (service/validate.py): say so.
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}],
            "description": (schema.get("description", "") + " (empty: as if absent)").strip()}


def _body_schema(op: Operation, schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is not None:
        return schema
    if op.response_type == "application/octet-stream":
        return {"type": "string", "format": "binary"}
    return {"type": "string"}


def document(app: web.Application) -> dict[str, Any]:
    """The document, built once per application (routes do not change after start)."""
    if _DOCUMENT not in app:
        app[_DOCUMENT] = build_document(app)
    return app[_DOCUMENT]


@operation(routes, "GET", "/openapi.json", summary="This API as an OpenAPI 3.1 document",
           responses={200: {"type": "object", "required": ["openapi", "paths"]}}, tags=("meta",))
async def openapi_json(request: web.Request, args: Args) -> web.Response:
    return web.json_response(document(request.app))


@operation(routes, "GET", "/docs", summary="This API as a readable page (no external assets)",
           responses={200: None}, response_type="text/html", tags=("meta",))
async def docs(request: web.Request, args: Args) -> web.Response:
    return web.Response(text=render_html(document(request.app)), content_type="text/html")


def render_html(doc: dict[str, Any]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE} API</title>",
             "<style>body{font:14px/1.4 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "code,pre{font:12px ui-monospace,monospace}pre{background:#f4f4f4;padding:.5em;overflow:auto}"
             "h2{border-top:1px solid #ccc;padding-top:.5em;font-size:1.1em}td{padding:0 1em 0 0}</style>",
             f"</head><body><h1>{TITLE} API</h1><p>{html.escape(doc['info']['description'])}</p>",
             "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                         f"<p>{html.escape(op['summary'])}</p>")
            if op.get("description"):
                parts.append(f"<p>{html.escape(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table>")
                for p in params:
                    parts.append(f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                                 f"<td><code>{html.escape(json.dumps(p['schema']))}</code></td></tr>")
                parts.append("</table>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                parts.append(f"<p>Body:</p><pre>{html.escape(json.dumps(schema, indent=1))}</pre>")
            parts.append("<p>Answers: " + ", ".join(op["responses"]) + "</p>")
    parts.append("</body></html>")
    return "".join(parts)
