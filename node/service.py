"""The node's one way in: posting, importing and syncing all store events through here,
so every event is checked by the same rules whichever way it came.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node.errors import FeedBehind, OverBudget
from node.home import Home
from node.projector import Projector
from node.store import Store, day_of
from protocol import chain, encoding, hlc, placement
from protocol import membership as membership_rules
from protocol.chain import Head
from protocol.envelope import NO_NETWORK, Event, create_event
from protocol.errors import BadSeq, InvalidEvent
from protocol.kinds import Payload, redact
from protocol.kinds import member as member_kinds
from protocol.membership import Membership
from protocol.placement import Outcome
from protocol.validate import check_event

#: The marks of a store that may hold less of this node's own feed than peers do, and
#: that block writing until a peer has confirmed the feed (``feed_unconfirmed``; after a
#: ``join`` the key was made here, so no peer can hold more of the feed: not blocking).
UNCONFIRMED_BLOCKS = {
    "copied": "its folder or store file was copied here",
    "restored": "it was restored from a backup",
    "new-store": "the store was made after the key",
    "behind": "it holds less of the feed than this node recorded writing",
}
#: Batches at least this large are checked on every core (libsodium releases the GIL).
PARALLEL_FROM = 64
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
#: where the authors whose events were held back are remembered, at most this many
HELD_BACK = "held_back"
MAX_HELD_BACK_AUTHORS = 64
_pool: ThreadPoolExecutor | None = None


def _checker_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="verify")
    return _pool


_pipeline_pool: ThreadPoolExecutor | None = None


def _pipeline() -> ThreadPoolExecutor:
    """One thread that runs :func:`check_many` (which fans out to the checker pool) for
    :meth:`Node.ingest_batches`, so the caller's thread stores meanwhile."""
    global _pipeline_pool  # noqa: PLW0603 - one per process, made on first use
    if _pipeline_pool is None:
        _pipeline_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-ahead")
    return _pipeline_pool


def _check_one(raw: bytes) -> Event | InvalidEvent:
    try:
        return check_event(raw)
    except InvalidEvent as e:
        return e


def _check_slice(raws: Sequence[bytes]) -> list[Event | InvalidEvent]:
    return [_check_one(r) for r in raws]


def check_many(raws: Sequence[bytes]) -> list[Event | InvalidEvent]:
    """Check events on their own (decode, author key, body hash, signature), in order:
    one slice per core (a thread pool takes no chunk size: one task per event would
    cost more than the checks it spreads)."""
    if len(raws) < PARALLEL_FROM:
        return _check_slice(raws)
    workers = os.cpu_count() or 2
    step = -(-len(raws) // workers)
    slices = [raws[i : i + step] for i in range(0, len(raws), step)]
    out: list[Event | InvalidEvent] = []
    for checked in _checker_pool().map(_check_slice, slices):
        out.extend(checked)
    return out


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


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Why this node must not write its own feed now (:meth:`Node.feed_problem`)."""

    #: "behind": the store holds less than the node recorded writing; "unconfirmed": it
    #: may be older than the feed (copied, restored, new); "held": its own events wait
    #: here above a gap (a peer holds more of the feed)
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Fault:
    """A stored event that does not check: what ``verify`` reports."""

    event_id: bytes
    author: bytes
    seq: int
    code: str
    message: str

    def __str__(self) -> str:
        return (
            f"event {self.event_id.hex()} (author {self.author.hex()[:16]}…, seq {self.seq}): "
            f"{self.code}: {self.message}"
        )


class Node:
    def __init__(self, home: Home, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.home = home
        self.store = store
        self.clock = clock
        self.node_id = home.identity().node_id
        self.projector = Projector(store, self.node_id)

    @classmethod
    def open(cls, home: Home) -> Node:
        home.require()
        existed = home.store_path.exists()
        node = cls(home, Store(home.store_path))
        node._check_store_origin(existed)
        return node

    def _check_store_origin(self, existed: bool) -> None:
        """A store that is not the one ``init`` made next to this key (made later, or
        copied or restored from elsewhere), or one that holds less of this node's own
        feed than the node has recorded writing (an older copy put in its place, whatever
        its inode), may hold less of the feed than its peers do: mark the feed
        unconfirmed, so nothing is written before a peer has been asked
        (docs/PROTOCOL.md §10.5)."""
        stat = os.stat(self.home.store_path)
        here = f"{stat.st_dev}:{stat.st_ino}"
        recorded = self.store.get_meta("store_file")
        head = self.store.head(self.node_id)
        behind = self.home.recorded_head() > (head.seq if head else 0)
        if recorded == here and not behind:
            if self.store.get_meta("feed_unconfirmed") == "behind":
                with self.store.write():  # caught up since: the store holds what it wrote
                    self.store.set_meta("feed_unconfirmed", "")
            return
        with self.store.write():
            if behind and self.store.get_meta("feed_unconfirmed") not in UNCONFIRMED_BLOCKS:
                self.store.set_meta("feed_unconfirmed", "behind")
            elif recorded is not None and recorded != here:
                self.store.set_meta("feed_unconfirmed", "copied")
            elif recorded is None and not existed and self.store.get_meta("made_by_init") is None:
                self.store.set_meta("feed_unconfirmed", "new-store")
            self.store.set_meta("store_file", here)

    def feed_problem(self) -> FeedProblem | None:
        """Why writing to this node's own feed now could fork it, or None. Only evidence
        counts (docs/PROTOCOL.md §10.5): a store that may be older than the feed and
        has not been confirmed by a peer since, a store behind what this node recorded
        writing, or this node's own signed events held here above a gap. What a peer
        merely claims never blocks a write."""
        head = self.store.head(self.node_id)
        mine = head.seq if head else 0
        reason = self.store.get_meta("feed_unconfirmed") or ""
        recorded = self.home.recorded_head()
        if recorded > mine:
            return FeedProblem(
                "behind",
                f"this node has written its own feed up to seq {recorded} (recorded in "
                f"{self.home.head_path}), but this store holds it only up to seq {mine}: an "
                "older copy of the store? Writing now would fork the feed. Run `commune "
                "sync` to fetch the rest from a peer",
            )
        if reason in UNCONFIRMED_BLOCKS and reason != "behind":  # "behind": as recorded
            return FeedProblem(
                "unconfirmed",
                f"this store may be older than this node's own feed ({UNCONFIRMED_BLOCKS[reason]}"
                "), and no peer has confirmed how far the feed goes since. Writing now "
                "could fork it: run `commune sync` once a peer can be reached",
            )
        span = self.store.held_span(self.node_id)
        if span is not None:
            low, high = span
            return FeedProblem(
                "held",
                f"this store holds this node's own events {low}–{high} from a peer, but not "
                f"those from seq {mine + 1} before them: writing now would fork the feed. "
                "Run `commune sync` to fetch the rest",
            )
        return None

    def confirm_feed(self, claimed: int) -> bool:
        """After a complete pull from a peer that holds this node's feed up to seq
        ``claimed`` (and sent all of it: the caller checked): the store's head is
        confirmed unless it is still behind what this node recorded writing. Whether the
        feed is confirmed now."""
        head = self.store.head(self.node_id)
        mine = head.seq if head else 0
        if claimed > mine or self.home.recorded_head() > mine:
            return False
        if self.store.get_meta("feed_unconfirmed"):
            with self.store.write():
                self.store.set_meta("feed_unconfirmed", "")
        return True

    def accept_feed_at_store(self) -> None:
        """The user's word, after peers were asked: the events of this node's feed above
        this store's head were never sent to anyone and are lost; write from here."""
        head = self.store.head(self.node_id)
        with self.store.write():
            self.store.set_meta("feed_unconfirmed", "")
        if head is not None:
            self.home.record_head(head.seq, head.id)
        else:
            self.home.head_path.unlink(missing_ok=True)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def network(self) -> bytes:
        value = self.store.get_meta("network")
        return bytes.fromhex(value) if value else NO_NETWORK

    def membership(self) -> Membership | None:
        return self.projector.membership()

    # --- writing our own feed -------------------------------------------------------

    def post(
        self,
        keys: NodeKeys,
        items: Iterable[tuple[str, Payload | bytes]],
        *,
        after: Callable[[list[Event]], None] | None = None,
    ) -> list[Event]:
        """Append events to this node's own feed, all in one transaction. ``after`` runs
        inside the transaction (to record what the events change, atomically)."""
        author = keys.node_id
        made: list[Event] = []
        with self.store.write():
            problem = self.feed_problem()
            if problem is not None:
                raise FeedBehind(problem.message)
            head = self.store.head(author)
            last = int(self.store.get_meta("hlc") or 0)
            network = self.network
            for kind, payload in items:
                ts = hlc.next_ts(max(last, head.ts if head else 0), self.now_ms())
                event = create_event(
                    keys.signing,
                    network=network,
                    seq=1 if head is None else head.seq + 1,
                    prev=None if head is None else head.id,
                    ts=ts,
                    kind=kind,
                    # a sealed body is already bytes (§11); any other payload is a map
                    body=payload if isinstance(payload, bytes) else encoding.encode(payload),
                )
                chain.check_next(head, event)
                made.append(event)
                head, last = Head.of(event), ts
            self._check_own_budget(made)
            self.store.add(made)
            self.store.set_meta("hlc", str(last))
            if after is not None:
                after(made)
            absorbed = IngestResult()
            self._absorb(absorbed, [], own=made)
        if made:
            self.home.record_head(made[-1].seq, made[-1].id)
        if absorbed.erased:
            self.store.checkpoint()
        return made

    def _check_own_budget(self, made: Sequence[Event]) -> None:
        """Never write what the other nodes would hold back (§4.6): a node's own events
        stay within the network's daily budget, or nothing is written."""
        limits = self.projector.limits()
        spent: dict[int, tuple[int, int]] = {}
        for event in made:
            day = day_of(event.ts)
            events, size = spent.get(day) or self.store.spent(event.author, day)
            spent[day] = (events + 1, size + len(event.raw))
        for events, size in spent.values():
            if events > limits.events_per_day or size > limits.bytes_per_day:
                raise OverBudget(
                    f"that would be {events} events ({size / 2**20:.1f} MiB) of this node's "
                    f"on one day; the network takes in at most {limits.events_per_day} events "
                    f"and {limits.bytes_per_day / 2**20:.0f} MiB per member per day, so the "
                    "other nodes would hold the rest back. Nothing was written: post the "
                    "rest tomorrow, or ask an admin to raise the budget (`commune limits`)"
                )

    def _absorb(self, result: IngestResult, events: list[Event], own: Sequence[Event] = ()) -> None:
        """Inside a write transaction: place foreign ``events`` (after this node's own
        ``own`` events were added), release what a new admission unblocks, then bring
        the membership and the projections up to date."""
        before = self.projector.membership()
        batch = _Batch(self, result)
        batch.membership_changed = before is None or any(e.kind in member_kinds.KINDS for e in own)
        batch.run(events)
        after = self.projector.membership()
        if membership_rules.shrank(before, after) or batch.restored:
            self.projector.rebuild()
        else:
            self.projector.apply([*own, *result.stored])
            self.projector.apply_grown(before, after)
        result.uncounted = sum(
            1 for e in result.stored if not self.projector.counts(e.author, e.seq)
        )
        # Redactions (§12): erase the bodies they name, then read the log again without
        # them (rare; a rebuild is the simple way to drop every trace from the items).
        result.erased = self.store.erase_bodies(self.projector.redacted())
        new_redactions = any(e.kind == redact.KIND for e in [*own, *result.stored])
        if result.erased or new_redactions:
            self.projector.rebuild()

    # --- taking in events from elsewhere --------------------------------------------

    def ingest(self, raws: Sequence[bytes]) -> IngestResult:
        """Check a batch of foreign events and store the valid ones in one transaction.

        An event already stored is counted as known; one that follows a gap, or whose
        author's admission has not arrived, is held until it can be placed; a second
        event at a taken (author, seq) is kept as fork evidence. Nothing stored before
        is changed.
        """
        return self.ingest_checked(check_many(raws))

    def ingest_batches(self, batches: Iterable[Sequence[bytes]]) -> Iterator[IngestResult]:
        """:meth:`ingest` of each batch in turn, the next batch checked on the other cores
        while this one is stored (an import, a benchmark): the same results as calling
        :meth:`ingest` on each, in the same order, in less time."""
        upcoming = iter(batches)
        first = next(upcoming, None)
        if first is None:
            return
        pending = _pipeline().submit(check_many, first)
        for raws in upcoming:
            outcomes = pending.result()
            pending = _pipeline().submit(check_many, raws)
            yield self.ingest_checked(outcomes)
        yield self.ingest_checked(pending.result())

    def ingest_checked(self, outcomes: Sequence[Event | InvalidEvent]) -> IngestResult:
        """:meth:`ingest` after :func:`check_many` (which sync runs in a thread)."""
        result = IngestResult()
        seen: set[bytes] = set()
        events: list[Event] = []
        for checked in outcomes:
            if isinstance(checked, InvalidEvent):
                result.refuse(None, checked)
            elif checked.id in seen:
                result.known += 1
            else:
                seen.add(checked.id)
                events.append(checked)
        with self.store.write():
            self._absorb(result, events)
            self._observe(result.stored)
            if result.held_back:
                self._note_held_back(result.held_back)
        if result.erased:
            self.store.checkpoint()
        return result

    def _note_held_back(self, held_back: Counter[bytes]) -> None:
        """Remember, per author, how many of its events were held back and when last
        (``status``, ``/metrics`` and the web view name them)."""
        record = self.held_back()
        now = int(self.clock())
        for author, count in held_back.items():
            before = record.get(author, (0, 0))
            record[author] = (before[0] + count, now)
        latest = sorted(record.items(), key=lambda item: -item[1][1])[:MAX_HELD_BACK_AUTHORS]
        value = {a.hex(): list(v) for a, v in latest}
        self.store.set_meta(HELD_BACK, json.dumps(value, sort_keys=True))

    def held_back(self) -> dict[bytes, tuple[int, int]]:
        """Author -> (events held back in all, when last: unix seconds) (§4.6)."""
        value = self.store.get_meta(HELD_BACK)
        try:
            return {
                bytes.fromhex(a): (int(v[0]), int(v[1]))
                for a, v in json.loads(value or "{}").items()
            }
        except (ValueError, TypeError, IndexError, AttributeError):
            return {}

    def _observe(self, events: Sequence[Event]) -> None:
        if not events:
            return
        last = int(self.store.get_meta("hlc") or 0)
        now = self.now_ms()
        for event in events:
            last = hlc.observe(last, event.ts, now)
        self.store.set_meta("hlc", str(last))

    # --- reading and checking -------------------------------------------------------

    def rebuild(self) -> None:
        with self.store.write():
            self.projector.rebuild()

    def verify(self) -> list[Fault]:
        """Recheck every stored event: encoding, signature, body hash, id and chain."""
        faults: list[Fault] = []
        previous: dict[bytes, Head] = {}
        batch: list[tuple[bytes, bytes, int, bytes]] = []

        def flush() -> None:
            checked = check_many([row[3] for row in batch])
            for (stored_id, author, seq, _), outcome in zip(batch, checked, strict=True):
                fault = _verify_one(stored_id, author, seq, outcome, previous.get(author))
                if fault is not None:
                    faults.append(fault)
                    previous[author] = Head(seq, stored_id, 0, NO_NETWORK)
                elif isinstance(outcome, Event):
                    previous[author] = Head.of(outcome)
            batch.clear()

        for row in self.store.rows():
            batch.append(row)
            if len(batch) >= 2000:
                flush()
        flush()
        for author, head in self.store.heads().items():
            last = previous.get(author)
            if last is None or last.seq != head.seq or last.id != head.id:
                faults.append(
                    Fault(
                        head.id,
                        author,
                        head.seq,
                        "bad-head",
                        "the author's head does not point at its last stored event",
                    )
                )
        return faults


def _verify_one(
    stored_id: bytes, author: bytes, seq: int, outcome: Event | InvalidEvent, head: Head | None
) -> Fault | None:
    if isinstance(outcome, InvalidEvent):
        return Fault(stored_id, author, seq, outcome.code, outcome.message)
    if outcome.id != stored_id or outcome.author != author or outcome.seq != seq:
        return Fault(
            stored_id,
            author,
            seq,
            "bad-id",
            "the stored bytes are not the event filed under this id",
        )
    try:
        chain.check_next(head, outcome)
    except InvalidEvent as e:
        return Fault(stored_id, author, seq, e.code, e.message)
    return None


class _Batch:
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
        event_id = self.store.id_at(author, seq)
        event = self.store.get(event_id) if event_id is not None else None
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
