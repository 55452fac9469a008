"""Placing a batch of foreign events inside its store transaction (docs/PROTOCOL.md
§4.5): the node does what the rule of protocol/placement.py says (append, count as
known, keep as fork evidence, hold, refuse), within each author's share of parking
(§4.5) and daily budget (§4.6), and places again the held events of anyone a batch
admits. :class:`IngestResult` counts what became of every event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crypto.errors import CommuneError
from node.store import day_of
from protocol import hlc, placement
from protocol.chain import Head
from protocol.envelope import Event
from protocol.errors import BadSeq
from protocol.kinds import member as member_kinds
from protocol.placement import Outcome

if TYPE_CHECKING:
    from node.service import Node

#: Events held (for a gap, or an admission not seen yet), at most, of one author of the
#: log; of one author outside it (a key no member admitted); and of all those together.
#: The oldest go first, so no author crowds out another's gap (§4.5).
HELD_PER_MEMBER = 10_000
HELD_PER_STRANGER = 16
HELD_STRANGERS = 4_096
#: Events dated more than this many days after this node's today are taken in later,
#: when their day comes (a clock set ahead cannot spread a feed over future days'
#: budgets, §4.6).
DAYS_AHEAD = 1


@dataclass
class IngestResult:
    """What happened to each event of a batch, counted."""

    new: int = 0
    known: int = 0
    held: int = 0
    forks: int = 0
    #: new events kept in the log that do not count: their author was revoked or
    #: forked before them, or its admission does not count, or is held and has not
    #: reached the log yet (§5.5, §6.3)
    uncounted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    #: the first refusals, for a clear message: (event id or None, error)
    errors: list[tuple[bytes | None, CommuneError]] = field(default_factory=list)
    stored: list[Event] = field(default_factory=list)
    #: ids of the events of this batch that are still held
    held_ids: set[bytes] = field(default_factory=set)
    #: stored events whose bodies a redaction erased in this batch
    erased: int = 0
    #: events not taken in now, by author: over the author's daily budget, or dated
    #: days ahead (§4.6); the peer offers them again later
    held_back: Counter[bytes] = field(default_factory=Counter)
    #: held events dropped to make room for newer ones (the oldest first, §4.5)
    evicted: int = 0

    def refuse(self, event_id: bytes | None, error: CommuneError) -> None:
        self.refused[error.code] += 1
        if len(self.errors) < 20:
            self.errors.append((event_id, error))

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def summary(self) -> str:
        parts = [f"{self.new} new", f"{self.known} already known", f"{self.held} held"]
        if self.forks:
            parts.append(f"{self.forks} fork evidence")
        if self.held_back:
            parts.append(f"{sum(self.held_back.values())} held back (over a daily budget)")
        if self.uncounted:
            parts.append(
                f"{self.uncounted} not counted yet (their author's admission has not reached "
                "the log, or they come after its cutoff)"
            )
        refused = ", ".join(f"{n} {code}" for code, n in sorted(self.refused.items()))
        parts.append(f"{self.refused_total} refused" + (f" ({refused})" if refused else ""))
        return ", ".join(parts)


class Batch:
    """Places the events of one ingest batch inside its transaction: appends, holds
    (for a gap, or an admission not yet seen), counts duplicates, keeps fork evidence;
    and when the batch admits someone, places their held events too."""

    def __init__(self, node: Node, result: IngestResult) -> None:
        self.store = node.store
        self.projector = node.projector
        self.network = node.network
        self.result = result
        self.heads: dict[bytes, Head | None] = {}
        self.placed: dict[tuple[bytes, int], bytes] = {}
        self.placed_heads: dict[tuple[bytes, int], Head] = {}
        self.unsaved: list[Event] = []
        self.held_total = self.store.held_count()
        #: events this batch held that are still held
        self.held_here: set[bytes] = set()
        self.membership_changed = False
        self.restored = 0
        self._redacted_ids: set[bytes] | None = None
        self.limits = node.projector.limits()
        #: (author, day) -> (events, bytes) in the log, this batch's included (§4.6)
        self.spent: dict[tuple[bytes, int], tuple[int, int]] = {}
        self._now_ms = node.now_ms
        self._today: int | None = None

    def _redacted(self) -> set[bytes]:
        if self._redacted_ids is None:
            self._redacted_ids = self.projector.redacted()
        return self._redacted_ids

    def run(self, events: list[Event]) -> None:
        pending = events
        while True:
            # Feeds that hold admissions first, so the events they admit need not wait.
            admitting = {e.author for e in pending if e.kind in member_kinds.KINDS}
            pending.sort(key=lambda e: (e.author not in admitting, e.author, e.seq))
            for event in pending:
                self.place(event)
            self.store.add(self.unsaved)
            self.unsaved.clear()
            if not self.membership_changed:
                break
            pending = self._release_admitted()
        self.result.held = len(self.held_here)
        self.result.held_ids = self.held_here

    def _release_admitted(self) -> list[Event]:
        """Membership changed: recompute it and take back the held events of anyone now
        admitted to the log, to place them again."""
        self.membership_changed = False
        before = self.projector.log_authors()
        self.projector.refresh()
        self.limits = self.projector.limits()  # an admin may have raised them
        admitted = [n for n in self.projector.log_authors() if n not in before]
        released = self.store.take_held(admitted)
        self.held_total -= len(released)
        self.held_here.difference_update(e.id for e in released)
        return released

    def head(self, author: bytes) -> Head | None:
        if author not in self.heads:
            self.heads[author] = self.store.head(author)
        return self.heads[author]

    def place(self, event: Event) -> None:
        """Do what the rule of §4.5 (protocol/placement.py) says with ``event``."""
        head = self.head(event.author)
        decision = placement.place(
            event,
            network=self.network,
            head=head,
            in_log=self.projector.in_log(event.author),
            id_at_seq=lambda: (
                self.placed.get((event.author, event.seq))
                or self.store.id_at(event.author, event.seq)
            ),
            head_before=lambda: self._head_at(event.author, event.seq - 1),
        )
        outcome = decision.outcome
        if outcome is Outcome.APPEND:
            self._append(event)
        elif outcome is Outcome.KNOWN:
            self.result.known += 1
            if event.body is not None and event.id not in self._redacted():
                self.restored += self.store.restore_body(event)  # a relay had left it out
        elif outcome is Outcome.FORK:
            self._keep_evidence(event)
        elif outcome is Outcome.HOLD:
            self._hold(event, decision.reason)
        else:
            assert decision.error is not None
            self.result.refuse(event.id, decision.error)

    def _keep_evidence(self, event: Event) -> None:
        """Keep ``event`` as fork evidence (§4.5): its author is cut off from there
        (§5.5), and sync then finds where the two branches parted (§10.3). Evidence at
        an earlier seq makes it redundant."""
        if self.store.add_fork(event):
            self.result.forks += 1
            self.membership_changed = True  # §5.5: a fork is a cutoff
        else:
            self.result.known += 1

    def _head_at(self, author: bytes, seq: int) -> Head | None:
        """The author's feed as it stood at ``seq`` (None before seq 1)."""
        if seq < 1:
            return None
        head = self.placed_heads.get((author, seq))
        if head is not None:
            return head
        event = self.store.event_at(author, seq)
        if event is None:
            raise BadSeq(f"the log has no event at seq {seq} of this author")  # never: a gap
        return Head.of(event)

    def _hold(self, event: Event, reason: str) -> None:
        """Keep ``event`` until it can be placed, within its author's share (§4.5): the
        oldest held events of that author, and of all authors outside the log, go first
        (admin actions never: they decide who is let in)."""
        if not self.store.hold(event, reason):
            self.result.known += 1
            return
        self.held_total += 1
        self.held_here.add(event.id)
        if reason == "not-admitted":
            dropped = self.store.evict_held(author=event.author, keep=HELD_PER_STRANGER)
            dropped += self.store.evict_held(reason=reason, keep=HELD_STRANGERS)
        else:
            dropped = self.store.evict_held(author=event.author, keep=HELD_PER_MEMBER)
        if dropped:
            self.held_total -= len(dropped)
            self.held_here.difference_update(dropped)
            self.result.evicted += len(dropped)
        if event.kind in member_kinds.ACTIONS:
            # A held admission lets its node in before the log holds it (§6.3).
            self.membership_changed = True

    def _within_budget(self, event: Event) -> bool:
        """Whether the author's feed may grow by ``event`` here now (§4.6): within the
        network's daily budget for the day its timestamp names, and not dated days after
        this node's today. An event held back is not stored; its peer offers it again."""
        day = day_of(event.ts)
        if self._today is None:
            self._today = day_of(hlc.pack(self._now_ms()))
        if day > self._today + DAYS_AHEAD:
            self.result.held_back[event.author] += 1
            return False
        key = (event.author, day)
        spent = self.spent.get(key)
        if spent is None:
            spent = self.spent[key] = self.store.spent(event.author, day)
        events, size = spent[0] + 1, spent[1] + len(event.raw)
        if events > self.limits.events_per_day or size > self.limits.bytes_per_day:
            self.result.held_back[event.author] += 1
            return False
        self.spent[key] = (events, size)
        return True

    def _append(self, event: Event) -> None:
        """Append ``event``, then any held events that now follow on, in order, as far
        as the author's daily budget goes (§4.6)."""
        nxt: Event | None = event
        while nxt is not None:
            if not self._within_budget(nxt):
                break  # not stored (a held one was taken off already): offered again later
            self.result.stored.append(nxt)
            self.unsaved.append(nxt)
            self.result.new += 1
            if nxt.kind in member_kinds.KINDS:
                self.membership_changed = True
            self.placed[(nxt.author, nxt.seq)] = nxt.id
            head = self.heads[nxt.author] = Head.of(nxt)
            self.placed_heads[(nxt.author, nxt.seq)] = head
            nxt = None
            if self.held_total <= 0:
                break  # nothing is held anywhere: no query per event
            waiting = self.store.held_at(event.author, head.seq + 1)
            if not waiting:
                break
            follow = placement.follow_on(head, waiting)
            for candidate, error in follow.refused:
                self.result.refuse(candidate.id, error)
            for other in follow.forks:
                self._keep_evidence(other)
            nxt = follow.next
            self.store.unhold(event.author, head.seq + 1)
            self.held_total -= len(waiting)
            self.held_here.difference_update(e.id for e in waiting)
