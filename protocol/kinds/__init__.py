"""The registry of event kinds. Adding a kind means one module here and one test file.

An event of a kind missing from this registry is still valid (docs/PROTOCOL.md §5.4):
it is stored, relayed, counted in the state hash and listed as unknown.
"""

from __future__ import annotations

from typing import Any

from protocol import encoding
from protocol.envelope import SEALED
from protocol.errors import EncodingError
from protocol.kinds import contact, member, plan, redact, report
from protocol.kinds.base import Field, KindSpec, Payload, control_char
from protocol.kinds.edits import EDITS, EditKind

POSTABLE: dict[str, KindSpec] = {spec.name: spec for spec in (report.SPEC, plan.SPEC, contact.SPEC)}
#: every kind this version understands; any other kind is "unknown" (§5.4)
KNOWN: frozenset[str] = frozenset([*POSTABLE, *EDITS, *member.KINDS, SEALED, redact.KIND])

#: the text fields of the membership kinds (besides the lists of addresses)
_MEMBER_TEXT = ("name", "founder_name")


def text_problem(kind: str, body: bytes | None) -> str | None:
    """§3.8: what is wrong with the text of an event of a kind this version knows, or
    None. Every text field that a post of this kind could hold must pass the rules a
    post passes (no control character: C0 and C1 controls, line and paragraph
    separators, bidi overrides; line breaks and tabs only in multi-line fields), so
    that text read from a peer is never more than what a member could type. A body that
    is absent, not a canonical map, or of a payload version this code does not know is
    not looked at (§5.2, §5.4): it is unreadable, not invalid."""
    if body is None or kind == SEALED:
        return None
    try:
        payload = encoding.decode(body)
    except EncodingError:
        return None
    if not isinstance(payload, dict):
        return None
    spec = POSTABLE.get(kind)
    edit = EDITS.get(kind)
    if edit is not None:
        spec = POSTABLE[edit.target]
    if spec is not None:
        version = payload.get("v")
        if type(version) is not int or not 1 <= version <= spec.version:
            return None
        for f in spec.fields:
            problem = _text(payload.get(f.name), "\n\t" if f.multiline else "")
            if problem is not None:
                return f"its {f.name!r} {problem}"
        return None
    if kind in member.KINDS:
        for name in _MEMBER_TEXT:
            problem = _text(payload.get(name), "")
            if problem is not None:
                return f"its {name!r} {problem}"
        addresses = payload.get("addresses")
        for address in addresses if isinstance(addresses, list) else []:
            problem = _text(address, "")
            if problem is not None:
                return f"an address {problem}"
    return None


def _text(value: Any, allowed: str) -> str | None:
    return control_char(value, allowed) if isinstance(value, str) else None


__all__ = [
    "EDITS",
    "KNOWN",
    "POSTABLE",
    "EditKind",
    "Field",
    "KindSpec",
    "Payload",
    "text_problem",
]
