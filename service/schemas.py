"""The vocabulary of request schemas: small declarative types that check a
value and describe themselves as JSON Schema (for /openapi.json).

Every type refuses with ``bad(field, problem)``: a 400 ``WF_BAD_REQUEST``
whose message names the field and ``meta.field`` holds its JSON path
(``eventData.resumeAt``, ``chunks[2]``, ``query.limit``, ``path.runId``).

Rules every type keeps, so nothing unsafe reaches SQL whatever the route:
text never holds NUL or an unpaired surrogate (``Text(raw=True)`` is the one
exception, for text that is stored as bytes); numbers are finite; integers
fit their SQL type (int4 unless told); a ``{"__type":"Uint8Array",...}``
object anywhere is checked as strict base64; object keys are text too.
Nesting depth is bounded before parsing (service/validate.py), so the walks
here never recurse deeper than the body allows.

Routes do not use these types directly but declare an operation with them;
see service/validate.py for the pattern.
"""

from __future__ import annotations

import binascii
import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from .errors import ApiError

INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
# JavaScript's Date range; well inside PostgreSQL's timestamptz.
EPOCH_MS_LIMIT = 8_640_000_000_000_000

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,20}")
# ISO-8601 date, optionally with a time of day and then a zone. The SQL twin
# is in sql/deploy/strict_times.sql (workflow.event_time): keep them equal.
ISO_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)
_ISO_TIME = re.compile(ISO_TIME_PATTERN)
BINARY_TAG = "Uint8Array"


def bad(field: str, problem: str) -> ApiError:
    """The 400 answer for one field (``field`` is a JSON path; "" is the whole body)."""
    name = field or "body"
    return ApiError(400, "WF_BAD_REQUEST", f"{name} {problem}", {"field": name})


def child(field: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


def check_text(value: str, field: str) -> str:
    """value, unless it holds NUL or an unpaired UTF-16 surrogate (PostgreSQL text can hold neither)."""
    found = _BAD_TEXT.search(value)
    if found:
        what = "a NUL character" if found.group() == "\x00" else "an unpaired UTF-16 surrogate"
        raise bad(field, f"contains {what} (at character {found.start()})")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Schema:
    """A type: ``check`` returns the value to use (possibly converted) or raises ``bad``."""

    json_types: frozenset[str] = frozenset()
    description: str | None = None

    def check(self, value: Any, field: str) -> Any:
        raise NotImplementedError

    def from_text(self, text: str, field: str) -> Any:
        """For path, query and header parameters, which arrive as text."""
        return self.check(check_text(text, field), field)

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def documented(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


class Text(Schema):
    json_types = frozenset({"string"})

    def __init__(self, *, min_length: int = 0, max_length: int | None = None, pattern: str | None = None,
                 enum: Iterable[str] | None = None, raw: bool = False, description: str | None = None) -> None:
        self.min_length, self.max_length = min_length, max_length
        self.pattern = pattern
        self._regex = re.compile(pattern) if pattern else None
        self.enum = tuple(enum) if enum is not None else None
        self.raw = raw  # stored as bytes (stream chunks): NUL and surrogates are data there
        self.description = description

    def check(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise bad(field, f"must be a string, not {_json_type(value)}")
        if not self.raw:
            check_text(value, field)
        if self.enum is not None and value not in self.enum:
            raise bad(field, f"must be one of {', '.join(map(repr, self.enum))}, not {value[:100]!r}")
        if len(value) < self.min_length:
            raise bad(field, "must not be empty" if self.min_length == 1 else f"needs {self.min_length}+ characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise bad(field, f"is longer than {self.max_length} characters")
        if self._regex is not None:
            found = self._regex.search(value)
            # As in JSON Schema (ECMA-262), a final $ is the end of the text:
            # Python's would also match before a trailing newline.
            if found is None or (self.pattern.endswith("$") and found.end() != len(value)):
                raise bad(field, f"does not match {self.pattern}")
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern:
            schema["pattern"] = self.pattern
        return self.documented(schema)


class Integer(Schema):
    """An integer in [minimum, maximum] (int4 by default); 3.0 counts as 3."""

    json_types = frozenset({"number"})

    def __init__(self, *, minimum: int = INT4_MIN, maximum: int = INT4_MAX, description: str | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.description = description

    def check(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(field, f"must be an integer, not {_json_type(value)}")
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise bad(field, f"must be an integer, not {value!r}")
            value = int(value)
        if not self.minimum <= value <= self.maximum:
            raise bad(field, f"must be between {self.minimum} and {self.maximum}, not {value}")
        return value

    def from_text(self, text: str, field: str) -> int:
        if not _INTEGER_TEXT.fullmatch(text):
            raise bad(field, f"must be an integer, not {check_text(text, field)[:40]!r}")
        return self.check(int(text), field)

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"type": "integer", "minimum": self.minimum, "maximum": self.maximum})


class Number(Schema):
    json_types = frozenset({"number"})

    def __init__(self, *, minimum: float, maximum: float, description: str | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.description = description

    def check(self, value: Any, field: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(field, f"must be a number, not {_json_type(value)}")
        if not (math.isfinite(value) and self.minimum <= value <= self.maximum):
            raise bad(field, f"must be between {self.minimum:g} and {self.maximum:g}, not {value!r}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"type": "number", "minimum": self.minimum, "maximum": self.maximum})


class Boolean(Schema):
    json_types = frozenset({"boolean"})

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def check(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise bad(field, f"must be true or false, not {_json_type(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"type": "boolean"})


class Flag(Schema):
    """A header switch: "true" or "false" (any case); absent means false."""

    json_types = frozenset({"string"})

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def check(self, value: Any, field: str) -> bool:
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise bad(field, f'must be "true" or "false", not {str(value)[:40]!r}')
        return text == "true"

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"type": "string", "enum": ["true", "false"]})


class Binary(Schema):
    """Bytes in their JSON form {"__type":"Uint8Array","data":"<base64>"} (SPEC section 3), checked strictly."""

    json_types = frozenset({"object"})

    def __init__(self, *, decode: bool = False, description: str | None = None) -> None:
        self.decode = decode  # return the bytes instead of the JSON form
        self.description = description or "binary data: {\"__type\":\"Uint8Array\",\"data\":\"<base64>\"}"

    def check(self, value: Any, field: str) -> Any:
        if not (isinstance(value, dict) and value.get("__type") == BINARY_TAG):
            raise bad(field, f'must be {{"__type":"{BINARY_TAG}","data":"<base64>"}}')
        extra = sorted(set(value) - {"__type", "data"})
        if extra:
            raise bad(child(field, extra[0]), "is not allowed in binary data (only __type and data)")
        data = value.get("data")
        if not isinstance(data, str):
            raise bad(child(field, "data"), f"must be a base64 string, not {_json_type(data)}")
        try:
            raw = binascii.a2b_base64(data.encode("ascii"), strict_mode=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise bad(child(field, "data"), f"is not valid base64 ({exc})") from None
        return raw if self.decode else value

    def json_schema(self) -> dict[str, Any]:
        return self.documented({
            "type": "object",
            "properties": {
                "__type": {"const": BINARY_TAG},
                "data": {"type": "string", "pattern": "^[A-Za-z0-9+/]*={0,2}$", "contentEncoding": "base64"},
            },
            "required": ["__type", "data"],
            "additionalProperties": False,
        })


# The request body being checked is known to hold nothing Json.check refuses (see plain_body).
_PLAIN_BODY: ContextVar[bool] = ContextVar("pgw_plain_body", default=False)


@contextlib.contextmanager
def plain_body(plain: bool) -> Iterator[None]:
    """While a parsed body is checked: ``plain`` says its raw text cannot hold what Json.check looks for.

    Decided from the raw bytes (validate.is_plain_json): without a \\u escape no decoded string holds NUL or an
    unpaired surrogate (UTF-8 cannot encode either, and JSON forbids raw control characters); without an exponent
    of three digits or a run of 19 digits no number can parse to infinity; without "__type" there is no binary tag.
    Then walking every value of a wide payload would find nothing, and is skipped.
    """
    token = _PLAIN_BODY.set(plain)
    try:
        yield
    finally:
        _PLAIN_BODY.reset(token)


class Json(Schema):
    """Any JSON value (payloads, messages): checked everywhere inside for safe
    text (keys too), finite numbers and well-formed binary data."""

    json_types = frozenset({"null", "boolean", "number", "string", "array", "object"})
    _binary = Binary()

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def check(self, value: Any, field: str) -> Any:
        if _PLAIN_BODY.get():
            return value  # nothing in this body can be refused here (plain_body)
        # A loop, not recursion: payloads may be wide and deep. Containers are
        # queued with where they sit; a path is spelled out only for a refusal.
        self._scalar(value, field, None, None)
        pending: list[tuple[Any, Any, str | int | None]] = []
        if isinstance(value, list | dict):
            pending.append((value, None, None))
        while pending:
            item, parent, key = pending.pop()
            where = (parent, key)
            if isinstance(item, list):
                for i, v in enumerate(item):
                    kind = type(v)
                    if kind is int or kind is bool or v is None:
                        continue  # the bulk of wide arrays: nothing to check
                    if kind is list or kind is dict:
                        pending.append((v, where, i))
                    else:
                        self._scalar(v, field, where, i)
            elif item.get("__type") == BINARY_TAG:
                self._binary.check(item, _path(field, parent, key))
            else:
                for k, v in item.items():
                    if _BAD_TEXT.search(k):
                        check_text(k, _path(field, where, k))
                    if isinstance(v, list | dict):
                        pending.append((v, where, k))
                    elif isinstance(v, str | float):
                        self._scalar(v, field, where, k)
        return value

    @staticmethod
    def _scalar(value: Any, field: str, parent: Any, key: str | int | None) -> None:
        if isinstance(value, str):
            if _BAD_TEXT.search(value):
                check_text(value, _path(field, parent, key))
        elif isinstance(value, float) and not math.isfinite(value):
            raise bad(_path(field, parent, key), "must be a finite number")

    def json_schema(self) -> dict[str, Any]:
        return self.documented({})


ANY_JSON = Json()


def _path(field: str, parent: Any, key: str | int | None) -> str:
    """The JSON path of a member found by Json.check: parent is (grandparent, its key) or None (the root)."""
    keys: list[str | int] = []
    while key is not None:
        keys.append(key)
        parent, key = parent
    for k in reversed(keys):
        field = child(field, k)
    return field


class Time(Schema):
    """An ISO-8601 date-time string or epoch milliseconds, never a keyword like "infinity" or "now"."""

    json_types = frozenset({"string", "number"})

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def check(self, value: Any, field: str) -> Any:
        if isinstance(value, str):
            if _ISO_TIME.fullmatch(value) is None or not _valid_calendar(value):
                raise bad(field, f"must be an ISO-8601 time such as 2026-01-31T12:00:00.000Z, not {value[:60]!r}")
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not (math.isfinite(value) and abs(value) <= EPOCH_MS_LIMIT):
                raise bad(field, f"must be epoch milliseconds within ±{EPOCH_MS_LIMIT}, not {value!r}")
            return value
        raise bad(field, f"must be an ISO-8601 string or epoch milliseconds, not {_json_type(value)}")

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"oneOf": [
            {"type": "string", "pattern": ISO_TIME_PATTERN},
            {"type": "number", "minimum": -EPOCH_MS_LIMIT, "maximum": EPOCH_MS_LIMIT},
        ]})


def _valid_calendar(value: str) -> bool:
    """The date and time fields name a real instant (no 2026-02-30, no 24:61)."""
    date, _, rest = value.replace("t", "T").replace(" ", "T").partition("T")
    try:
        year, month, day = (int(p) for p in date.split("-"))
        datetime(year, month, day)
        if rest:
            clock = re.split(r"[Zz+-]", rest, maxsplit=1)[0]
            parts = clock.split(":")
            hour, minute = int(parts[0]), int(parts[1])
            second = float(parts[2]) if len(parts) > 2 else 0.0
            if hour > 23 or minute > 59 or second >= 60:
                return False
    except ValueError:
        return False
    return True


class Nullable(Schema):
    """``inner`` or JSON null."""

    def __init__(self, inner: Schema) -> None:
        self.inner = inner
        self.json_types = inner.json_types | {"null"}
        self.description = inner.description

    def check(self, value: Any, field: str) -> Any:
        return None if value is None else self.inner.check(value, field)

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}


class Either(Schema):
    """One of several types with different JSON types (chosen by the value's JSON type)."""

    def __init__(self, *options: Schema, description: str | None = None) -> None:
        self.options = options
        self.json_types = frozenset().union(*(o.json_types for o in options))
        self.description = description

    def check(self, value: Any, field: str) -> Any:
        kind = _json_type(value)
        for option in self.options:
            if kind in option.json_types:
                return option.check(value, field)
        raise bad(field, f"must be {self.description or ' or '.join(sorted(self.json_types))}, not {kind}")

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"oneOf": [o.json_schema() for o in self.options]})


class Array(Schema):
    json_types = frozenset({"array"})

    def __init__(self, items: Schema, *, max_items: int | None = None, description: str | None = None) -> None:
        self.items, self.max_items = items, max_items
        self.description = description

    def check(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            raise bad(field, f"must be an array, not {_json_type(value)}")
        if self.max_items is not None and len(value) > self.max_items:
            raise bad(field, f"has more than {self.max_items} items")
        return [self.items.check(v, child(field, i)) for i, v in enumerate(value)]

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.items.json_schema()}
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return self.documented(schema)


class Repeated(Schema):
    """A query parameter that may be given several times (``?status=a&status=b``): the list of its
    values, each checked by ``items`` (absent: None). Only for query parameters (service/validate.py)."""

    json_types = frozenset({"array"})

    def __init__(self, items: Schema, *, max_items: int, description: str | None = None) -> None:
        self.items, self.max_items = items, max_items
        self.description = description

    def check(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            raise bad(field, f"must be an array, not {_json_type(value)}")
        if len(value) > self.max_items:
            raise bad(field, f"is given more than {self.max_items} times")
        return [self.items.check(v, child(field, i)) for i, v in enumerate(value)]

    def from_texts(self, texts: list[str], field: str) -> list[Any]:
        if len(texts) > self.max_items:
            raise bad(field, f"is given more than {self.max_items} times")
        return [self.items.from_text(t, child(field, i)) for i, t in enumerate(texts)]

    def json_schema(self) -> dict[str, Any]:
        return self.documented({"type": "array", "items": self.items.json_schema(), "maxItems": self.max_items})


class Object(Schema):
    """A JSON object with known members. Null counts as absent (as the DevKit
    sends it); members not named are checked as ``extra`` (Json: any safe
    value) or refused when ``extra`` is None. ``one_required`` lists groups
    of which at least one member must be given (podId | machineId)."""

    json_types = frozenset({"object"})

    def __init__(self, properties: Mapping[str, Schema], *, required: Iterable[str] = (),
                 extra: Schema | None = ANY_JSON, one_required: Iterable[tuple[str, ...]] = (),
                 description: str | None = None) -> None:
        self.properties = dict(properties)
        self.required = tuple(required)
        self.extra = extra
        self.one_required = tuple(one_required)
        self.description = description

    def check(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise bad(field, f"must be a JSON object, not {_json_type(value)}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = child(field, key)
            check_text(key, where)
            schema = self.properties.get(key, self.extra)
            if schema is None:
                raise bad(where, "is not an allowed member")
            out[key] = None if item is None and key in self.properties else schema.check(item, where)
        for key in self.required:
            if out.get(key) is None:
                raise bad(child(field, key), "is required")
        for group in self.one_required:
            if all(out.get(key) is None for key in group):
                raise bad(child(field, group[0]), f"is required (or {', '.join(group[1:])})")
        return out

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k: v.json_schema() if k in self.required else _nullable_doc(v)
                           for k, v in self.properties.items()},
        }
        if self.required:
            schema["required"] = list(self.required)
        if self.extra is None:
            schema["additionalProperties"] = False
        if self.one_required:
            schema["anyOf"] = [{"required": [k]} for group in self.one_required for k in group]
        return self.documented(schema)


def _nullable_doc(schema: Schema) -> dict[str, Any]:
    # Optional members may be null; Json already allows anything.
    doc = schema.json_schema()
    if isinstance(schema, Json | Nullable):
        return doc
    return {"anyOf": [doc, {"type": "null"}]}


class Tagged(Schema):
    """An object whose shape depends on a tag member (the event body's eventType).
    ``common`` holds the members of every variant; ``variants`` maps each tag
    value to the members specific to it."""

    json_types = frozenset({"object"})

    def __init__(self, tag: str, common: Object, variants: Mapping[str, Object],
                 description: str | None = None) -> None:
        self.tag, self.common, self.variants = tag, common, dict(variants)
        self.tag_schema = Text(enum=self.variants)
        self.description = description
        self._merged = {name: self._merge(name) for name in self.variants}

    def check(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise bad(field, f"must be a JSON object, not {_json_type(value)}")
        if value.get(self.tag) is None:
            raise bad(child(field, self.tag), "is required")
        tag = self.tag_schema.check(value[self.tag], child(field, self.tag))
        return self._merged[tag].check(value, field)

    def _merge(self, tag: str) -> Object:
        variant = self.variants[tag]
        return Object({**self.common.properties, **variant.properties, self.tag: Text(enum=[tag])},
                      required=(self.tag, *self.common.required, *variant.required),
                      extra=self.common.extra)

    def json_schema(self) -> dict[str, Any]:
        options = []
        for tag in self.variants:
            doc = self._merged[tag].json_schema()
            doc["properties"][self.tag] = {"const": tag}
            doc["title"] = tag
            options.append(doc)
        return self.documented({"oneOf": options})


# Members many routes share. Lengths keep ids well inside an index entry.
ID = Text(min_length=1, max_length=512, description="an id chosen by the runtime or the server")
APP_ID = Text(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="the application (tenant) id")
PATH_DEFAULTS: dict[str, Schema] = {"appId": APP_ID}
RESOLVE_DATA = Text(enum=("all", "none"), description="none strips payloads (input, output, metadata, ...)")
SORT_ORDER = Text(enum=("asc", "desc"))
LIMIT = Integer(minimum=1, maximum=1000, description="page size")
CURSOR = Text(max_length=64, description="opaque: the cursor of the previous page")
PAGE_QUERY: dict[str, Schema] = {"limit": LIMIT, "cursor": CURSOR, "sortOrder": SORT_ORDER, "resolveData": RESOLVE_DATA}
# http(s) and no control characters or whitespace anywhere; the delivery
# policy (which hosts) is SQL's.
URL = Text(min_length=1, max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$", description="an http(s) URL")
