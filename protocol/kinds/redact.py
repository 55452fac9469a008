"""Redaction (docs/PROTOCOL.md §12): ``redact`` erases another event's body everywhere.

Payload: ``{"v": 1, "of": <the event id, 32 bytes>}``. It takes effect when it counts
and its author is the target's author, or an admin at the redaction's seq; the events
of the membership kinds (§5.5) cannot be redacted, as they decide who is in the log.
Every node that holds both erases the target's body for good and keeps its envelope, so
every chain still verifies; the redaction itself stays, as the record of it.
"""

from __future__ import annotations

from typing import Any

from protocol.kinds import member
from protocol.kinds.base import has_version

KIND = "redact"


def target(payload: dict[str, Any] | None) -> bytes | None:
    """The id a redaction names, or None when this version cannot read it."""
    if payload is None or not has_version(payload, 1):
        return None
    of = payload.get("of")
    return of if isinstance(of, bytes) and len(of) == 32 else None


def payload(event_id: bytes) -> dict[str, Any]:
    return {"v": 1, "of": event_id}


def may_redact(target_kind: str) -> bool:
    return target_kind not in member.KINDS
