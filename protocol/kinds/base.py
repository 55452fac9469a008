"""What a kind is: its payload fields, its schema version, and how older payload
versions are read (upcasting, docs/PROTOCOL.md §5.2)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import BadPayload

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def _no_controls(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in "\n\t":
            return f"contains a control character (U+{ord(ch):04X})"
    return None


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
            problem = _no_controls(text)
        if problem is None and text and self.check is not None:
            problem = self.check(text)
        if problem is not None:
            raise BadPayload(f"{self.name!r} {problem}")
        return text


@dataclass(frozen=True, slots=True)
class KindSpec:
    """A kind of event a member can post: its name, fields and payload version."""

    name: str
    help: str
    version: int
    fields: tuple[Field, ...]
    #: upcasters[n] turns a version-n payload into version n+1
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
            if isinstance(value, str) and len(value) <= f.max_len and (value or not f.required):
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
            payload = upcast(payload)
            version += 1
        for f in self.fields:
            value = payload.get(f.name, "")
            if not isinstance(value, str) or len(value) > f.max_len:
                return None
            if f.required and not value:
                return None
        return payload
