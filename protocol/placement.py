"""Where an incoming event goes (docs/PROTOCOL.md §4.5), as pure functions: the rule
every node applies, so that every node keeps the same log. The node (node/service.py,
``_Batch``) asks them and does what they say: append, count as known, keep as fork
evidence, hold, or refuse.

============  =============================================================
outcome       when (the first that applies)
============  =============================================================
``refuse``    another network (``wrong-network``)
``known``     the log holds this very event at its place
``fork``      the log holds another event at its place, and this one could
              have followed the same predecessor, or follows another one
              (§4.2): its author signed two histories
``refuse``    it is behind the head and breaks another rule of §4
``hold``      its author is not in the log closure (``not-admitted``), or
              seqs are missing before it (``gap``)
``fork``      the next seq, but its prev is not the head
``refuse``    the next seq, and it breaks another rule of §4
``append``    the next seq, and it follows the head
============  =============================================================

Whether an append is stored *now* is the node's flow control (the daily budget, §4.6),
not a rule of the log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from protocol import chain
from protocol.chain import Head
from protocol.envelope import NO_NETWORK, Event
from protocol.errors import BadPrev, InvalidEvent, WrongNetwork


class Outcome(Enum):
    APPEND = "append"
    KNOWN = "known"
    FORK = "fork"
    HOLD = "hold"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    #: why it is refused (REFUSE), or why it is evidence (FORK after another prev)
    error: InvalidEvent | None = None
    #: why it is held (HOLD): "not-admitted" or "gap"
    reason: str = ""


def place(
    event: Event,
    *,
    network: bytes,
    head: Head | None,
    in_log: bool,
    id_at_seq: Callable[[], bytes | None],
    head_before: Callable[[], Head | None],
) -> Decision:
    """§4.5: what to do with ``event``, given the node's ``network``, the author's
    ``head`` in the log, whether the author is in the log closure, and, when the event
    is behind the head, ``id_at_seq()`` (the log's event id at the event's seq) and
    ``head_before()`` (the author's feed as it stood at seq − 1, None before seq 1)."""
    if event.network not in (NO_NETWORK, network):
        return Decision(Outcome.REFUSE, WrongNetwork("the event belongs to another network"))
    if head is not None and event.seq <= head.seq:
        if id_at_seq() == event.id:
            return Decision(Outcome.KNOWN)
        # Evidence of a fork only if it could have followed the same predecessor (or
        # followed another one): the same §4 check as for the next event, so whether
        # it or the log's event arrived first does not change the outcome.
        return _next(head_before(), event)
    if not in_log:
        return Decision(Outcome.HOLD, reason="not-admitted")
    if event.seq > (head.seq if head else 0) + 1:
        return Decision(Outcome.HOLD, reason="gap")
    try:
        chain.check_next(head, event)
    except BadPrev as e:
        return Decision(Outcome.FORK, e)  # its author signed another head: a fork
    except InvalidEvent as e:
        return Decision(Outcome.REFUSE, e)
    return Decision(Outcome.APPEND)


def _next(head: Head | None, event: Event) -> Decision:
    """``event`` checked as the next event after ``head``: FORK (with no error when it
    follows, with the §4.2 error when its prev is another), or REFUSE."""
    try:
        chain.check_next(head, event)
    except BadPrev as e:
        return Decision(Outcome.FORK, e)
    except InvalidEvent as e:
        return Decision(Outcome.REFUSE, e)
    return Decision(Outcome.FORK)


@dataclass
class FollowOn:
    """What becomes of the held events waiting at the seq after a new head (§4.5)."""

    #: the one appended next (the lowest id that follows), or None
    next: Event | None = None
    #: kept as fork evidence: the others that follow, and those after another prev
    forks: list[Event] = field(default_factory=list)
    #: refused, with the rule each breaks
    refused: list[tuple[Event, InvalidEvent]] = field(default_factory=list)


def follow_on(head: Head, waiting: Sequence[Event]) -> FollowOn:
    """§4.5 follow-ons: of the held events at seq ``head.seq + 1`` (``waiting``, in
    ascending order of id), the first that follows the head is appended; every other
    that follows, and every one whose prev is another event, is fork evidence; the rest
    are refused (none of them will ever follow: the head at that seq is fixed)."""
    out = FollowOn()
    for candidate in waiting:
        decision = _next(head, candidate)
        if decision.outcome is Outcome.REFUSE:
            assert decision.error is not None
            out.refused.append((candidate, decision.error))
        elif decision.error is not None or out.next is not None:
            out.forks.append(candidate)
        else:
            out.next = candidate
    return out


def keeps_evidence(lowest_kept: int | None, seq: int) -> bool:
    """Whether fork evidence at ``seq`` is kept, when the lowest kept against the same
    author is at ``lowest_kept`` (None: none): only where it cuts the feed earlier, so a
    peer cannot fill the disk with it and an author counts up to its first fork (§5.5)."""
    return lowest_kept is None or seq < lowest_kept
