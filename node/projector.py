"""Projections kept in SQLite (tables ``items`` and ``unreadable``), the membership,
and the state hash. Everything here can be dropped and rebuilt from the log.

**Items behind the log.** A large intake (a sync round's batches, an import, a
restore) stores its events in the log without merging them into the items, so that the
thread that takes events in does only what placing them needs (the chain, the
membership, the budget); the items follow behind, a chunk of the log at a time, each
chunk in its own transaction together with the mark of how far they hold the log
(``items_upto`` in ``meta``, the rowid of the last event they hold; absent when they
hold all of it). The mark moves only in the transaction that applies the events before
it, so a crash at any point leaves the items holding every event up to the mark (and
perhaps some after it), and applying again from there is all that is needed (merging is
the same whatever the order, and applying a change twice changes nothing:
protocol/projections.py ``merge``).
Whoever reads the items brings them up to the log first (node/service.py
``Node.open``, the end of each intake) or says they are behind (the web view).
Everything else an intake decides stays in its transaction: membership changes,
redactions and a grown membership apply the items at once, as before.

Why this module is long: the membership, the items, their search index and counts, and
the state hash are one projection of the log, rebuilt together (:meth:`rebuild`); split,
each part would need the others' transaction rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from node import search
from node.store import Store
from protocol import admission
from protocol import membership as membership_rules
from protocol.envelope import SEALED, Event, decode_event
from protocol.errors import BadPayload
from protocol.kinds import EDITS, KNOWN, POSTABLE, redact
from protocol.kinds import member as member_kinds
from protocol.membership import ActionEvent, Membership
from protocol.projections import (
    ItemState,
    StateHasher,
    change_of,
    list_keys,
    merge,
    read_payload,
)

REBUILD_BATCH = 2000
#: raised when what the projections hold changes without a kind's version changing
#: (2: every item kind's ``tags``, a register of each item)
PROJECTOR_VERSION = 2
#: the store's meta key naming what built its projections (:func:`projected_by`)
PROJECTED_BY = "projected_by"


def projected_by() -> str:
    """What the projections of this program look like: the projector's version and
    every kind with its payload version. A store whose projections another program
    built (an older version, whose reports had no state) folds its log again on open,
    so that every node shows, and hashes, the same state from the same log."""
    kinds = ",".join(f"{name}:{spec.version}" for name, spec in sorted(POSTABLE.items()))
    return f"{PROJECTOR_VERSION};{kinds}"


#: the store's meta key: the rowid of the last event whose change the items hold (those
#: before it too); absent when they hold the whole log
ITEMS_UPTO = "items_upto"
#: events applied per transaction when the items catch up with the log, and their bytes
#: at most (as a sync batch's, protocol/sync.py: a log of 15 KB reports would otherwise
#: hold 30 MB at once)
CATCH_UP_BATCH = 2000
CATCH_UP_BYTES = 2 << 20

#: item ids per query when loading the states a batch changes (SQLite allows 32,766)
LOAD_CHUNK = 500


def genesis_of(store: Store) -> Event | None:
    raw = store.get_meta("genesis")
    return None if raw is None else decode_event(bytes.fromhex(raw))


def _genesis_info(store: Store) -> tuple[Event, member_kinds.Genesis] | None:
    genesis = genesis_of(store)
    if genesis is None:
        return None
    payload = read_payload(genesis)
    if payload is None:
        return None
    try:
        return genesis, member_kinds.parse_genesis(payload)
    except BadPayload:
        return None  # join and found refuse such a genesis; a store that has one is damaged


def _actions(events: Iterable[Event]) -> list[ActionEvent]:
    return [a for a in (admission.action_of(e) for e in events) if a is not None]


def compute_membership(store: Store) -> Membership | None:
    """The network's membership from the genesis and the admin actions in the log
    (protocol/membership.py); None while this node belongs to no network."""
    found = _genesis_info(store)
    if found is None:
        return None
    genesis, info = found
    actions = _actions(store.events_of_kinds(member_kinds.ACTIONS))
    return membership_rules.fold(genesis, info, actions, store.fork_seqs())


def admin_action_events(store: Store) -> list[Event]:
    """Every admin action the store holds: in the log, and held until it can be placed."""
    return [
        *store.events_of_kinds(member_kinds.ACTIONS),
        *store.held_of_kinds(member_kinds.ACTIONS),
    ]


def known_admissions(store: Store) -> admission.Known | None:
    """What this node knows of who was admitted: the genesis, and the admin actions in
    its log *and* those held until they can be placed (a proof that came with an invite
    or a new peer, docs/PROTOCOL.md §6.3); None while it belongs to no network."""
    found = _genesis_info(store)
    if found is None:
        return None
    genesis, info = found
    events = admin_action_events(store)
    forks = tuple(sorted(store.fork_seqs().items()))
    return admission.Known(genesis, info, tuple(_actions(events)), forks)


def admitted_closure(store: Store) -> set[bytes] | None:
    """The log closure (protocol/membership.py :func:`closure`, §5.5 (a)) of the admits
    in the log and those held (§6.3); None before this node belongs to a network."""
    genesis = genesis_of(store)
    if genesis is None:
        return None
    admits = [
        *store.events_of_kinds([member_kinds.ADMIT]),
        *store.held_of_kinds([member_kinds.ADMIT]),
    ]
    return membership_rules.closure(
        genesis.author, ((a.author, a.action.node) for a in _actions(admits))
    )


class Projector:
    def __init__(self, store: Store, own_id: bytes) -> None:
        self.store = store
        self.own_id = own_id
        self._membership: Membership | None = None
        self._known: admission.Known | None = None
        self._trust: Membership | None = None
        self._closure: set[bytes] | None = None
        self._fresh = False
        #: the store's data_version when the membership was computed
        self._version: int | None = None

    # --- membership -----------------------------------------------------------------

    def genesis(self) -> Event | None:
        return genesis_of(self.store)

    def membership(self) -> Membership | None:
        """The membership the log gives. Kept between calls, and computed again when
        this process changed it (:meth:`refresh`) or when any other process (a command
        beside ``serve``, another store object) committed to the store since: whoever
        wrote an admission or a revocation, every process follows it."""
        version = self.store.data_version()
        if not self._fresh or version != self._version:
            self._membership = compute_membership(self.store)
            self._known = known_admissions(self.store)
            self._trust = None if self._known is None else self._known.membership()
            self._closure = admitted_closure(self.store)
            self._fresh = True
            self._version = version
        return self._membership

    def trust(self) -> Membership | None:
        """Who this node lets in and reaches (its pinned certificates): the membership
        of its log together with the admissions it holds before its log does (§6.3).
        Never what counts: that is :meth:`membership`."""
        self.membership()
        return self._trust

    def known(self) -> admission.Known | None:
        """The genesis and every admin action this node holds (log and held)."""
        self.membership()
        return self._known

    def proof_for(self, node_id: bytes) -> list[Event]:
        """The smallest proof this node can give that ``node_id`` is admitted
        (docs/PROTOCOL.md §6.3); empty when it is not, or is the founder."""
        known = self.known()
        if known is None:
            return []
        return admission.build(known, admin_action_events(self.store), node_id)

    def log_authors(self) -> set[bytes]:
        self.membership()
        return set(self._closure or ())

    def in_log(self, author: bytes) -> bool:
        """Whether this author's events enter the log (see :func:`admitted_closure`);
        before this node belongs to a network, only its own do."""
        self.membership()
        return author == self.own_id if self._closure is None else author in self._closure

    def refresh(self) -> Membership | None:
        self._fresh = False
        return self.membership()

    def counts(self, author: bytes, seq: int) -> bool:
        """Whether an event counts (docs/PROTOCOL.md §5.5). Before this node belongs to a
        network, its own events count, so a collective can start working at once."""
        membership = self.membership()
        if membership is None:
            return author == self.own_id
        return membership.counts(author, seq)

    def apply_grown(self, before: Membership | None, after: Membership | None) -> None:
        """Apply the stored events that count now and did not under ``before``."""
        for author, (low, high) in membership_rules.grew(before, after).items():
            rows = self.store.execute(
                "SELECT raw FROM events WHERE author = ? AND seq > ? AND seq <= ?",
                (author, low, min(high, 2**63 - 1)),
            )
            self.apply([decode_event(bytes(r[0])) for r in rows])

    def redacted(self) -> set[bytes]:
        """The ids of the events whose bodies the log erases (docs/PROTOCOL.md §12, the
        rule in protocol/kinds/redact.py :func:`erased`)."""
        membership = self.membership()

        def admin_at(author: bytes, seq: int) -> bool:
            redactor = membership.get(author) if membership is not None else None
            return redactor is not None and redactor.is_admin_at(seq)

        return redact.erased(
            self.store.events_of_kinds([redact.KIND]),
            find=lambda event_id: self.store.get(event_id) or self.store.get_fork(event_id),
            counts=self.counts,
            admin_at=admin_at,
            item_kinds=POSTABLE,
            edits=lambda: self.store.events_of_kinds(sorted(EDITS)),
        )

    # --- items ----------------------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> None:
        """Merge counted events into the items; call inside a store transaction."""
        unreadable: list[tuple[bytes, str, bytes, int]] = []
        erased = self.redacted()
        changes = []
        for event in events:
            if not self.counts(event.author, event.seq) or event.id in erased:
                continue
            if event.kind not in POSTABLE and event.kind not in EDITS:
                continue
            change = change_of(event)
            if change is None:
                unreadable.append((event.id, event.kind, event.author, event.seq))
                continue
            changes.append(change)
        loaded = self._load_many({c.key for c in changes})
        states = dict(loaded)
        for change in changes:
            states[change.key] = merge(states.get(change.key), change)
        # a dated kind's list keys beside it (protocol/projections.py list_keys), in the
        # same statement: its list by date and its overdue ones read them from an index
        rows = [
            (s.kind, s.id, s.author, s.ts, int(s.visible), s.encode(), *list_keys(s))
            for s in states.values()
            if s is not None
        ]
        self.store.execute_many(
            "INSERT INTO items (kind, id, author, ts, visible, state, dated_key, open) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET author = excluded.author, ts = excluded.ts, "
            "visible = excluded.visible, state = excluded.state, "
            "dated_key = excluded.dated_key, open = excluded.open",
            rows,
        )
        self._index(loaded, states)
        self.store.execute_many(
            "INSERT OR IGNORE INTO unreadable (id, kind, author, seq) VALUES (?, ?, ?, ?)",
            unreadable,
        )

    def _load_many(self, keys: set[tuple[str, bytes]]) -> dict[tuple[str, bytes], ItemState]:
        """The stored states of these items (those that have one), a few queries for a
        whole batch rather than one per event."""
        states: dict[tuple[str, bytes], ItemState] = {}
        by_kind: dict[str, list[bytes]] = {}
        for kind, item_id in sorted(keys):
            by_kind.setdefault(kind, []).append(item_id)
        for kind, ids in by_kind.items():
            for start in range(0, len(ids), LOAD_CHUNK):
                chunk = ids[start : start + LOAD_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = self.store.execute(
                    f"SELECT id, state FROM items WHERE kind = ? AND id IN ({marks})",  # noqa: S608
                    (kind, *chunk),
                )
                for item_id, state in rows:
                    states[(kind, bytes(item_id))] = ItemState.decode(bytes(state))
        return states

    def _index(
        self,
        before: dict[tuple[str, bytes], ItemState],
        after: dict[tuple[str, bytes], ItemState],
    ) -> None:
        """Keep the search index (node/search.py) and the counts of visible items with
        the items just written (``before``: those that were stored already, as they
        were): an item's words enter it while it is visible, change with its text, and
        leave it when it is hidden, deleted or erased."""
        changed: dict[tuple[str, bytes], tuple[bool, str | None]] = {}
        counts: dict[str, int] = {}
        for key, state in after.items():
            old = before.get(key)
            was = old is not None and old.visible
            text = search.text_of(state) if state.visible else None
            if was == state.visible and text == (search.text_of(old) if old and was else None):
                continue
            counts[key[0]] = counts.get(key[0], 0) + int(state.visible) - int(was)
            changed[key] = (was, text)
        if not changed:
            return
        # Rows by rowid, one statement each: an INSERT ... SELECT into the index opens
        # a statement journal, which makes FTS5 write every row as a segment of its own
        # (273 µs a report instead of 60).
        at = self.store.item_rowids(changed)
        self.store.execute_many(
            "DELETE FROM item_text WHERE rowid = ?",
            [(search.kind_base(k[0]) + at[k],) for k, (was, _) in changed.items() if was],
        )
        self.store.execute_many(
            "INSERT INTO item_text (rowid, text) VALUES (?, ?)",
            [
                (search.kind_base(k[0]) + at[k], text)
                for k, (_, text) in changed.items()
                if text is not None
            ],
        )
        self.store.execute_many(
            "INSERT INTO item_counts (kind, visible) VALUES (?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET visible = visible + excluded.visible",
            [(kind, n) for kind, n in sorted(counts.items()) if n],
        )

    def limits(self) -> member_kinds.Limits:
        """How much of one author's feed, per day of its timestamps, this node takes in
        (docs/PROTOCOL.md §4.6): the defaults, raised by any counted ``network.limits``
        of an admin (the highest of each applies; a limit is never lowered, so what a
        node took in stays in every node's log)."""
        membership = self.membership()
        events, size = member_kinds.DEFAULT_EVENTS_PER_DAY, member_kinds.DEFAULT_BYTES_PER_DAY
        for event in self.store.events_of_kinds([member_kinds.LIMITS]):
            admin = membership.get(event.author) if membership is not None else None
            payload = read_payload(event)
            if admin is None or payload is None or not admin.is_admin_at(event.seq):
                continue
            try:
                limits = member_kinds.parse_limits(payload)
            except BadPayload:
                continue
            events, size = max(events, limits.events_per_day), max(size, limits.bytes_per_day)
        return member_kinds.Limits(events, size)

    def item_latest(self, kind: str, item_id: bytes) -> int:
        """The highest clock among a public item's values (0 when it is not here): what
        a new edit of it names in ``after`` (docs/PROTOCOL.md §5.3)."""
        state = self.item_state(kind, item_id)
        return 0 if state is None else state.latest()

    def item_state(self, kind: str, item_id: bytes) -> ItemState | None:
        """A public item as merged so far (visible or not), or None when nothing of it
        is here."""
        return self._load_many({(kind, item_id)}).get((kind, item_id))

    def ensure_current(self) -> bool:
        """Fold the log again if another program built the projections (see
        :func:`projected_by`); whether it did. Not on a damaged store (it takes no
        writes)."""
        wanted = projected_by()
        if self.store.damaged is not None or self.store.get_meta(PROJECTED_BY) == wanted:
            return False
        with self.store.write():
            self.rebuild()
            self.store.set_meta(PROJECTED_BY, wanted)
        return True

    # --- items behind the log --------------------------------------------------------

    def held_upto(self) -> int | None:
        """The rowid of the last event whose change the items hold (every event before
        it too), or None when they hold the whole log."""
        value = self.store.get_meta(ITEMS_UPTO)
        return None if value is None else int(value)

    def leave_behind(self, upto: int) -> None:
        """Inside a write transaction, before events after rowid ``upto`` are stored
        without their items: the items hold the log up to there (kept if they were
        behind already)."""
        if self.held_upto() is None:
            self.store.set_meta(ITEMS_UPTO, str(upto))

    def behind(self) -> int:
        """How many events of the log the items do not hold yet (0: up to date)."""
        upto = self.held_upto()
        if upto is None:
            return 0
        rows = self.store.execute("SELECT count(*) FROM events WHERE rowid > ?", (upto,))
        return int(rows[0][0])

    def catch_up_step(self, limit: int = CATCH_UP_BATCH) -> int:
        """Inside a write transaction: apply the next ``limit`` events of the log that
        the items do not hold (fewer when they hold :data:`CATCH_UP_BYTES`) and move the
        mark past them (removed once they reach the log's end); how many were applied."""
        upto = self.held_upto()
        if upto is None:
            return 0
        rows = self.store.rows_after(upto, limit, CATCH_UP_BYTES)
        self.apply([decode_event(raw) for _, _, _, raw in rows])
        # fewer than asked, and not cut short by their size: the log's end
        if len(rows) < limit and sum(len(r[3]) for r in rows) < CATCH_UP_BYTES:
            self.store.execute("DELETE FROM meta WHERE key = ?", (ITEMS_UPTO,))
        else:
            self.store.set_meta(ITEMS_UPTO, str(rows[-1][0]))
        return len(rows)

    def rebuild(self) -> None:
        """Drop the projections and fold the whole log again; inside a transaction."""
        self.refresh()
        self.store.execute("DELETE FROM meta WHERE key = ?", (ITEMS_UPTO,))
        self.store.execute("DELETE FROM items")
        self.store.execute("INSERT INTO item_text (item_text) VALUES ('delete-all')")
        self.store.execute("DELETE FROM item_counts")
        self.store.execute("DELETE FROM unreadable")
        batch: list[Event] = []
        for event in self.store.events():
            batch.append(event)
            if len(batch) >= REBUILD_BATCH:
                self.apply(batch)
                batch.clear()
        self.apply(batch)

    # --- reading --------------------------------------------------------------------

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """The visible items of one kind, oldest first."""
        rows = self.store.execute(
            "SELECT state FROM items WHERE kind = ? AND visible = 1 ORDER BY ts, author, id",
            (kind,),
        )
        return [ItemState.decode(bytes(r[0])).as_row() for r in rows]

    def counted_events_of_kinds(self, kinds: Sequence[str], negate: bool = False) -> list[Event]:
        marks = ", ".join("?" * len(kinds))
        where = f"kind {'NOT ' if negate else ''}IN ({marks})"
        rows = self.store.execute(
            f"SELECT raw FROM events WHERE {where} ORDER BY id",  # noqa: S608
            tuple(kinds),
        )
        events = (decode_event(bytes(r[0])) for r in rows)
        return [e for e in events if self.counts(e.author, e.seq)]

    def unknown(self) -> list[dict[str, Any]]:
        """Counted events of kinds this version does not know, or whose payload it cannot
        read (a newer payload version): kept and relayed, never dropped."""
        events = self.counted_events_of_kinds(sorted(KNOWN), negate=True)
        # found by the author and seq kept beside each (schema 6): a lookup by id alone
        # asks every part of the log
        rows = self.store.execute("SELECT author, seq FROM unreadable WHERE author IS NOT NULL")
        unreadable = set()
        for author, seq in rows:
            event = self.store.event_at(bytes(author), int(seq))
            if event is not None:
                unreadable.add(event.id)
                if self.counts(event.author, event.seq):
                    events.append(event)
        events.sort(key=lambda e: (e.ts, e.author, e.id))
        return [
            {
                "id": e.id.hex(),
                "kind": e.kind,
                "author": e.author.hex(),
                "seq": e.seq,
                "ts": e.ts,
                "reason": "unreadable payload" if e.id in unreadable else "unknown kind",
            }
            for e in events
        ]

    def members(self) -> list[dict[str, Any]]:
        membership = self.membership()
        if membership is None:
            return []
        rows = []
        for m in sorted(membership.members.values(), key=lambda m: (m.name, m.node_id)):
            rows.append(
                {
                    "node_id": m.node_id.hex(),
                    "name": m.name,
                    "roles": ["admin"] if m.is_admin else [],
                    "state": m.state,
                    "cutoff": m.cutoff,
                    "forked_at": m.forked_at,
                    "founder": m.node_id == membership.founder,
                    "sealing_key": m.sealing_key.hex(),
                }
            )
        return rows

    def state_hash(self) -> bytes:
        """§5.6: depends only on the set of counted events."""
        hasher = StateHasher()
        membership = self.membership()
        hasher.add(None if membership is None else membership.as_list())
        for (state,) in self.store.execute("SELECT state FROM items ORDER BY kind, id"):
            hasher.add_item(bytes(state))
        unknown = self.counted_events_of_kinds(sorted(KNOWN), negate=True)
        hasher.add([e.id for e in unknown])
        unreadable = self.store.execute("SELECT id FROM unreadable ORDER BY id")
        hasher.add([bytes(r[0]) for r in unreadable])
        sealed = self.counted_events_of_kinds([SEALED])
        hasher.add([e.id for e in sealed])
        hasher.add(sorted(self.redacted()))
        return hasher.digest()
