"""RFC 8785 canonical JSON: property tests against an independent reference serializer."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witnessbox.errors import IntegrityError
from witnessbox.ledger.canonical import canonical_bytes, parse_canonical


def _es6_number(x: float) -> str:
    """ECMAScript Number.prototype.toString, from the shortest round-trip digits (ES 7.1.12.1)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _es6_number(-x)
    t = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    k = len(digits)
    n = int(t.exponent) + k
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def _ref_string(s: str) -> str:
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _ref(v: Any) -> str:
    """Independent RFC 8785 serializer (no shared code with the rfc8785 package)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _es6_number(v)
    if isinstance(v, str):
        return _ref_string(v)
    if isinstance(v, list):
        return "[" + ",".join(_ref(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(_ref_string(k) + ":" + _ref(v[k]) for k in keys) + "}"


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | text
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(text, c, max_size=5), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(v=values)
def test_matches_independent_reference(v: Any) -> None:
    assert canonical_bytes(v) == _ref(v).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(v=st.dictionaries(text, values, max_size=6))
def test_round_trip_is_stable(v: dict[str, Any]) -> None:
    data = canonical_bytes(v)
    parsed = parse_canonical(data, what="x")
    assert canonical_bytes(parsed) == data


@pytest.mark.parametrize(
    "value,expected",
    [  # from RFC 8785 appendix B and section 3.2.2
        (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (-0.0, "0"), (333333333.3333333, "333333333.3333333"),
        (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (9007199254740992.0, "9007199254740992"),
        ({"\u20ac": 1, "\r": 2, "1": 3, "\U0001f600": 4, "\u00f6": 5}, '{"\\r":2,"1":3,"\u00f6":5,"\u20ac":1,"\U0001f600":4}'),
        ("\u0000\u001f\u007f", '"\\u0000\\u001f\u007f"'),
    ],
)
def test_known_vectors(value: Any, expected: str) -> None:
    assert canonical_bytes(value) == expected.encode("utf-8")


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**64, "\ud800", {1: 2}, b"bytes", {"a": {1, 2}}])
def test_rejects_non_json(bad: Any) -> None:
    with pytest.raises(ValueError):
        canonical_bytes(bad)


def _nested(depth: int) -> bytes:
    # Unsigned log entries and proofs from outside are hostile input: nesting must not crash.
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "data",
    [b'{"b":1,"a":2}', b'{"a": 1}', b"[1]", b"\xff", b'{"a":1.0}', b"not json", _nested(100_000), _nested(990)],
    ids=["unsorted", "spaces", "array", "not-utf8", "float", "not-json", "nested-100000", "nested-990"],
)
def test_parse_refuses_non_canonical(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        parse_canonical(data, what="x")


def test_reference_sanity() -> None:
    assert _ref({"b": [1, 2.5, None], "a": "x"}) == json.dumps({"a": "x", "b": [1, 2.5, None]}, separators=(",", ":"))
