"""Canonical msgpack (docs/PROTOCOL.md §2): exactly one byte string per value.

The rules: integers and lengths in their shortest form; maps with text keys only,
sorted by the keys' UTF-8 bytes, no key twice; no floats and no extension types; text is
UTF-8; nesting at most :data:`MAX_DEPTH` deep; nothing after the value.

msgpack itself accepts duplicate keys, long forms and deep nesting, so :func:`decode`
checks the rules itself. The common case stays in C: unpack, re-pack, compare the bytes.
Only when the comparison fails does a slow scan run, to name the rule that was broken.
"""

from __future__ import annotations

from typing import Any

import msgpack

from protocol.errors import (
    DuplicateKey,
    EncodingError,
    ForbiddenType,
    IntegerOutOfRange,
    InvalidUtf8,
    NonMinimalInteger,
    NonMinimalLength,
    TooDeep,
    TrailingBytes,
    Truncated,
    UnsortedKeys,
)

#: Deepest nesting of arrays and maps allowed anywhere (the envelope is depth 1, a
#: payload with one level of sub-maps depth 2).
MAX_DEPTH = 8
#: the integers msgpack can hold (docs/PROTOCOL.md §2)
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


def encode(value: Any) -> bytes:
    """The canonical encoding of ``value`` (dict keys are sorted here), or the
    :class:`EncodingError` that names what cannot be encoded."""
    try:
        return msgpack.packb(_sorted(value, 0), use_bin_type=True)  # type: ignore[no-any-return]
    except (OverflowError, UnicodeEncodeError):
        raise _unencodable(value, 0) or EncodingError("the value cannot be encoded") from None


def encode_arrays(value: list[Any] | tuple[Any, ...]) -> bytes:
    """The canonical encoding of a value made only of arrays and of text, bytes, integers,
    booleans and None, with no map anywhere, nested at most :data:`MAX_DEPTH` deep. For
    such a value msgpack's own encoding is canonical (no keys to sort), so the walk of
    :func:`encode` is skipped: the same bytes, several times faster. For values this
    package builds itself (projection states), never for what a peer sent."""
    try:
        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]
    except (OverflowError, UnicodeEncodeError):
        return encode(value)  # raises the error that names what is wrong


def _sorted(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels")
        for key in value:
            if not isinstance(key, str):
                raise ForbiddenType(f"map key {key!r} is not text")
        keys = sorted(value, key=lambda k: k.encode())
        return {k: _sorted(value[k], depth + 1) for k in keys}
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels")
        return [_sorted(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    raise ForbiddenType(f"a {type(value).__name__} cannot be encoded")


def _unencodable(value: Any, depth: int) -> EncodingError | None:
    """Why msgpack could not pack ``value``: an integer out of range or text with a lone
    surrogate (the slow path, run only after packing failed)."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as e:
            return InvalidUtf8(
                f"the text {value[:40]!r} is not valid Unicode: "
                f"it holds the lone surrogate U+{ord(value[e.start]):04X}"
            )
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if MIN_INT <= value <= MAX_INT:
            return None
        bits = value.bit_length()
        shown = f"the integer {value}" if bits < 128 else f"a {bits}-bit integer"
        return IntegerOutOfRange(f"{shown} is outside the range -2^63 to 2^64-1")
    if isinstance(value, dict):
        items: list[Any] = [*value, *value.values()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    for item in items:
        error = _unencodable(item, depth + 1)
        if error is not None:
            return error
    return None


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    previous: bytes | None = None
    for key, value in pairs:
        if not isinstance(key, str):
            raise ForbiddenType(f"map key {key!r} is not text")
        raw = key.encode()
        if previous is not None:
            if raw == previous:
                raise DuplicateKey(f"map key {key!r} appears twice")
            if raw < previous:
                raise UnsortedKeys(f"map key {key!r} is out of order")
        previous = raw
        result[key] = value
    return result


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ForbiddenType(f"extension type {code} is not allowed")


def _check_values(value: Any, depth: int) -> None:
    """Depth and types, walking at most MAX_DEPTH frames deep."""
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels")
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, dict | list):
                _check_values(item, depth + 1)
            elif isinstance(item, float):
                raise ForbiddenType("floating-point numbers are not allowed")
    elif isinstance(value, float):
        raise ForbiddenType("floating-point numbers are not allowed")


def decode(data: bytes) -> Any:
    """Decode one canonical value, or raise the :class:`EncodingError` that names the
    first rule ``data`` breaks. Arrays come back as lists, maps as dicts."""
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,  # _pairs refuses non-text keys with a clearer error
            object_pairs_hook=_pairs,
            ext_hook=_refuse_ext,
        )
    except EncodingError:
        raise
    except msgpack.ExtraData as e:
        raise TrailingBytes(f"{len(e.extra)} bytes follow the value") from None
    except UnicodeDecodeError as e:
        raise InvalidUtf8(f"text that is not UTF-8 ({e.reason})") from None
    except (ValueError, msgpack.UnpackException) as e:
        if "incomplete" in str(e) or isinstance(e, msgpack.OutOfData):
            raise Truncated("the input ends inside a value") from None
        if "depth" in str(e) or "recursion" in str(e).lower():
            raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels") from None
        raise _diagnose(data) from None
    except RecursionError:
        raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels") from None
    _check_values(value, 0)
    if msgpack.packb(value, use_bin_type=True) != data:
        raise _diagnose(data)
    return value


# --- the slow path: say which rule a non-canonical input breaks ---------------------

_UINT = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
_INT = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_STR = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_BIN = {0xC4: 1, 0xC5: 2, 0xC6: 4}
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


def _min_uint_size(n: int) -> int:
    """Bytes after the marker of msgpack's shortest form for a non-negative int."""
    if n < 0x80:
        return 0
    if n < 0x100:
        return 1
    if n < 0x10000:
        return 2
    if n < 0x100000000:
        return 4
    return 8


def _min_int_size(n: int) -> int:
    if n >= 0:
        return -1  # a non-negative number must use the unsigned forms
    if n >= -32:
        return 0
    if n >= -0x80:
        return 1
    if n >= -0x8000:
        return 2
    if n >= -0x80000000:
        return 4
    return 8


def _min_len_size(n: int, fix_limit: int) -> int:
    if n < fix_limit:
        return 0
    if n < 0x100 and fix_limit != 16:  # arrays and maps have no 8-bit form
        return 1
    if n < 0x10000:
        return 2
    return 4


class _Scan:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Truncated("the input ends inside a value")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def number(self, n: int, signed: bool = False) -> int:
        return int.from_bytes(self.take(n), "big", signed=signed)

    def value(self) -> None:
        marker = self.take(1)[0]
        if marker <= 0x7F or marker >= 0xE0 or marker in (0xC0, 0xC2, 0xC3):
            return
        if marker in _UINT:
            size = _UINT[marker]
            if _min_uint_size(self.number(size)) != size:
                raise NonMinimalInteger(f"an integer at byte {self.pos - size - 1} is too long")
            return
        if marker in _INT:
            size = _INT[marker]
            if _min_int_size(self.number(size, signed=True)) != size:
                raise NonMinimalInteger(f"an integer at byte {self.pos - size - 1} is too long")
            return
        if 0xA0 <= marker <= 0xBF:
            self.take(marker & 0x1F)
            return
        if marker in _STR or marker in _BIN:
            size = _STR.get(marker) or _BIN[marker]
            length = self.number(size)
            fix_limit = 32 if marker in _STR else 0
            if _min_len_size(length, fix_limit) != size:
                raise NonMinimalLength(f"a length at byte {self.pos - size - 1} is too long")
            self.take(length)
            return
        if 0x90 <= marker <= 0x9F or 0x80 <= marker <= 0x8F:
            count = marker & 0x0F
            per_item = 1 if marker <= 0x9F and marker >= 0x90 else 2
        elif marker in _ARRAY or marker in _MAP:
            size = _ARRAY.get(marker) or _MAP[marker]
            count = self.number(size)
            if _min_len_size(count, 16) != size:
                raise NonMinimalLength(f"a length at byte {self.pos - size - 1} is too long")
            per_item = 1 if marker in _ARRAY else 2
        else:
            raise ForbiddenType(f"type marker 0x{marker:02x} is not allowed")
        for _ in range(count * per_item):
            self.value()


def _diagnose(data: bytes) -> EncodingError:
    """The rule a decodable but non-canonical input breaks."""
    scan = _Scan(data)
    try:
        scan.value()
    except EncodingError as e:
        return e
    except RecursionError:
        return TooDeep(f"nesting deeper than {MAX_DEPTH} levels")
    if scan.pos != len(data):
        return TrailingBytes(f"{len(data) - scan.pos} bytes follow the value")
    return EncodingError("the input is not in canonical form")
