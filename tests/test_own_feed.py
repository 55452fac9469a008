"""A node never forks its own feed, and no peer's word alone stops it writing (issue 12,
points 3 and 5; docs/PROTOCOL.md §10.5): the guard is raised by evidence only (its own
signed events held here above a gap, a store behind what the node recorded writing, a
store that may be older and is not confirmed yet), cleared by what the log shows, and
explained by ``doctor``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from node import daemon, network, sync
from node import peers as peer_list
from node.errors import FeedBehind
from node.service import Node
from protocol import sync as proto
from protocol.frontier import Frontier
from tests.net import close_all, commune_async, free_port, make_network, serve_process


class LyingSync(sync.Sync):
    """A member whose hello claims far more of every other node's feed than it holds."""

    def hello(self) -> proto.Hello:
        real = super().hello()
        inflated = {a: (seq + 1_000_000, head) for a, (seq, head) in real.frontier.heads.items()}
        return proto.Hello(real.network, Frontier(inflated), real.forks)


async def test_a_member_that_claims_an_admins_feed_cannot_stop_it_writing(
    tmp_path: Path,
) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    liar = sync.Server(LyingSync(sv.node, sv.keys))
    runner, listener = await sync.start_server(liar, "127.0.0.1", 0)
    liar_url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    await la.start()
    try:
        la.post("antes")
        # LA pulls from the liar: the claim is not met by events, so the liar is refused
        results = await daemon.sync_once(la.node, la.keys, [liar_url])
        assert results[0][1] is None
        failure = results[0][2]
        assert failure is not None
        assert failure.cause == "protocol"
        assert "holds this node's own feed up to seq" in failure.detail
        # the liar calls LA and claims LA's feed in its hello: nothing changes on LA
        service = LyingSync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            await sync.sync_with(service, session, la.url)
        assert la.node.feed_problem() is None
        # so LA still posts, admits and revokes: the liar cannot stop its revocation
        la.post("después")
        network.revoke(la.node, la.keys, "San Salvador")
        assert la.node.membership().members[sv.keys.node_id].state == "revoked"  # type: ignore[union-attr]
        # and an honest member's round with LA confirms nothing odd either
        assert (await daemon.sync_once(india.node, india.keys, [la.url]))[0][1] is not None
    finally:
        await la.stop()
        await sync.stop_server(runner, listener)
        close_all(members)


def test_own_events_held_above_a_gap_block_writing_until_the_gap_fills(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        for i in range(3):
            la.post(f"r{i}")
        feed = [e for e in la.node.store.events() if e.author == la.keys.node_id]
        assert len(feed) >= 5
        la.node.close()
        # LA's folder with a fresh store (as after losing it): its own events come back
        # from a peer, but one in the middle is missing.
        la.home.store_path.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{la.home.store_path}{suffix}").unlink(missing_ok=True)
        la.node = Node.open(la.home)
        with la.node.store.write():  # it knows its network, as after a restore
            for key in ("network", "genesis"):
                value = sv.node.store.get_meta(key)
                assert value is not None
                la.node.store.set_meta(key, value)
        la.node.ingest([e.raw for e in sv.node.store.events() if e.author != la.keys.node_id])
        result = la.node.ingest([feed[0].raw, feed[1].raw, feed[3].raw, feed[4].raw])
        assert result.held == 2
        problem = la.node.feed_problem()
        assert problem is not None
        assert problem.code in ("behind", "held")
        with pytest.raises(FeedBehind):
            la.post("would fork")
        la.node.ingest([e.raw for e in feed[2:]])
        # the log shows the whole feed now: the store is caught up and writing goes on
        assert la.node.feed_problem() is None
        la.post("sigue")
        assert la.node.verify() == []
    finally:
        close_all(members)


def _put_back(old: Path, current: Path) -> None:
    """Copy an older store file over the current one, keeping the current file's inode
    (as ``cp old store.sqlite`` does)."""
    with old.open("rb") as src, current.open("r+b") as dst:
        dst.truncate(0)
        shutil.copyfileobj(src, dst)
    for suffix in ("-wal", "-shm"):
        Path(f"{current}{suffix}").unlink(missing_ok=True)


async def test_an_older_store_copied_back_in_place_does_not_fork_the_feed(
    tmp_path: Path,
) -> None:
    la, sv = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la.post("uno")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    peer_list.add_manual(la.node, url)
    la.node.close()
    sv.node.close()
    old = tmp_path / "old-store.sqlite"
    shutil.copyfile(la.home.store_path, old)  # a copy of the store alone, taken now
    server = serve_process(sv.home.path, port)
    try:
        with Node.open(la.home) as node:
            node.post(la.keys, [("report", {"v": 1, "title": "dos", "body": "…"})])
            assert (await daemon.sync_once(node, la.keys))[0][1] is not None
            inode = os.stat(la.home.store_path).st_ino
        _put_back(old, la.home.store_path)
        assert os.stat(la.home.store_path).st_ino == inode  # the same file, older content
        with Node.open(la.home) as node:
            problem = node.feed_problem()
            assert problem is not None
            assert problem.code == "behind"
        # post asks the peer first, gets its own "dos" back, then writes after it
        code, _, err = await commune_async(la.home.path, "post", "report", "--title", "tres")
        assert code == 0, err
        assert "Asking peers" in err
        with Node.open(la.home) as node:
            mine = [e for e in node.store.events() if e.author == la.keys.node_id]
            assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
            titles = {r["title"] for r in node.projector.rows("report")}
            assert {"uno", "dos", "tres"} <= titles
            assert (await daemon.sync_once(node, la.keys))[0][1] is not None
        with Node.open(sv.home) as node:
            assert node.store.forks() == []  # no fork anywhere
    finally:
        server.terminate()
        server.wait(10)


async def test_a_store_put_back_with_no_peer_reachable_refuses_to_write_until_told(
    tmp_path: Path,
) -> None:
    (la,) = make_network(tmp_path, ["Los Angeles"])
    la.post("uno")
    la.node.close()
    old = tmp_path / "old-store.sqlite"
    shutil.copyfile(la.home.store_path, old)
    with Node.open(la.home) as node:
        node.post(la.keys, [("report", {"v": 1, "title": "perdido", "body": "…"})])
        peer_list.add_manual(node, f"https://127.0.0.1:{free_port()}")  # nobody there
    _put_back(old, la.home.store_path)
    code, _, err = await commune_async(la.home.path, "post", "report", "--title", "dos")
    assert code != 0
    assert "older copy of the store" in err
    assert "Traceback" not in err
    code, out, err = await commune_async(la.home.path, "status", "--json")
    assert code == 0, err
    assert "older copy" in json.loads(out)["writes_blocked"]
    # doctor says why writing is blocked, and what to do
    code, out, _ = await commune_async(la.home.path, "doctor", "--timeout", "2")
    assert code != 0, out
    assert "writing is blocked" in out
    assert "--accept-loss" in out
    # the user says those events never left this machine: writing goes on from the store
    code, _, err = await commune_async(la.home.path, "sync", "--accept-loss")
    assert code == 0, err
    assert "writes from its store's head" in err
    code, out, err = await commune_async(la.home.path, "post", "report", "--title", "dos")
    assert code == 0, err
    with la.home.open_store() as store:
        assert store.count() > 0
