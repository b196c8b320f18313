"""The named SQL statements of service/queries_sql/*.sql (one file per concern).

Blocks start with ``-- name: <name>``; everything up to the next block is the
statement. Every statement the service sends is in that folder: each API
request runs ``set_request_context`` and then exactly one named call, in one
transaction, and passes the JSON text it returns through to the client.
"""

from __future__ import annotations

import re
from importlib import resources

_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.M | re.S)


def load(text: str, into: dict[str, str], source: str = "") -> dict[str, str]:
    for name, body in _BLOCK.findall(text):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        statement = "\n".join(lines).strip().rstrip(";")
        if name in into:
            raise ValueError(f"query {name!r} is defined twice ({source})")
        into[name] = statement
    return into


def load_all() -> dict[str, str]:
    queries: dict[str, str] = {}
    folder = resources.files("service").joinpath("queries_sql")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            load(entry.read_text(), queries, entry.name)
    return queries


QUERIES: dict[str, str] = load_all()
