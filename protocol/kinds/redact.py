"""Redaction (docs/PROTOCOL.md §12): ``redact`` erases another event's body everywhere.

Payload: ``{"v": 1, "of": <the event id, 32 bytes>}``. It takes effect when it counts
and its author is the target's author, or an admin at the redaction's seq; the events
of the membership kinds (§5.5) cannot be redacted, as they decide who is in the log.
Every node that holds both erases the target's body for good and keeps its envelope, so
every chain still verifies; the redaction itself stays, as the record of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from protocol import encoding
from protocol.envelope import SEALED, Event
from protocol.errors import EncodingError
from protocol.kinds import member
from protocol.kinds.base import has_version
from protocol.kinds.edits import EDITS, target_of

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


def _payload(event: Event) -> dict[str, Any] | None:
    if event.body is None or event.kind == SEALED:
        return None
    try:
        value = encoding.decode(event.body)
    except EncodingError:
        return None
    return value if isinstance(value, dict) else None


def erased(
    redactions: Iterable[Event],
    *,
    find: Callable[[bytes], Event | None],
    counts: Callable[[bytes, int], bool],
    admin_at: Callable[[bytes, int], bool],
    item_kinds: Iterable[str],
    edits: Callable[[], Iterable[Event]],
) -> set[bytes]:
    """§12: D, the ids of the events whose bodies the log erases. ``redactions``: the
    log's redaction events; ``find(id)``: an event in the log or kept as fork evidence;
    ``counts(author, seq)`` and ``admin_at(author, seq)``: §5.5; ``item_kinds``: the
    kinds that create items; ``edits()``: the log's events of edit kinds (asked for only
    when an item is erased).

    A redaction erases its target when it counts, its payload reads, the target is here
    and not of a membership kind, and its author is the target's author or an admin at
    the redaction's seq. An erased item takes its public edits along, whoever wrote them
    (their text is the item's); a sealed edit names its item inside the seal, so it is
    erased only by a redaction naming it."""
    creators = set(item_kinds)
    found: set[bytes] = set()
    items: set[bytes] = set()
    for event in redactions:
        if not counts(event.author, event.seq):
            continue
        target_id = target(_payload(event))
        if target_id is None or target_id in found:
            continue
        named = find(target_id)
        if named is None or not may_redact(named.kind):
            continue  # not here yet (it is erased when it comes), or not erasable
        if named.author == event.author or admin_at(event.author, event.seq):
            found.add(target_id)
            if named.kind in creators:
                items.add(target_id)
    if items:
        for edit in edits():
            body = _payload(edit)
            if edit.kind in EDITS and body is not None and target_of(body) in items:
                found.add(edit.id)
    return found
