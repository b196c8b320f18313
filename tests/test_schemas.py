"""The schema vocabulary as pure functions: properties over generated values."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import ApiError
from service.schemas import APP_ID, INT4_MAX, INT4_MIN, URL, Binary, Integer, Json, Object, Text, Time, plain_body
from service.validate import MAX_DEPTH, check_depth, is_plain_json, parse_json

TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=20)  # includes NUL and surrogates
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def _has_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, list):
        return any(_has_bad_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bad_text(k) or _has_bad_text(v) for k, v in value.items())
    return False


@given(JSON_VALUES)
@settings(max_examples=300, derandomize=True)
def test_json_refuses_exactly_unsafe_text(value: Any) -> None:
    try:
        assert Json().check(value, "x") is value
        assert not _has_bad_text(value)
    except ApiError as err:
        assert err.status == 400 and err.code == "WF_BAD_REQUEST" and err.meta["field"].startswith("x")
        assert _has_bad_text(value)


def test_depth_is_bounded_before_parsing() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    for raw in (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), b"{\"a\":" * 10**6, b"[" * 10**6):
        with pytest.raises(ApiError) as err:
            parse_json(raw)
        assert err.value.status == 400 and "nested" in err.value.message
    # Brackets inside strings are text, not nesting.
    assert parse_json(json.dumps({"s": "[" * 1000}).encode()) == {"s": "[" * 1000}


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b'{"a":-Infinity}', b"\xff", b"{", b"1" * 5000])
def test_parse_refuses_what_json_does_not_allow(raw: bytes) -> None:
    with pytest.raises(ApiError):
        parse_json(raw)


@given(st.integers())
@settings(max_examples=200, derandomize=True)
def test_integer_text_is_range_checked(n: int) -> None:
    schema = Integer()
    if INT4_MIN <= n <= INT4_MAX:
        assert schema.from_text(str(n), "q") == n
    else:
        with pytest.raises(ApiError):
            schema.from_text(str(n), "q")


@pytest.mark.parametrize("text", ["", " 1", "1.0", "0x10", "\u0661", "1e3", "9" * 30])
def test_integer_text_must_be_plain_digits(text: str) -> None:
    with pytest.raises(ApiError):
        Integer().from_text(text, "q")


@given(st.binary(max_size=64))
@settings(max_examples=100, derandomize=True)
def test_binary_accepts_canonical_base64(data: bytes) -> None:
    wire = {"__type": "Uint8Array", "data": base64.b64encode(data).decode()}
    assert Binary(decode=True).check(wire, "b") == data
    assert Json().check({"deep": [wire]}, "v")


@pytest.mark.parametrize("data", ["!!not base64!!", "QQ", "QQ=", "Q===", "QQ==QQ==", " QQ==", "QQ==\n", "é"])
def test_binary_refuses_loose_base64(data: str) -> None:
    for schema in (Binary(), Json()):
        with pytest.raises(ApiError) as err:
            schema.check({"__type": "Uint8Array", "data": data}, "v")
        assert err.value.meta["field"] == "v.data"


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)))
@settings(max_examples=200, derandomize=True)
def test_time_accepts_iso_strings(moment: datetime) -> None:
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert Time().check(text, "t") == text


@pytest.mark.parametrize("value", ["infinity", "-infinity", "epoch", "now", "today", "tomorrow", "yesterday",
                                   "allballs", "", "2026-02-30", "2026-01-01\n",
                                   "2026-01-01T10:00:00Z\n", "2026-01-01T24:00:00Z", "2026-01-01T10:00:00Q",
                                   "January 1 2026", 1e300, float("nan"), True, None, {"t": 1}])
def test_time_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ApiError):
        Time().check(value, "t")


def test_objects_name_the_member_and_keep_unknown_ones() -> None:
    schema = Object({"a": Text(max_length=3)}, required=("a",))
    assert schema.check({"a": "abc", "other": [1]}, "") == {"a": "abc", "other": [1]}
    for value, field in [({}, "a"), ({"a": None}, "a"), ({"a": "abcd"}, "a"), ({"a": "x", "b\x00": 1}, "b\x00"),
                         ({"a": "x", "z": {"k": "\ud800"}}, "z.k")]:
        with pytest.raises(ApiError) as err:
            schema.check(value, "")
        assert err.value.meta == {"field": field}, value


@pytest.mark.parametrize("url", ["http://127.0.0.1/f\n", "http://127.0.0.1/f\r\nX: 1", "http://a b/", "ftp://a/", "\nhttp://a/",
                                 "http://a/\x7f", "http://a/\u2028"])
def test_urls_have_no_whitespace_or_control_characters(url: str) -> None:
    with pytest.raises(ApiError):
        URL.check(url, "endpoints.workflow")
    assert URL.check("http://127.0.0.1:3000/.well-known/workflow/v1/flow?x=1", "u")


def test_patterns_end_at_the_end_of_the_text() -> None:
    with pytest.raises(ApiError):
        APP_ID.check("default\n", "path.appId")
    assert APP_ID.check("default", "path.appId") == "default"


def _deeper_than_limit(raw: bytes) -> bool:
    """The nesting rule, token by token: brackets outside JSON strings."""
    depth = 0
    for token in re.finditer(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', raw):
        if token.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token.group() in (b"]", b"}"):
            depth -= 1
    return False


@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b"[" * 8, b"]" * 8, b'"\\"']),
                min_size=60, max_size=200))
@settings(max_examples=500, derandomize=True)
def test_depth_check_agrees_with_the_token_scan(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    try:
        check_depth(raw)
        refused = False
    except ApiError:
        refused = True
    assert refused == _deeper_than_limit(raw)


BINARY_OR_NUMBER_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT
    | st.fixed_dictionaries({"__type": st.just("Uint8Array"), "data": st.text(max_size=8)}),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(BINARY_OR_NUMBER_VALUES, st.booleans())
@settings(max_examples=400, derandomize=True)
def test_a_plain_body_holds_nothing_json_check_refuses(value: Any, ascii_only: bool) -> None:
    """is_plain_json lets Json.check skip a body only when the walk could not have refused anything in it."""
    try:
        raw = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8")
    except UnicodeEncodeError:
        return  # an unpaired surrogate cannot be sent as UTF-8 at all
    if not is_plain_json(raw):
        return
    try:
        parsed = parse_json(raw)
    except ApiError:
        assert b"NaN" in raw or b"Infinity" in raw  # the parser refuses those itself
        return
    Json().check(parsed, "x")  # must not raise: nothing unsafe can hide in a plain body


def test_a_body_is_checked_whole_unless_plain() -> None:
    assert is_plain_json(b'{"a": "text", "n": [1, 2.5, 1e30], "o": {"k": null}}')
    for raw in (b'{"a": "\\u0000"}', b'{"a": "\\ud800"}', b'[1e400]', b'[1E+308]', b'[12345678901234567890]',
                b'{"__type": "Uint8Array", "data": "!!"}'):
        assert not is_plain_json(raw), raw
    with plain_body(False), pytest.raises(ApiError):
        Json().check(["\x00"], "x")
    with plain_body(True):
        assert Json().check(["\x00"], "x") == ["\x00"]  # skipped: only for bodies is_plain_json vouches for
