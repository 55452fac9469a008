"""Projections: the network's state as a pure fold over its events (docs/PROTOCOL.md §5).

Two nodes holding the same set of valid events have the same projections, whatever
order the events arrived in, and so the same :func:`state_hash`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol import encoding, signed
from protocol.envelope import SEALED, Event
from protocol.errors import EncodingError
from protocol.kinds import POSTABLE, Payload


@dataclass(frozen=True, slots=True)
class Item:
    """One report, plan or contact, as its latest valid events make it."""

    id: bytes
    kind: str
    author: bytes
    ts: int
    fields: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "author": self.author.hex(),
            "ts": self.ts,
            **dict(self.fields),
        }


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event of a kind this version does not know: kept, relayed, listed."""

    id: bytes
    kind: str
    author: bytes
    seq: int
    ts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "kind": self.kind,
            "author": self.author.hex(),
            "seq": self.seq,
            "ts": self.ts,
        }


@dataclass
class Projections:
    items: dict[str, dict[bytes, Item]] = field(
        default_factory=lambda: {name: {} for name in POSTABLE}
    )
    unknown: dict[bytes, UnknownEvent] = field(default_factory=dict)
    #: events of a known kind whose payload this version cannot read
    unreadable: set[bytes] = field(default_factory=set)

    def apply(self, event: Event) -> None:
        spec = POSTABLE.get(event.kind)
        if spec is None:
            if event.kind != SEALED:
                self.unknown[event.id] = UnknownEvent(
                    event.id, event.kind, event.author, event.seq, event.ts
                )
            return
        payload = read_payload(event)
        current = None if payload is None else spec.read(payload)
        if current is None:
            self.unreadable.add(event.id)
            return
        values = tuple((f.name, current.get(f.name, "")) for f in spec.fields)
        self.items[spec.name][event.id] = Item(event.id, spec.name, event.author, event.ts, values)

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """The items of one kind, oldest first (by timestamp, then author)."""
        items = sorted(self.items[kind].values(), key=lambda i: (i.ts, i.author, i.id))
        return [item.as_dict() for item in items]

    def unknown_rows(self) -> list[dict[str, Any]]:
        events = sorted(self.unknown.values(), key=lambda u: (u.ts, u.author, u.id))
        return [u.as_dict() for u in events]


def read_payload(event: Event) -> Payload | None:
    """The decoded payload of a public event, or None when erased or not a map."""
    if event.body is None or event.kind == SEALED:
        return None
    try:
        payload = encoding.decode(event.body)
    except EncodingError:
        return None
    return payload if isinstance(payload, dict) else None


def fold(events: Iterable[Event]) -> Projections:
    state = Projections()
    for event in events:
        state.apply(event)
    return state


def state_hash(state: Projections) -> bytes:
    """§5.4: SHA-256 over the canonical encoding of every projection, sorted by id."""
    doc = {
        kind: [
            [i.id, i.author, i.ts, [list(f) for f in i.fields]] for _, i in sorted(items.items())
        ]
        for kind, items in state.items.items()
    }
    doc["unknown"] = [
        [u.id, u.kind, u.author, u.seq, u.ts] for _, u in sorted(state.unknown.items())
    ]
    doc["unreadable"] = [[event_id] for event_id in sorted(state.unreadable)]
    return signed.state_hash(encoding.encode(doc))
