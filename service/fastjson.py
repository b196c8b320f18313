"""JSON on the hot paths: orjson, with the standard library's exact results.

orjson parses and writes several times faster than ``json``. Where the two could
disagree, these functions take the standard library's path, so callers see the
values and errors they saw before:

- ``loads``: orjson refuses everything ``json`` refuses here (NaN, Infinity,
  invalid UTF-8, control characters, trailing data) and more (lone surrogate
  escapes, numbers that overflow a double); whatever it refuses goes to
  ``json``, which decides. orjson turns integers beyond 64 bits into floats
  silently, so a text with a run of 19 or more digits skips it.
- ``dumps``: for the JSON values we parsed or built (str keys, finite numbers)
  orjson writes the same value, spelled differently (non-ASCII unescaped,
  ``1e+16``). Anything orjson refuses (integers beyond 64 bits, lone
  surrogates, non-str keys) is written by ``json.dumps``. It is used only for
  such values: orjson would write a NaN as ``null`` where ``json`` writes
  ``NaN``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Every byte to b"0" (a digit) or b" " (anything else): a run of 19 digits is then a plain substring search,
# several times cheaper than a regular expression.
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def loads(raw: bytes, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(raw.decode("utf-8"), parse_constant=parse_constant)``, faster.

    UnicodeDecodeError and ValueError as the standard library raises them.
    """
    if _LONG_RUN not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and words the error
    text = raw.decode("utf-8")
    return json.loads(text) if parse_constant is None else json.loads(text, parse_constant=parse_constant)


def loads_text(text: str) -> Any:
    """``json.loads(text)`` for JSON text SQL built (finite numbers only)."""
    return loads(text.encode())


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of a value parsed from JSON or built of str keys and finite numbers (a psycopg ``dumps``)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value).encode()
