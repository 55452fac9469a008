"""The one ingest path and the store (docs/PROTOCOL.md §4, §7), on real SQLite files."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from crypto.identity import NodeKeys
from node import batch, service
from node import store as store_module
from node.cipherdb import connect
from node.errors import StoreCorrupt, StoreError
from node.home import Home
from node.service import Node
from node.store import Store
from protocol import encoding
from protocol.envelope import NO_NETWORK
from protocol.kinds import POSTABLE
from tests.helpers import feed, fixed_key, forge, found_network, payload

SV = fixed_key(21)
IN = fixed_key(22)


@pytest.fixture
def node(node_and_keys: tuple[Node, NodeKeys]) -> Node:
    """A node that founded a network and admitted SV and IN."""
    node, keys = node_and_keys
    found_network(node, keys, SV, IN)
    return node


def report(title: str) -> tuple[str, dict[str, object]]:
    return ("report", POSTABLE["report"].build({"title": title, "body": "…"}))


def test_post_builds_a_chain(node_and_keys: tuple[Node, NodeKeys]) -> None:
    node, keys = node_and_keys
    first = node.post(keys, [report("uno")])
    more = node.post(keys, [report("dos"), report("tres")])
    events = list(node.store.events())
    assert [e.seq for e in events] == [1, 2, 3]
    assert {e.network for e in events} == {NO_NETWORK}
    assert events[1].prev == first[0].id
    assert events[2].prev == more[0].id
    assert events[0].ts < events[1].ts < events[2].ts
    assert node.store.head(keys.node_id).id == more[-1].id  # type: ignore[union-attr]
    assert node.verify() == []


def test_post_keeps_timestamps_rising_when_the_clock_goes_back(home: Home) -> None:
    _, keys = home.init("Los Angeles", None)
    times = iter([2_000_000.0, 1_000_000.0, 1_000_000.0])
    with Node(home, home.open_store(), clock=lambda: next(times)) as node:
        a = node.post(keys, [report("a")])[0]
        b = node.post(keys, [report("b")])[0]
        c = node.post(keys, [report("c")])[0]
    assert a.ts < b.ts < c.ts


def test_ingest_new_then_known(node: Node) -> None:
    events = feed(SV, 5)
    result = node.ingest([e.raw for e in events])
    assert (result.new, result.known, result.held, result.refused_total) == (5, 0, 0, 0)
    again = node.ingest([e.raw for e in events] * 2)
    assert (again.new, again.known) == (0, 10)
    assert node.store.count() == 3 + 5


def test_out_of_order_events_are_held_until_the_gap_is_filled(node: Node) -> None:
    events = feed(SV, 6)
    late = node.ingest([e.raw for e in events[3:]])
    assert (late.new, late.held) == (0, 3)
    assert node.store.count() == 3  # the founder's genesis and admissions
    assert node.ingest([events[3].raw]).known == 1  # already held: not held twice
    filled = node.ingest([e.raw for e in events[:3]])
    assert filled.new == 6
    assert [e.seq for e in node.store.events() if e.author == SV.public] == [1, 2, 3, 4, 5, 6]
    assert node.store.held_count() == 0
    assert node.verify() == []


def test_shuffled_batches_from_several_authors_converge(node: Node) -> None:
    events = feed(SV, 40) + feed(IN, 40)
    order = list(reversed(events))
    for i in range(0, len(order), 7):
        node.ingest([e.raw for e in order[i : i + 7]])
    assert node.store.count() == 83
    assert node.store.held_count() == 0
    assert node.verify() == []


def test_a_fork_is_kept_as_evidence_and_changes_nothing(node: Node) -> None:
    events = feed(SV, 3)
    node.ingest([e.raw for e in events])
    other = forge(SV, seq=2, prev=events[0].id, ts=events[0].ts + 5, body=payload("other"))
    result = node.ingest([other])
    assert result.forks == 1
    assert [e.id for e in node.store.events() if e.author == SV.public] == [e.id for e in events]
    assert [f.seq for f in node.store.forks()] == [2]
    assert node.ingest([other]).known == 1  # evidence is not counted twice


def test_refused_events_leave_the_store_as_it_was(node: Node) -> None:
    good = feed(SV, 2)
    node.ingest([good[0].raw])
    bad_prev = forge(SV, seq=2, prev=bytes(32), ts=good[0].ts + 1)
    forged = forge(IN, author=SV.public, seq=2, prev=good[0].id, ts=good[0].ts + 1)
    result = node.ingest([bad_prev, forged, b"\x00garbage"])
    assert result.refused == {"bad-signature": 1, "trailing-bytes": 1}
    assert result.forks == 1  # signed by SV at its next seq, after another head: a fork
    assert result.new == 0
    assert [e.id for e in node.store.events() if e.author == SV.public] == [good[0].id]


def test_a_next_event_whose_prev_is_not_the_head_is_kept_as_fork_evidence(node: Node) -> None:
    """Issue 13: SV signed seq 3 after another seq 2 than the one here, so its feed
    forked: kept as evidence (whichever arrives first), and SV is cut off."""
    events = feed(SV, 3)
    node.ingest([e.raw for e in events[:2]])
    other_branch = forge(SV, seq=3, prev=bytes(range(32)), ts=events[1].ts + 9)
    result = node.ingest([other_branch])
    assert (result.forks, result.refused_total) == (1, 0)
    membership = node.membership()
    assert membership is not None
    assert membership.members[SV.public].forked_at == 3
    # the same evidence when it came before the event it conflicts with (held first)
    again = Node(node.home, Store(":memory:"))
    with again.store.write():
        again.store.set_meta("network", node.store.get_meta("network") or "")
        again.store.set_meta("genesis", node.store.get_meta("genesis") or "")
    again.ingest([e.raw for e in node.store.events() if e.author != SV.public])
    again.ingest([events[0].raw, other_branch])
    assert again.ingest([events[1].raw]).forks == 1
    assert again.store.fork_seqs() == node.store.fork_seqs()


def test_events_of_another_network_are_refused(node: Node) -> None:
    other = feed(SV, 1, network=bytes(range(32)))
    result = node.ingest([other[0].raw])
    assert result.refused == {"wrong-network": 1}
    assert node.store.count() == 3


def test_large_batches_are_checked_on_every_core_with_the_same_result(node: Node) -> None:
    events = feed(SV, service.PARALLEL_FROM * 3)
    tampered = bytearray(events[100].raw)
    tampered[-3] ^= 1
    raws = [e.raw for e in events]
    raws[100] = bytes(tampered)
    result = node.ingest(raws)
    assert result.refused == {"bad-body-hash": 1}
    assert result.new == 100  # the rest wait for the refused seq 101
    assert result.held == len(events) - 101


def test_held_events_are_bounded_per_author_and_no_author_crowds_out_another(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§4.5: each author of the log keeps at most HELD_PER_MEMBER events waiting, the
    newest; a flood by one leaves another's one-event gap alone."""
    monkeypatch.setattr(batch, "HELD_PER_MEMBER", 3)
    honest = feed(IN, 2, network=node.network)
    assert node.ingest([honest[1].raw]).held == 1  # IN's seq 1 is missing
    flood = feed(SV, 10, network=node.network)
    result = node.ingest([e.raw for e in flood[1:]])  # SV's seq 1 is missing
    assert (result.held, result.evicted, result.refused_total) == (3, 6, 0)
    held = {e.seq for e in node.store.take_held([SV.public])}
    assert held == {8, 9, 10}  # the oldest went first
    assert node.ingest([honest[0].raw]).new == 2  # IN's gap filled: nothing crowded it out


def test_keys_no_member_admitted_share_a_small_parking(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "HELD_PER_STRANGER", 2)
    monkeypatch.setattr(batch, "HELD_STRANGERS", 5)
    honest = feed(IN, 2, network=node.network)
    node.ingest([honest[1].raw])
    for n in range(4):
        stranger = fixed_key(60 + n)
        node.ingest([e.raw for e in feed(stranger, 3, network=node.network)])
    assert node.store.held_count_of(reason="not-admitted") == 5
    assert max(node.store.held_count_of(author=fixed_key(60 + n).public) for n in range(4)) <= 2
    assert node.store.held_count_of(author=IN.public) == 1
    assert node.ingest([honest[0].raw]).new == 2


def test_an_authors_feed_beyond_the_daily_budget_is_held_back_until_an_admin_raises_it(
    node_and_keys: tuple[Node, NodeKeys], monkeypatch: pytest.MonkeyPatch
) -> None:
    """§4.6: what one author adds to every store, per day of its events' timestamps,
    is bounded; the rest is not stored (its peer offers it again), named by author,
    and taken in once an admin raises the budget."""
    from protocol.kinds import member  # noqa: PLC0415

    node, keys = node_and_keys
    found_network(node, keys, SV, IN)
    monkeypatch.setattr(member, "DEFAULT_EVENTS_PER_DAY", 5)
    events = feed(SV, 8, network=node.network)
    result = node.ingest([e.raw for e in events])
    # the sixth is held back; the two after it wait for it, as after any gap
    assert (result.new, result.held_back[SV.public], result.held) == (5, 1, 2)
    assert result.refused_total == 0
    assert node.store.head(SV.public).seq == 5  # type: ignore[union-attr]
    # bytes too
    monkeypatch.setattr(member, "DEFAULT_BYTES_PER_DAY", 1)
    assert node.ingest([e.raw for e in feed(IN, 1, network=node.network)]).held_back[IN.public] == 1
    monkeypatch.setattr(member, "DEFAULT_BYTES_PER_DAY", 1 << 30)
    # an admin raises the limit: what was held back is taken in when offered again
    node.post(keys, [(member.LIMITS, {"v": 1, "events_per_day": 100, "bytes_per_day": 1 << 30})])
    result = node.ingest([e.raw for e in events])
    assert (result.new, sum(result.held_back.values())) == (3, 0)


def test_an_event_dated_days_ahead_is_taken_in_when_its_day_comes(
    node_and_keys: tuple[Node, NodeKeys],
) -> None:
    node, keys = node_and_keys
    found_network(node, keys, SV)
    now = [node.clock()]
    later = Node(node.home, node.store, clock=lambda: now[0])
    ahead = feed(SV, 1, network=node.network, start_ts=int((now[0] + 3 * 86400) * 1000) << 16)
    assert later.ingest([ahead[0].raw]).held_back[SV.public] == 1
    now[0] += 3 * 86400
    assert later.ingest([ahead[0].raw]).new == 1


def test_a_batch_is_one_transaction(node: Node) -> None:
    """A failure while storing the batch leaves none of it (real SQLite, real trigger)."""
    node.store.execute(
        "CREATE TRIGGER fail_at_4 BEFORE INSERT ON events WHEN NEW.seq = 4 "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    before = node.store.heads()
    with pytest.raises(StoreError, match="disk trouble"):
        node.ingest([e.raw for e in feed(SV, 6)])
    assert node.store.count() == 3
    assert node.store.heads() == before


def test_author_seq_is_unique_in_the_store(node: Node) -> None:
    events = feed(SV, 1)
    node.ingest([events[0].raw])
    twin = forge(SV, body=payload("twin"))
    with pytest.raises(StoreError), node.store.write():
        node.store.add([service.check_event(twin)])
    assert node.store.id_at(SV.public, 1) == events[0].id


def test_a_damaged_store_is_reported_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreCorrupt, match="restore the node from a backup"):
        Store(path)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    conn = connect(path, None)  # a plaintext store: no key needed to change it
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer Commune"):
        Store(path)


def test_foreign_events_wait_until_their_author_is_admitted(
    node_and_keys: tuple[Node, NodeKeys],
) -> None:
    node, keys = node_and_keys
    assert node.network == NO_NETWORK
    events = feed(SV, 2)  # written before SV joined any network
    assert node.ingest([e.raw for e in events]).held == 2
    found_network(node, keys, SV)  # the admission releases them
    assert [e.id for e in node.store.events() if e.author == SV.public] == [e.id for e in events]
    assert node.store.held_count() == 0


def test_two_held_events_at_one_seq_are_a_fork_once_the_gap_fills(node: Node) -> None:
    events = feed(SV, 3)
    other = forge(SV, seq=2, prev=events[0].id, ts=events[0].ts + 5, body=payload("other"))
    result = node.ingest([events[1].raw, other])  # both wait for seq 1
    assert result.held == 2
    result = node.ingest([events[0].raw])
    assert result.forks == 1
    assert node.store.held_count() == 0
    member = node.membership().get(SV.public)  # type: ignore[union-attr]
    assert member is not None
    assert member.forked_at == 2


def test_a_held_event_that_cannot_follow_its_head_is_refused_not_kept(node: Node) -> None:
    events = feed(SV, 2)
    wrong_prev = forge(SV, seq=3, prev=events[0].id, ts=events[1].ts + 1)
    backwards = forge(SV, seq=3, prev=events[1].id, ts=events[1].ts - 5, body=payload("b"))
    assert node.ingest([wrong_prev, backwards]).held == 2  # a gap: seq 1 and 2 missing
    result = node.ingest([e.raw for e in events])
    assert result.new == 2
    # another prev at the next seq is a fork (kept as evidence); a ts going back is not
    assert result.refused == {"bad-timestamp": 1}
    assert result.forks == 1
    assert result.held == 0
    assert node.store.held_count() == 0
    assert node.store.head(SV.public).seq == 2  # type: ignore[union-attr]


def test_an_unreadable_body_is_stored_counted_and_listed(node: Node) -> None:
    raw = forge(SV, body=encoding.encode(["not", "a", "map"]))
    before = node.projector.state_hash()
    assert node.ingest([raw]).new == 1
    assert [u["reason"] for u in node.projector.unknown()] == ["unreadable payload"]
    assert node.projector.rows("report") == []
    assert node.projector.state_hash() != before
    node.rebuild()
    assert [u["reason"] for u in node.projector.unknown()] == ["unreadable payload"]


def test_whether_a_conflicting_event_is_fork_evidence_does_not_depend_on_order(
    node: Node, tmp_path: Path
) -> None:
    # A second node in the same network, from a copy of the first's store.
    events = feed(SV, 2)
    stray = forge(SV, seq=2, prev=bytes(32), ts=events[0].ts + 9, body=payload("stray"))
    twin = tmp_path / "twin.sqlite"
    node.store.execute("VACUUM INTO ?", (str(twin),))
    other = Node(node.home, Store(twin, node.home.store_key))  # VACUUM INTO keeps the key
    try:
        first = node.ingest([e.raw for e in events])
        # behind the head, it does not follow seq 1: SV signed another seq 1 before it
        late = node.ingest([stray])
        assert (first.new, late.forks, late.refused_total) == (2, 1, 0)
        early = other.ingest([events[0].raw, stray])  # next after seq 1: the same evidence
        assert (early.forks, early.refused_total) == (1, 0)
        other.ingest([events[1].raw])
        assert other.projector.state_hash() == node.projector.state_hash()
        assert [f.id for f in node.store.forks()] == [f.id for f in other.store.forks()]
    finally:
        other.close()


def test_a_membership_event_without_its_body_is_refused(node: Node) -> None:
    revoke = forge(
        SV, kind="member.revoke", body=encoding.encode({"cutoff": 0, "node": IN.public, "v": 1})
    )
    fields = encoding.decode(revoke)
    stripped = encoding.encode([*fields[:9], None])
    assert node.ingest([stripped]).refused == {"missing-body": 1}
    assert node.ingest([revoke]).refused_total == 0


def test_fork_evidence_is_kept_only_where_it_cuts_the_feed_earlier(node: Node) -> None:
    events = feed(SV, 3)
    node.ingest([e.raw for e in events])

    def twin(seq: int, tag: str) -> bytes:
        return forge(
            SV,
            seq=seq,
            prev=events[seq - 2].id if seq > 1 else None,
            ts=events[seq - 1].ts + 1,
            body=payload(tag),
        )

    assert node.ingest([twin(3, "a")]).forks == 1
    assert node.ingest([twin(3, "b"), twin(3, "c")]).forks == 0  # nothing new: cut at 3
    assert node.ingest([twin(2, "d")]).forks == 1  # an earlier cut is kept
    assert node.membership().get(SV.public).forked_at == 2  # type: ignore[union-attr]
    assert len(node.store.forks()) == 2


def test_a_new_store_and_its_wal_are_readable_by_this_user_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        path = tmp_path / "store.sqlite"
        with Store(path) as store:
            store.set_meta("x", "y")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        assert modes["store.sqlite"] == 0o600
        assert modes.get("store.sqlite-wal", 0o600) == 0o600
        assert modes.get("store.sqlite-shm", 0o600) == 0o600
        os.chmod(path, 0o640)  # an existing store keeps the mode its owner gave it
        Store(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_ingest_batches_gives_what_ingest_gives_batch_by_batch(tmp_path: Path) -> None:
    """Checking the next batch while storing this one changes nothing but the time: the
    same results, in order, and the same store, held events and refusals included."""
    home = Home(tmp_path / "a")
    _, keys = home.init("Los Angeles", None)
    with Node.open(home) as node:
        found_network(node, keys, SV, IN)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the same node twice
    nodes = [Node.open(home), Node.open(Home(tmp_path / "b"))]
    events = feed(SV, 300) + feed(IN, 300)
    raws = [e.raw for e in reversed(events)]  # gaps: held, then released
    raws.insert(250, forge(SV, seq=2))  # a wrong chain: refused
    batches = [raws[i : i + 64] for i in range(0, len(raws), 64)]
    try:
        one_by_one = [nodes[0].ingest(b) for b in batches]
        pipelined = list(nodes[1].ingest_batches(iter(batches)))
        summary = [(r.new, r.known, r.held, sorted(r.refused.items())) for r in one_by_one]
        assert [(r.new, r.known, r.held, sorted(r.refused.items())) for r in pipelined] == summary
        assert sum(r.new for r in pipelined) == 600
        assert sum(r.refused.total() for r in pipelined) == 1
        assert nodes[1].projector.state_hash() == nodes[0].projector.state_hash()
        assert nodes[1].store.count() == nodes[0].store.count()
        assert list(nodes[1].ingest_batches([])) == []
    finally:
        for node in nodes:
            node.close()


def test_the_wal_index_descriptor_stays_open_while_any_store_of_the_process_uses_it(
    tmp_path: Path,
) -> None:
    """Closing a descriptor of the -shm file would drop SQLite's locks on it (POSIX
    locks belong to the process): the store keeps its own open until the last store of
    the process on that file closes."""
    path = tmp_path / "store.sqlite"
    first = Store(path)
    first.set_meta("a", "1")
    second = Store(path)
    key = os.path.realpath(f"{path}-shm")
    assert store_module._INDEX_FDS[key][1] == 2
    first.close()
    assert store_module._INDEX_FDS[key][1] == 1
    assert second.get_meta("a") == "1"
    second.close()
    assert key not in store_module._INDEX_FDS
    second.close()  # closing twice is harmless


def test_a_write_transaction_asks_for_the_data_version_once(tmp_path: Path) -> None:
    """What a process caches is checked against SQLite's data_version, which no other
    connection can change while this one holds the write lock: a batch asks once, not
    once an event (it was three times an event, a third of the storing thread's time)."""
    store = Store(tmp_path / "store.db")
    other = Store(tmp_path / "store.db")
    try:
        asked: list[str] = []
        store.conn.set_trace_callback(
            lambda sql: asked.append(sql) if "data_version" in sql else None
        )
        before = store.data_version()
        with store.write():
            inside = {store.data_version() for _ in range(100)}
        assert len(asked) == 2  # once before, once in the transaction
        assert inside == {before}
        # another connection's commit is seen after the transaction, as before
        with other.write():
            other.set_meta("touched", "yes")
        assert store.data_version() != before
        with store.write():
            assert store.data_version() == store.data_version() != before
        assert len(asked) == 4
    finally:
        store.close()
        other.close()
