"""The log's rules against a member that lies (issue 13): a clock set ahead does not win
over a causally later edit (docs/PROTOCOL.md §5.3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from node.service import Node
from protocol.kinds import POSTABLE
from tests.net import close_all, commune_async, make_network

YEAR = 365 * 24 * 3600.0


async def test_an_edit_dated_a_year_ahead_loses_to_an_edit_made_after_it(
    tmp_path: Path,
) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    try:
        plan = la.node.post(la.keys, [("plan", POSTABLE["plan"].build({"title": "Carta"}))])[0]
        for m in (sv, india):
            m.node.ingest([e.raw for e in la.node.store.events()])
        # SV's clock is set a year ahead: its edit is dated then
        ahead = Node(sv.home, sv.node.store, clock=lambda: time.time() + YEAR)
        future = ahead.post(
            sv.keys, [("plan.update", {"v": 1, "of": plan.id, "status": "dropped"})]
        )[0]
        la.node.ingest([future.raw])
        assert la.node.projector.rows("plan")[0]["status"] == "dropped"
        la.node.close()
        # LA, having seen it, sets the status from the command line: its edit wins
        code, _, err = await commune_async(
            la.home.path, "post", "plan", "--edit", plan.id.hex(), "--status", "done"
        )
        assert code == 0, err
        la.node = Node.open(la.home)
        (mine,) = [
            e
            for e in la.node.store.events()
            if e.kind == "plan.update" and e.author == la.keys.node_id
        ]
        assert mine.ts < future.ts  # LA's clock was not dragged a year ahead
        # on every node, whatever order the two edits come in
        india.node.ingest([mine.raw])
        india.node.ingest([future.raw])
        sv.node.ingest([mine.raw])
        for m in (la, sv, india):
            assert m.node.projector.rows("plan")[0]["status"] == "done"
        assert la.state() == sv.state() == india.state()
        code, out, _ = await commune_async(la.home.path, "show", "plans", "--json")
        assert json.loads(out)[0]["status"] == "done"
    finally:
        close_all(members)
