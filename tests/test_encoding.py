"""Canonical msgpack (docs/PROTOCOL.md §2): every rule refused with its own error, and
round-trips of anything that can be encoded."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import encoding
from protocol.errors import (
    DuplicateKey,
    ForbiddenType,
    InvalidUtf8,
    NonMinimalInteger,
    NonMinimalLength,
    TooDeep,
    TrailingBytes,
    Truncated,
    UnsortedKeys,
)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xcc\x01", NonMinimalInteger),  # 1 as uint8
        (b"\xcd\x00\xff", NonMinimalInteger),  # 255 as uint16
        (b"\xce\x00\x00\xff\xff", NonMinimalInteger),  # 65535 as uint32
        (b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff", NonMinimalInteger),
        (b"\xd0\x05", NonMinimalInteger),  # a positive number in a signed form
        (b"\xd0\xf0", NonMinimalInteger),  # -16 fits a negative fixint
        (b"\xd1\xff\x80", NonMinimalInteger),  # -128 as int16
        (b"\xd9\x01a", NonMinimalLength),  # 1-char text as str8
        (b"\xda\x00\x01a", NonMinimalLength),
        (b"\xc5\x00\x01a", NonMinimalLength),  # 1-byte bin as bin16
        (b"\xdc\x00\x01\x01", NonMinimalLength),  # 1-element array as array16
        (b"\xde\x00\x01\xa1a\x01", NonMinimalLength),
        (b"\x82\xa1b\x01\xa1a\x02", UnsortedKeys),
        (b"\x82\xa1a\x01\xa1a\x02", DuplicateKey),
        (b"\x81\x01\x02", ForbiddenType),  # integer key
        (b"\xca\x00\x00\x00\x00", ForbiddenType),  # float32
        (b"\xcb" + bytes(8), ForbiddenType),  # float64
        (b"\xd4\x01\x00", ForbiddenType),  # fixext
        (b"\xc7\x01\x05a", ForbiddenType),  # ext8
        (b"\x91" * 9 + b"\x01", TooDeep),
        (b"\x91" * 2000 + b"\x01", TooDeep),  # beyond msgpack's own stack
        (b"\xa1\xff", InvalidUtf8),
        (b"\x01\x02", TrailingBytes),
        (b"\x92\x01", Truncated),
        (b"\xdb\xff\xff\xff\xff", Truncated),  # a length far past the input
        (b"", Truncated),
    ],
)
def test_non_canonical_input_is_refused_with_its_own_error(raw: bytes, error: type) -> None:
    with pytest.raises(error) as caught:
        encoding.decode(raw)
    assert caught.value.code == error.code
    assert caught.value.message


def test_key_order_is_by_utf8_bytes() -> None:
    value = {"é": 1, "z": 2, "a": 3, "ab": 4}
    raw = encoding.encode(value)
    assert list(encoding.decode(raw)) == ["a", "ab", "z", "é"]


def test_depth_limit_is_exact() -> None:
    ok = [[[[[[[[1]]]]]]]]  # eight levels
    assert encoding.decode(encoding.encode(ok)) == ok
    with pytest.raises(TooDeep):
        encoding.encode([ok])


def test_encode_refuses_what_cannot_be_canonical() -> None:
    with pytest.raises(ForbiddenType):
        encoding.encode(1.5)
    with pytest.raises(ForbiddenType):
        encoding.encode({1: "x"})


leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@given(values)
def test_round_trip(value: object) -> None:
    if _depth(value) > encoding.MAX_DEPTH:
        return
    raw = encoding.encode(value)
    assert encoding.decode(raw) == value
    assert encoding.encode(encoding.decode(raw)) == raw


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_longer_integer_form_is_refused(n: int) -> None:
    canonical = msgpack.packb(n)
    assert encoding.decode(canonical) == n
    for marker, size in ((0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if n >= 256**size:
            continue
        longer = bytes([marker]) + n.to_bytes(size, "big")
        if longer != canonical:
            with pytest.raises(NonMinimalInteger):
                encoding.decode(longer)


@given(st.dictionaries(st.text(min_size=1, max_size=6), st.integers(0, 9), min_size=2, max_size=6))
def test_any_other_key_order_is_refused(d: dict[str, int]) -> None:
    items = sorted(d.items(), key=lambda kv: kv[0].encode(), reverse=True)
    raw = msgpack.packb(dict(items))
    with pytest.raises(UnsortedKeys):
        encoding.decode(raw)
