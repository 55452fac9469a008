"""A node of a newer version keeps syncing with older ones (docs/PROTOCOL.md §5.2, §5.4):
one node writes a payload version and a kind the others do not know; all of them still
converge, relay it, and show it as unknown rather than dropping or misreading it."""

from __future__ import annotations

from pathlib import Path

from node.cipherdb import sqlite3
from node.store import SCHEMA_VERSION, Store, day_of
from protocol import encoding
from protocol.envelope import SEALED
from tests.net import close_all, link, make_network, until
from tests.web_search import unsearched


async def test_a_newer_node_writes_what_older_ones_cannot_read_and_all_still_sync(
    tmp_path: Path,
) -> None:
    la, sv, za = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Johannesburg"])
    try:
        for m in members:
            await m.start()
        link(sv, la)
        link(za, sv)  # ZA reaches LA only through SV
        # ZA runs a newer version: a report of a payload version to come and a kind "poll"
        # (nodes of version 1 reading version 2 reports: tests/test_report.py)
        newer = za.node.post(
            za.keys,
            [
                ("report", {"v": 3, "title": "Asamblea", "body": "…", "language": "es"}),
                ("poll", {"v": 1, "question": "¿Sábado o domingo?", "options": ["s", "d"]}),
            ],
        )
        la.post("an older node writes on")
        await until(lambda: len({m.state() for m in members}) == 1, what="convergence")
        for m in (la, sv):
            unknown = {u["id"]: u["reason"] for u in m.node.projector.unknown()}
            assert unknown == {
                newer[0].id.hex(): "unreadable payload",  # a report, of a version it cannot read
                newer[1].id.hex(): "unknown kind",
            }
            # relayed whole: the stored bytes are ZA's, body included
            for event in newer:
                stored = m.node.store.get(event.id)
                assert stored is not None
                assert stored.raw == event.raw
            assert m.node.verify() == []
        assert "an older node writes on" in za.titles()
        assert encoding.decode(newer[1].body or b"")["question"] == "¿Sábado o domingo?"
        assert all(e.kind != SEALED for e in newer)
    finally:
        for m in members:
            await m.stop()
        close_all(members)


def test_a_store_of_schema_1_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    """Schema 2 keeps the kind of each held event (its admissions count for trust,
    docs/PROTOCOL.md §6.3), schema 3 each author's daily budget (§4.6): a store written
    by the first version gets both from the events themselves on first open."""
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    log = list(members[0].node.store.events())
    admission = next(e for e in log if e.kind == "member.admit")
    close_all(members)
    path = tmp_path / "old.sqlite"
    with Store(path) as store, store.write():
        store.add([e for e in log if e.id != admission.id and e.seq < admission.seq])
        store.hold(admission, "gap")
    with sqlite3.connect(path) as db:  # as schema 1 wrote it: no kind, no budget, no search
        db.execute("DROP INDEX idx_held_kind")
        db.execute("DROP INDEX idx_held_reason")
        db.execute("ALTER TABLE held DROP COLUMN kind")
        db.execute("DROP TABLE budget")
        unsearched(db)
        db.execute("PRAGMA user_version = 1")
    with Store(path) as store:
        assert int(store.execute("PRAGMA user_version")[0][0]) == SCHEMA_VERSION
        assert store.held_count() == 1
        assert [e.id for e in store.held_of_kinds(["member.admit"])] == [admission.id]
        stored = [e for e in log if e.seq < admission.seq]
        assert store.spent(admission.author, day_of(stored[0].ts)) == (
            len(stored),
            sum(len(e.raw) for e in stored),
        )
