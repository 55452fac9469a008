"""Events found by id through the index by part of the log and id (node/schema.py,
schema 6): each event lands in the part its row falls in, a lookup by id alone asks
every part, and a store of schema 5 (an index by id alone) is brought up to date on first
open with nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.atrest import sqlcipher_key
from node import schema
from node.cipherdb import connect
from node.service import Node
from node.store import SCHEMA_VERSION
from protocol.kinds import POSTABLE, redact
from tests.net import Member, close_all, make_network
from tests.web_search import unparted


def _post(member: Member, count: int, start: int = 0) -> list[bytes]:
    spec = POSTABLE["report"]
    posted = member.node.post(
        member.keys,
        [
            ("report", spec.build({"title": f"r{i}", "body": "…"}))
            for i in range(start, start + count)
        ],
    )
    return [e.id for e in posted]


def _parts(node: Node) -> list[int]:
    return [int(r[0]) for r in node.store.execute("SELECT part FROM events ORDER BY rowid")]


def test_events_land_in_their_part_and_are_found_by_id_in_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "PART_BITS", 3)  # parts of 8 events: many parts
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la, sv = members
    try:
        ids = _post(la, 5)
        for n in range(6):  # batches that begin and end inside a part
            ids += _post(la, 7, start=100 + 7 * n)
        rowids = [int(r[0]) for r in la.node.store.execute("SELECT rowid FROM events")]
        assert _parts(la.node) == [r >> 3 for r in sorted(rowids)]
        assert max(_parts(la.node)) >= 5
        for event_id in ids:  # each found, whatever its part
            found = la.node.store.get(event_id)
            assert found is not None
            assert found.id == event_id
        assert la.node.store.get(bytes(32)) is None
        # taken by another node, in one intake: found there too, by part
        sv.node.ingest([e.raw for e in la.node.store.events()])
        assert all(sv.node.store.get(i) is not None for i in ids)
        # a redaction erases the body of an event of an early part, found by id
        target = ids[2]
        la.node.post(la.keys, [(redact.KIND, redact.payload(target))])
        erased = la.node.store.get(target)
        assert erased is not None
        assert erased.body is None
        assert la.node.verify() == []
    finally:
        close_all(members)


def test_a_store_of_schema_5_is_found_by_id_after_its_first_open(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la, _ = members
    ids = _post(la, 30)
    # an event of a known kind with a payload this version cannot read: unreadable
    later = la.node.post(la.keys, [("report", {"v": 99, "title": "from a newer node"})])[0]
    before = la.node.store.count()
    state = la.node.projector.state_hash()
    close_all(members)
    db = connect(la.home.store_path, sqlcipher_key(la.home.store_key), isolation_level=None)
    try:  # the encrypted store as schema 5 left it
        unparted(db)
        db.execute("PRAGMA user_version = 5")
        assert "part" not in [r[1] for r in db.execute("PRAGMA table_info(events)").fetchall()]
    finally:
        db.close()
    with Node.open(la.home) as node:
        assert int(node.store.execute("PRAGMA user_version")[0][0]) == SCHEMA_VERSION == 6
        assert node.store.count() == before
        assert set(_parts(node)) == {0}  # no row rewritten: every event in part 0
        assert all(node.store.get(i) is not None for i in [*ids, later.id])
        assert node.store.execute("SELECT author, seq FROM unreadable") == [
            (later.author, later.seq)
        ]
        indexes = {r[1] for r in node.store.execute("PRAGMA index_list(events)")}
        assert "idx_events_part_id" in indexes
        assert "idx_events_id" not in indexes
        assert node.projector.state_hash() == state
        assert node.verify() == []
        posted = _post(Member("Los Angeles", la.home, node, la.keys), 3, start=500)
        assert all(node.store.get(i) is not None for i in posted)
