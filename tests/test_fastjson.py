"""service/fastjson.py gives the standard library's values and errors, whatever orjson would do."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import fastjson

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the types json gives (1 is not 1.0 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@given(JSON_VALUES, st.booleans())
@settings(max_examples=300, derandomize=True)
def test_loads_gives_what_json_gives(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        expected: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            fastjson.loads(raw)
        return
    assert _same(fastjson.loads(raw), expected)


@given(JSON_VALUES)
@settings(max_examples=300, derandomize=True)
def test_dumps_writes_the_same_value(value: Any) -> None:
    assert _same(json.loads(fastjson.dumps(value).decode("utf-8", "surrogatepass")), value)


@pytest.mark.parametrize("raw", [
    b"18446744073709551616", b"-9223372036854775809", b'{"n": [123456789012345678901234567890]}',
    b"1e400", b'"\\ud800"', b'{"a": 1, "a": 2}', b"-0", b"1.0",
])
def test_edge_values_are_the_standard_librarys(raw: bytes) -> None:
    assert _same(fastjson.loads(raw), json.loads(raw.decode()))


def _refuse(name: str) -> Any:
    raise ValueError(name)


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b"\xff", b"\xef\xbb\xbf{}", b"{", b"[1,]", b"1" * 5000])
def test_errors_are_the_standard_librarys(raw: bytes) -> None:
    with pytest.raises(ValueError):
        fastjson.loads(raw, parse_constant=_refuse)


def test_dumps_falls_back_where_orjson_refuses() -> None:
    for value in ({"big": 2**70}, {1: "int key"}, "\ud800"):
        assert fastjson.dumps(value) == json.dumps(value).encode()
