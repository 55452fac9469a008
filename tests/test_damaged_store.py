"""A damaged store (issue 14): found when a process opens it, it takes no more writes
(one clear line saying what to do), serves only what still checks, and one command
makes a new store from what still checks and from the peers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from node import daemon, sync
from node import peers as peer_list
from node.service import Node
from protocol import sync as proto
from tests.helpers import store_db
from tests.net import close_all, commune_async, make_network


def _damage(path: Path) -> None:
    """Overwrite pages in the middle of a store file, as a failing disk does."""
    with open(path, "r+b") as f:
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))


async def test_a_damaged_store_stops_writes_and_resync_makes_a_new_one(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        for i in range(60):
            la.post(f"Informe {i} " + "x" * 180)
        sv.node.ingest([e.raw for e in la.node.store.events()])
        await sv.start()
        peer_list.add_manual(la.node, sv.url)
        la.node.close()
        _damage(la.home.store_path)
        code, _, err = await commune_async(la.home.path, "post", "report", "--title", "nuevo")
        assert code != 0
        assert "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, err
        assert "damaged" in errors[0]
        assert "commune resync" in errors[0]
        # one command: a new store from what still checks and from the peer
        code, out, err = await commune_async(la.home.path, "resync")
        assert "From it:" in out
        assert code == 0, err
        assert "Kept the damaged store as" in err
        kept = [p for p in la.home.path.iterdir() if ".damaged-" in p.name]
        assert kept  # never deleted
        with Node.open(la.home) as node:
            assert node.store.damaged is None
            assert node.verify() == []
            assert node.projector.state_hash() == sv.state()
        code, _, err = await commune_async(la.home.path, "post", "report", "--title", "nuevo")
        assert code == 0, err
    finally:
        await sv.stop()
        close_all(members)


def test_a_damaged_store_serves_only_the_events_that_still_check(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        for i in range(5):
            la.post(f"Informe {i}")
        la.node.close()
        with contextlib.closing(store_db(la.home.path)) as db, db:
            row_id, raw = db.execute(
                "SELECT rowid, raw FROM events WHERE kind = 'report' ORDER BY rowid LIMIT 1"
            ).fetchone()
            db.execute("UPDATE events SET raw = ? WHERE rowid = ?", (raw[:-3] + b"!!!", row_id))
        la.node = Node.open(la.home)
        la.node.store.damaged = "as the quick check would say"
        service = sync.Sync(la.node, la.keys)
        empty = proto.Hello(la.node.network, proto.Frontier({}))
        frames = proto.FrameReader().feed(b"".join(service.outgoing(empty)))
        sent = [body for kind, body in frames if kind == proto.EVENT]
        assert len(sent) == la.node.store.count() - 1  # all but the damaged one
        result = sv.node.ingest(sent)
        assert result.refused_total == 0
    finally:
        close_all(members)


async def test_a_serve_on_a_damaged_store_keeps_serving_what_checks(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        for i in range(60):
            la.post(f"Informe {i} " + "x" * 180)
        la.node.store.damaged = "pages overwritten"
        await la.start()
        results = await daemon.sync_once(sv.node, sv.keys, [la.url])
        assert results[0][1] is not None, results[0][2]
        assert sv.node.verify() == []
    finally:
        await la.stop()
        close_all(members)
