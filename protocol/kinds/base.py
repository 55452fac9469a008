"""What a kind is: its payload fields, its schema version, and how older payload
versions are read (upcasting, docs/PROTOCOL.md §5.2)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from protocol.errors import BadPayload

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

#: the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
#: they make text show in another order than it is stored in, so a name or an address
#: could read as something it is not
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


#: every character :func:`control_char` refuses: category Cc is exactly U+0000-U+001F and
#: U+007F-U+009F, Zl exactly U+2028 and Zp exactly U+2029 (stable in Unicode), and the
#: bidi controls; one regular expression finds them far faster than a loop in Python
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def control_char(text: str, allowed: str = "") -> str | None:
    """What is wrong with ``text`` if it holds a control character, else None.

    Refused: the C0 and C1 controls (Unicode category Cc: escape sequences, NUL, line
    breaks) except those in ``allowed``, the line and paragraph separators (Zl, Zp),
    and :data:`BIDI_CONTROLS`. Other format characters (Cf) are kept: the zero-width
    joiners are part of how many scripts and emoji are written."""
    for match in _REFUSED.finditer(text):
        ch = match.group()
        if ch in allowed:
            continue
        name = unicodedata.name(ch, "")
        return f"contains a control character (U+{ord(ch):04X}{' ' + name if name else ''})"
    return None


def is_int(value: object) -> TypeGuard[int]:
    """An integer and not a bool: in Python ``True == 1``, but a payload's ``true`` is
    not an integer (docs/PROTOCOL.md §2)."""
    return type(value) is int


def has_version(payload: Mapping[str, Any], version: int) -> bool:
    """The payload's ``v`` is the integer ``version`` (not ``true`` for 1)."""
    v = payload.get("v")
    return is_int(v) and v == version


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    help: str
    required: bool = False
    max_len: int = 1000
    multiline: bool = False
    default: str = ""
    #: returns an error message for a bad value, or None
    check: Callable[[str], str | None] | None = None

    def clean(self, value: str) -> str:
        """The value as stored: NFC-normalised; refused with a message naming the field."""
        text = unicodedata.normalize("NFC", value).replace("\r\n", "\n")
        text = text.rstrip() if self.multiline else text.strip()
        if self.required and not text:
            raise BadPayload(f"{self.name!r} is required")
        if len(text) > self.max_len:
            raise BadPayload(f"{self.name!r} is {len(text)} characters; at most {self.max_len}")
        if not self.multiline and ("\n" in text or "\r" in text):
            problem: str | None = "must be a single line"
        else:
            problem = control_char(text, allowed="\n\t")
        if problem is None and text and self.check is not None:
            problem = self.check(text)
        if problem is not None:
            raise BadPayload(f"{self.name!r} {problem}")
        return text

    def readable(self, text: str) -> bool:
        """Whether a stored value is one this field can hold: reading a payload from the
        log never raises; a value :meth:`clean` would refuse is malformed."""
        if len(text) > self.max_len or (self.required and not text):
            return False
        if control_char(text, allowed="\n\t" if self.multiline else "") is not None:
            return False  # never stored since §3.8, but a store may be older
        return not text or self.check is None or self.check(text) is None


@dataclass(frozen=True, slots=True)
class KindSpec:
    """A kind of event a member can post: its name, fields and payload version."""

    name: str
    help: str
    version: int
    fields: tuple[Field, ...]
    #: upcasters[n] turns a version-n payload into version n+1 (:meth:`read` sets its
    #: ``v``); one that raises on a malformed payload leaves the payload unreadable
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)
    #: posted sealed to its author alone unless recipients are given (issue 5)
    private: bool = False

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def build(self, values: Mapping[str, str | None]) -> Payload:
        """A new payload from what a user typed; :class:`BadPayload` names what is wrong."""
        known = set(self.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadPayload(
                f"{self.name} has no field {unknown[0]!r} (its fields: {', '.join(sorted(known))})"
            )
        payload: Payload = {"v": self.version}
        for f in self.fields:
            value = values.get(f.name)
            text = f.clean(f.default if value is None else value)
            if text:
                payload[f.name] = text
        return payload

    def build_update(self, values: Mapping[str, str | None]) -> Payload:
        """The fields a user changes on an existing item: only those given."""
        known = set(self.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadPayload(
                f"{self.name} has no field {unknown[0]!r} (its fields: {', '.join(sorted(known))})"
            )
        changed = {f.name: f.clean(values[f.name] or "") for f in self.fields if f.name in values}
        if not changed:
            raise BadPayload(f"nothing to change: give at least one of {', '.join(sorted(known))}")
        return changed

    def read_update(self, payload: Payload) -> dict[str, str]:
        """The fields of an update payload that this kind has and that are well formed;
        the rest is ignored (a newer version may change fields this one does not know)."""
        changed = {}
        for f in self.fields:
            value = payload.get(f.name)
            if isinstance(value, str) and f.readable(value):
                changed[f.name] = value
        return changed

    def read(self, payload: Payload) -> Payload | None:
        """A stored payload as the current version, or None when it cannot be read
        (a newer version than this code, or fields of the wrong type)."""
        version = payload.get("v")
        if type(version) is not int or version < 1 or version > self.version:
            return None
        while version < self.version:
            upcast = self.upcasters.get(version)
            if upcast is None:
                return None
            try:
                payload = upcast(payload)
            except (KeyError, TypeError, ValueError, AttributeError):
                return None  # a malformed old payload: unreadable, like any other
            if not isinstance(payload, dict):
                return None
            version += 1
            payload = {**payload, "v": version}
        for f in self.fields:
            value = payload.get(f.name, "")
            if not isinstance(value, str) or not f.readable(value):
                return None
        return payload
