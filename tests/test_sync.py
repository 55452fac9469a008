"""Sync between real nodes on 127.0.0.1: mutual TLS pinned to the membership, frontier
exchange, streamed batches, live pokes, relay (docs/PROTOCOL.md §10)."""

from __future__ import annotations

from pathlib import Path

from tests.net import close_all, link, make_network, until


async def test_four_nodes_in_a_line_converge_and_a_new_event_crosses_at_once(
    tmp_path: Path,
) -> None:
    la, sv, india, za = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]
    )
    try:
        for m in members:
            m.post(f"report from {m.name}")
            await m.start(interval=3600.0)  # no periodic round during the test
        link(sv, la)
        link(india, sv)
        link(za, india)
        await until(lambda: len({m.state() for m in members}) == 1, what="convergence")
        assert za.titles() == {f"report from {m.name}" for m in members}
        # live: a new event crosses the whole line without waiting for a period
        la.post("urgente")
        took = await until(lambda: "urgente" in za.titles(), timeout=10, what="LA to ZA")
        za.post("from the other end")
        await until(lambda: "from the other end" in la.titles(), timeout=10, what="ZA to LA")
        await until(lambda: len({m.state() for m in members}) == 1, what="convergence")
        assert took < 10
        for m in members:
            assert m.node.verify() == []
    finally:
        for m in members:
            await m.stop()
        close_all(members)
