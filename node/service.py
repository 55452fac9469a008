"""The node's one way in: posting, importing and syncing all store events through here,
so every event is checked by the same rules whichever way it came.

Why this module is long: posting, ingest, the items' catch-up behind the log and the
checks of a whole store share one transaction discipline on one store; apart, each would
have to know the others' transactions.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from crypto.identity import NodeKeys
from node import ownfeed
from node.batch import Batch, IngestResult
from node.errors import FeedBehind, OverBudget
from node.home import Home
from node.ownfeed import FeedProblem
from node.projector import Projector
from node.store import Store, day_of
from protocol import chain, encoding, hlc
from protocol import membership as membership_rules
from protocol.chain import Head
from protocol.envelope import NO_NETWORK, Event, create_event
from protocol.errors import InvalidEvent
from protocol.kinds import Payload, redact
from protocol.kinds import member as member_kinds
from protocol.membership import Membership
from protocol.validate import check_event

log = logging.getLogger("commune.node")

__all__ = [
    "PARALLEL_FROM",
    "SEARCH_INDEX",
    "Fault",
    "FeedProblem",
    "IngestResult",
    "Node",
    "check_many",
]

#: Batches at least this large are checked on every core (libsodium releases the GIL).
PARALLEL_FROM = 64
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


#: the code of a :class:`Fault` of the search index rather than of an event
SEARCH_INDEX = "search-index"


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
        """The node in ``home``: its keys opened already (:meth:`Home.unlock`), or
        opened by :attr:`Home.store_key` when its key file has no passphrase
        (NodeLocked otherwise)."""
        home.require()
        existed = home.store_path.exists()
        node = cls(home, home.open_store())
        try:
            node._check_store_origin(existed)
            if not node.projector.ensure_current() and node.store.damaged is None:
                node.catch_up()  # an intake that stopped before its items followed
        except BaseException:
            node.close()
            raise
        return node

    def _check_store_origin(self, existed: bool) -> None:
        ownfeed.check_store_origin(self.home, self.store, self.node_id, existed)

    def feed_problem(self) -> FeedProblem | None:
        """Why writing to this node's own feed now could fork it, or None (§10.5)."""
        return ownfeed.feed_problem(self.home, self.store, self.node_id)

    def confirm_feed(self, claimed: int) -> bool:
        """After a complete pull from a peer that holds this node's feed up to seq
        ``claimed`` (and sent all of it): whether the feed is confirmed now (§10.5)."""
        return ownfeed.confirm_feed(self.home, self.store, self.node_id, claimed)

    def accept_feed_at_store(self) -> None:
        """The user's word: write from this store's head (``sync --accept-loss``)."""
        ownfeed.accept_feed_at_store(self.home, self.store, self.node_id)

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
            try:
                self.home.record_head(made[-1].seq, made[-1].id)
            except OSError as e:
                # The events are committed: the post succeeded. The record beside the
                # store only says how far this node has written (to see an older store
                # put in place); left behind, it is still at or below the store's head,
                # which refuses nothing, and the next post writes it again.
                log.warning("own-head record not written (%s): the post is stored", e.strerror)
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

    def _absorb(
        self,
        result: IngestResult,
        events: list[Event],
        own: Sequence[Event] = (),
        *,
        behind: bool = False,
    ) -> None:
        """Inside a write transaction: place foreign ``events`` (after this node's own
        ``own`` events were added), release what a new admission unblocks, then bring
        the membership and the projections up to date; with ``behind``, the items only
        when the membership changed or a redaction came, otherwise they follow later
        (:meth:`catch_up`, node/projector.py "Items behind the log")."""
        before = self.projector.membership()
        upto = self.store.log_mark()[0] if behind else 0
        batch = Batch(self, result)
        batch.membership_changed = before is None or any(e.kind in member_kinds.KINDS for e in own)
        batch.run(events)
        after = self.projector.membership()
        if membership_rules.shrank(before, after) or batch.restored:
            self.projector.rebuild()
        elif behind and result.stored and not any(e.kind == redact.KIND for e in result.stored):
            self.projector.leave_behind(upto)
            self.projector.apply_grown(before, after)
        else:
            # (when the items are behind, these are applied twice: the same items)
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
        :meth:`ingest` on each, in the same order, in less time. The items follow the
        log once the batches end (:meth:`catch_up`), or when the node is next opened if
        the caller stops first."""
        upcoming = iter(batches)
        first = next(upcoming, None)
        if first is None:
            return
        pending = _pipeline().submit(check_many, first)
        for raws in upcoming:
            outcomes = pending.result()
            pending = _pipeline().submit(check_many, raws)
            yield self.ingest_checked(outcomes, behind=True)
        yield self.ingest_checked(pending.result(), behind=True)
        self.catch_up()

    def catch_up(self) -> int:
        """Bring the items up to the log, a few thousand events per transaction
        (node/projector.py "Items behind the log"); how many events were applied."""
        done = 0
        while self.projector.held_upto() is not None:  # read outside a transaction first
            with self.store.write():
                step = self.projector.catch_up_step()
            done += step
        return done

    def ingest_checked(
        self, outcomes: Sequence[Event | InvalidEvent], *, behind: bool = False
    ) -> IngestResult:
        """:meth:`ingest` after :func:`check_many` (which sync runs in a thread). With
        ``behind``, one of many batches: the items may follow the log later
        (:meth:`catch_up`)."""
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
            self._absorb(result, events, behind=behind)
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
        """Recheck every stored event: encoding, signature, body hash, id and chain; and
        the search index against the items (:meth:`search_faults`)."""
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
        faults += self.search_faults()
        return faults

    def search_faults(self) -> list[Fault]:
        """Where the search index (or the count of a kind's visible items) is not what
        the items make of it: after a crash at any instant, there is none (both are
        written in the items' transaction); ``rebuild`` makes them again."""
        items, other = self.store.search_faults()
        fix = "; `commune rebuild` makes the index again"
        faults = []
        for item_id, author in items:
            event = self.store.get(item_id) if item_id else None
            what = "this item's words" if event else "words of no item"
            faults.append(
                Fault(
                    item_id or bytes(32),
                    author or bytes(32),
                    event.seq if event else 0,
                    SEARCH_INDEX,
                    f"the search index does not hold {what} as the items do{fix}",
                )
            )
        for problem in other:
            faults.append(Fault(bytes(32), bytes(32), 0, SEARCH_INDEX, problem + fix))
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
