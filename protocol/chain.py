"""The rules of an author's feed (docs/PROTOCOL.md §4): each event follows the one
before it. Pure functions over the author's head and the next event."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.envelope import NO_NETWORK, Event
from protocol.errors import BadPrev, BadSeq, BadTimestamp, WrongNetwork


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of an author's feed, as far as a node knows it."""

    seq: int
    id: bytes
    ts: int
    network: bytes

    @classmethod
    def of(cls, event: Event) -> Head:
        return cls(event.seq, event.id, event.ts, event.network)


def check_next(head: Head | None, event: Event) -> None:
    """Refuse ``event`` unless it may follow ``head`` (None: the feed is empty)."""
    expected = 1 if head is None else head.seq + 1
    # §4.1: "seq starts at 1 and rises by one."
    if event.seq != expected:
        raise BadSeq(f"seq {event.seq} does not follow the author's seq {expected - 1}")
    if head is None:
        return
    # §4.2: "prev is the id of the author's event with seq - 1."
    if event.prev != head.id:
        raise BadPrev(f"prev of seq {event.seq} is not the id of the author's seq {head.seq}")
    # §4.3: "ts rises strictly along a feed", so (ts, author) orders all events.
    if event.ts <= head.ts:
        raise BadTimestamp(f"ts of seq {event.seq} is not after the ts of seq {head.seq}")
    # §4.4: "a feed may start outside any network, then stays in the first one it enters."
    if head.network not in (NO_NETWORK, event.network):
        raise WrongNetwork(f"seq {event.seq} moves the author's feed to another network")
