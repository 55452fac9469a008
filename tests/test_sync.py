"""Sync between real nodes on 127.0.0.1: mutual TLS pinned to the membership, frontier
exchange, streamed batches, live pokes, relay (docs/PROTOCOL.md §10)."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from pathlib import Path

import aiohttp
import pytest

from node import daemon, network, sync
from node import peers as peer_list
from node.home import Home
from node.service import Node
from protocol import encoding
from protocol import sync as proto
from protocol.kinds import POSTABLE
from tests.faultproxy import CLEAN, FaultProxy, Faults
from tests.helpers import forge
from tests.net import (
    close_all,
    commune_async,
    free_port,
    link,
    link_line,
    make_network,
    new_member,
    serve_process,
    until,
)
from tests.web_owner import owner_jar


async def test_four_nodes_in_a_line_converge_and_a_new_event_crosses_at_once(
    tmp_path: Path,
) -> None:
    la, _sv, india, za = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]
    )
    try:
        for m in members:
            m.post(f"report from {m.name}")
            await m.start(interval=3600.0)  # no periodic round during the test
        link_line(members)  # LA ← SV ← IN ← ZA
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
        # in sync: one request, no push, bytes in proportion to the number of authors
        service = sync.Sync(za.node, za.keys)
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, india.url)
        assert (stats.sent, stats.received) == (0, 0)
        assert stats.bytes_received < 100 * len(members)
        assert stats.bytes_sent < 100 * len(members)
    finally:
        for m in members:
            await m.stop()
        close_all(members)


async def test_a_partition_heals_with_nothing_lost(tmp_path: Path) -> None:
    la, sv, india, za = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]
    )
    try:
        for m in members:
            await m.start()
        link(sv, la)
        link(za, india)
        # two halves, each writing apart
        for i in range(5):
            for m in members:
                m.post(f"{m.name} {i}")
        await until(lambda: la.state() == sv.state() and india.state() == za.state())
        assert la.state() != za.state()
        assert "Mumbai 4" not in la.titles()
        link(india, sv)  # the link comes back
        await until(lambda: len({m.state() for m in members}) == 1, what="healing")
        expected = {f"{m.name} {i}" for m in members for i in range(5)}
        for m in members:
            assert m.titles() == expected
            assert m.node.verify() == []
    finally:
        for m in members:
            await m.stop()
        close_all(members)


async def test_a_stranger_and_a_revoked_node_are_refused_at_the_handshake(
    tmp_path: Path,
) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    stranger = new_member(tmp_path, "Stranger")
    network.found(stranger.node, stranger.keys, "Otra red")
    try:
        await la.start()
        service = sync.Sync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            assert (await sync.sync_with(service, session, la.url)).node_id == la.keys.node_id
        # a stranger with its own network cannot even complete a handshake
        outsider = sync.Sync(stranger.node, stranger.keys)
        async with sync.client_session(outsider) as session:
            with pytest.raises(sync.PeerRefused):
                await sync.sync_with(outsider, session, la.url)
        # revoked while the server runs: its next connection fails, nothing restarts
        network.revoke(la.node, la.keys, "San Salvador")
        async with sync.client_session(service) as session:
            with pytest.raises(sync.PeerRefused):
                await sync.sync_with(service, session, la.url)
        other = sync.Sync(india.node, india.keys)
        async with sync.client_session(other) as session:
            await sync.sync_with(other, session, la.url)  # members still get in
    finally:
        await la.stop()
        close_all([*members, stranger])


async def test_a_member_sending_a_forged_or_oversized_event_is_cut_off(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        await la.start()
        good = [
            sv.node.post(sv.keys, [("report", {"v": 1, "title": f"r{i}"})])[0] for i in range(3)
        ]
        forged = bytearray(
            sv.node.post(sv.keys, [("report", {"v": 1, "title": "forged later"})])[0].raw
        )
        forged[-5] ^= 1  # the body no longer matches the signed hash
        service = sync.Sync(sv.node, sv.keys)
        frames = b"".join(proto.frame(proto.EVENT, e.raw) for e in good)
        frames += proto.frame(proto.EVENT, bytes(forged))
        frames += proto.frame(proto.END, proto.End(4, 0).encode())
        async with sync.client_session(service) as session:
            async with session.post(la.url + sync.PREFIX + "/push", data=frames) as response:
                assert response.status == 400
                assert "invalid event" in await response.text()
            stored = {e.id for e in la.node.store.events() if e.author == sv.keys.node_id}
            assert stored == {e.id for e in good}  # what came before stays, not the forged one
            # backed off: the next request is refused at once
            async with session.post(la.url + sync.PREFIX + "/push", data=b"") as response:
                assert response.status == 429
        la.daemon.server.penalties.clear()  # type: ignore[union-attr]
        oversized = bytes([0xC6]) + (70_000).to_bytes(4, "big") + proto.EVENT + bytes(100)
        async with (
            sync.client_session(service) as session,
            session.post(la.url + sync.PREFIX + "/push", data=oversized) as response,
        ):
            assert response.status == 400
            assert "at most" in await response.text()
    finally:
        await la.stop()
        close_all(members)


#: what a round's connection carries before the proxy holds the rest back until the
#: sender is killed: more than two batches (protocol/sync.py, BATCH_BYTES), as the
#: receiver places a batch once the next one has come (node/intake.py), and with what
#: the sender's socket can still hold (at most 4 MiB by Linux's default) far less than
#: the stream, so that the kill cuts it
STALL_AT = 5 * 1024 * 1024


async def cut_transfers(tmp_path: Path, kills: int, blocks: int) -> None:
    """The sender is killed (SIGKILL) ``kills`` times in the middle of its stream; each
    time the receiver keeps what it had committed, and the next round goes on from there.
    The rounds go through a proxy that holds each stream back after STALL_AT bytes until
    the sender is dead: killed in the middle whatever the machine's load (otherwise a
    sender can hand the kernel's socket buffers its whole stream before the kill)."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    spec = POSTABLE["report"]
    for block in range(blocks):
        la.node.post(
            la.keys,
            [
                ("report", spec.build({"title": f"{block}-{i}", "body": "x" * 900}))
                for i in range(2000)
            ],
        )
    total = la.node.store.count()
    la_state = la.state()
    la.node.close()
    port = free_port()
    proxy = await FaultProxy(("127.0.0.1", port), random.Random(0), "la").start()
    url = proxy.url
    # An uncoded stream, as a client that lists no coding gets (these bodies would
    # shrink a hundredfold and fit in the socket buffers): a coded stream cut in the
    # middle is tests/test_coding.py's.
    service = sync.Sync(sv.node, sv.keys, codings=())
    server = serve_process(la.home.path, port)
    try:
        kept = 0
        cut = 0
        for _ in range(kills):
            proxy.set(Faults(stall_at=STALL_AT))
            async with sync.client_session(service) as session:
                transfer = asyncio.create_task(sync.sync_with(service, session, url))
                before = kept
                await until(
                    lambda before=before: sv.node.store.count() > before + 500,  # type: ignore[misc]
                    timeout=60,
                    what="a batch",
                )
                server.kill()  # in the middle of the stream
                server.wait()
                proxy.set(CLEAN)  # what the sender had handed its socket goes on
                try:
                    await transfer
                except sync.PeerRefused:
                    cut += 1
                else:
                    # What was left fitted in the socket buffers: it arrived whole.
                    assert sv.node.store.count() == total
            kept = sv.node.store.count()
            assert before < kept <= total
            assert sv.node.verify() == []
            server = serve_process(la.home.path, port)
            if kept == total:
                break
        assert cut >= 1  # at least the first transfer was cut
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, url)
        assert sv.node.store.count() == total
        assert stats.received == total - kept  # it resumed where it stopped
        assert stats.sent == 0
        assert sv.state() == la_state
    finally:
        server.kill()
        server.wait()
        await proxy.stop()
        close_all(members)


async def test_a_transfer_cut_by_a_killed_peer_keeps_what_came_and_resumes(
    tmp_path: Path,
) -> None:
    await cut_transfers(tmp_path, kills=1, blocks=6)


@pytest.mark.long
async def test_a_transfer_cut_many_times_completes(tmp_path: Path) -> None:
    await cut_transfers(tmp_path, kills=8, blocks=25)


async def test_a_node_restored_from_an_old_copy_gets_its_feed_back_and_does_not_fork(
    tmp_path: Path,
) -> None:
    la, sv = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        await la.start()
        peer_list.add_manual(sv.node, la.url)
        sv.post("uno")
        assert (await daemon.sync_once(sv.node, sv.keys))[0][1] is not None
        sv.node.close()
        old = tmp_path / "sv-backup"
        shutil.copytree(sv.home.path, old)  # a copy of the folder, taken now
        sv.node = Node.open(sv.home)
        sv.post("dos")
        sv.post("tres")
        await daemon.sync_once(sv.node, sv.keys)
        feed = [e.id for e in la.node.store.events() if e.author == sv.keys.node_id]
        sv.node.close()
        # SV's machine dies; its folder comes back from the old copy, and SV posts.
        code, out, err = await commune_async(old, "post", "report", "--title", "cuatro")
        assert code == 0, err
        assert "Asking peers" in err
        with Node.open(Home(old)) as restored:
            mine = [e for e in restored.store.events() if e.author == sv.keys.node_id]
            assert [e.id for e in mine[: len(feed)]] == feed  # its feed came back first
            assert mine[-1].id.hex() == out.strip()
            assert mine[-1].seq == len(feed) + 1
        with Node.open(Home(old)) as restored:
            await daemon.sync_once(restored, sv.keys)
        assert la.node.store.forks() == []
        assert "cuatro" in la.titles()
    finally:
        await la.stop()
        close_all([la])


async def test_serve_sync_and_peer_commands_end_to_end(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la.post("desde Los Angeles")
    for m in members:
        m.node.close()
    port = free_port()
    server = serve_process(la.home.path, port)
    try:
        url = f"https://127.0.0.1:{port}"
        code, out, err = await commune_async(sv.home.path, "peer", "add", url)
        assert code == 0, err
        code, out, err = await commune_async(sv.home.path, "show", "peers", "--json")
        assert [p["url"] for p in json.loads(out)] == [url]
        code, out, err = await commune_async(sv.home.path, "post", "report", "--title", "hola")
        assert code == 0, err
        code, out, err = await commune_async(sv.home.path, "sync")
        assert code == 0, err
        assert out.startswith(f"{url}: 1 sent, 0 received")
        code, la_hash, _ = await commune_async(la.home.path, "state-hash")
        code, sv_hash, _ = await commune_async(sv.home.path, "state-hash")
        assert la_hash == sv_hash
        code, out, err = await commune_async(sv.home.path, "sync", "--peer", "https://127.0.0.1:1")
        assert code == 1
        assert "no sync round completed with any peer" in err
        assert "https://127.0.0.1:1: failed" in out
        code, out, err = await commune_async(sv.home.path, "peer", "add", "ftp://x")
        assert code == 1
        assert "https://HOST:PORT" in err
        # serve printed its web view's address: the page shows both collectives
        async with (
            aiohttp.ClientSession(cookie_jar=owner_jar()) as web,
            web.get(server.web_address) as page,  # type: ignore[attr-defined]
        ):
            assert page.status == 200
            assert [r.status for r in page.history] == [303]  # the token traded for a cookie
            html = await page.text()
        assert "Los Angeles" in html
        assert "San Salvador" in html
    finally:
        server.kill()
        server.wait()


async def test_peers_learn_each_others_addresses_through_the_log(tmp_path: Path) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    try:
        for m in members:
            await m.start()
        network.publish_addresses(india.node, india.keys, [india.url])
        assert not network.publish_addresses(india.node, india.keys, [india.url])  # unchanged
        link(india, la)
        link(sv, la)  # SV knows only LA
        await until(lambda: india.url in {p.url for p in peer_list.known_peers(sv.node)})
        learnt = next(p for p in peer_list.known_peers(sv.node) if p.url == india.url)
        assert (learnt.node_id, learnt.source) == (india.keys.node_id, "log")
        await until(lambda: any(s.last for u, s in sv.daemon.peers.items() if u == india.url))  # type: ignore[union-attr]
    finally:
        for m in members:
            await m.stop()
        close_all(members)


async def test_both_ends_learn_of_a_fork_whichever_holds_more_of_the_feed(
    tmp_path: Path,
) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    try:
        mine = [india.node.post(india.keys, [("report", {"v": 1, "title": t})])[0] for t in "abc"]
        other = forge(
            india.keys.signing,
            network=la.node.network,
            seq=2,
            prev=mine[0].id,
            ts=mine[0].ts + 7,
            body=encoding.encode({"v": 1, "title": "b'"}),
        )
        la.node.ingest([e.raw for e in mine])  # LA holds a, b, c
        sv.node.ingest([mine[0].raw, other])  # SV holds a, b'
        await sv.start()
        service = sync.Sync(la.node, la.keys)
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, sv.url)
        assert stats.forks == 1  # SV's b' came back to LA
        for m in (la, sv):
            member = m.node.membership().get(india.keys.node_id)  # type: ignore[union-attr]
            assert member is not None
            assert member.forked_at == 2
        assert la.state() == sv.state()
    finally:
        await sv.stop()
        close_all(members)
