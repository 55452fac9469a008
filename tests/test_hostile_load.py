"""Under hostile load the node keeps serving its members (issue 14; docs/RELIABILITY.md):
strangers' idle, trickling and certificate-less connections cost the server little and
are closed by its deadlines; a member pulling in a loop is told to wait (429 with
Retry-After) while another member's rounds go on; a member trickling its headers is cut
off. ``serve`` runs in its own process; its memory is read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from pathlib import Path

import pytest

from crypto import tls
from node import daemon, sync
from node import peers as peer_list
from protocol import sync as proto
from tests.net import Member, close_all, free_port, make_network, serve_process, until
from tests.web_owner import owner_session

SETTINGS = """
[limits]
connections_per_address = 16
handshake_timeout = 3
header_timeout = 3
idle_timeout = 30
"""


#: the strangers' address (Linux routes all of 127.0.0.0/8 to the loopback): members
#: come from 127.0.0.1, as they would from addresses of their own
STRANGER = "127.0.0.2"


def _rss(pid: int) -> int:
    """The process's resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """What the server sends before it closes the connection (b"" when it said nothing,
    or reset it)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=10)
    except (OSError, ssl.SSLError):
        return b""


async def _round(m: Member, url: str) -> float:
    service = sync.Sync(m.node, m.keys)
    async with sync.client_session(service) as session:
        began = time.monotonic()
        await sync.sync_with(service, session, url)
        return time.monotonic() - began


async def _stranger(port: int, kind: str, closed: list[str], name: str) -> None:
    """One stranger's connection: idle, trickling a ClientHello, a TLS connection without
    a certificate trickling its headers (``tls``: it names the network, as whoever holds
    an invite can), or one that does not name it (``unnamed``: its ClientHello refused
    with one TLS alert). Notes when the server closes it."""
    try:
        if kind in ("tls", "unnamed"):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=context,
                local_addr=(STRANGER, 0),
                server_hostname=name if kind == "tls" else None,
            )
        else:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(STRANGER, 0)
            )
    except (OSError, ssl.SSLError):
        closed.append(kind)  # refused at once: the cheapest for the server
        return
    try:
        trickle = {
            "idle": b"",
            "hello": b"\x16\x03\x01\x02\x00",
            "tls": b"POST /commune/v1/sync",
            "unnamed": b"POST /commune/v1/sync",
        }
        for byte in trickle[kind]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.5)
        await asyncio.wait_for(reader.read(), timeout=60)  # until the server closes it
        closed.append(kind)
    except (OSError, ssl.SSLError, TimeoutError):
        closed.append(kind)
    finally:
        writer.close()


async def _campaign(tmp_path: Path, strangers: int) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    name = tls.server_name(la.node.network)  # the network's TLS server name (§10.1)
    for m in members:
        m.post(f"from {m.name}")
        m.node.close()
    (la.home.path / "node.toml").write_text(SETTINGS)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = serve_process(la.home.path, port)
    try:
        for m in (sv, india):
            m.node = type(m.node).open(m.home)
            peer_list.add_manual(m.node, url)
        await _round(sv, url)
        unloaded = min([await _round(sv, url) for _ in range(3)])
        before = _rss(server.pid)
        closed: list[str] = []
        kinds = ["idle", "hello", "tls", "unnamed"]
        flood = [
            asyncio.create_task(_stranger(port, kinds[i % 4], closed, name))
            for i in range(strangers)
        ]
        await asyncio.sleep(1.0)  # the flood is on
        loaded = [await _round(sv, url) for _ in range(3)]  # a member's rounds go on
        grown = _rss(server.pid) - before
        assert grown < 50 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"
        await until(lambda: len(closed) == strangers, timeout=60, what="every stranger closed")
        await asyncio.gather(*flood)
        assert _open_files(server.pid) < 100  # nothing left open
        print(
            f"{strangers} strangers: server grew {grown / 2**20:.1f} MiB; a member's "
            f"round {unloaded * 1000:.0f} ms unloaded, {min(loaded) * 1000:.0f} ms loaded"
        )
        assert (await daemon.sync_once(india.node, india.keys, [url]))[0][1] is not None
    finally:
        server.terminate()
        server.wait(10)
        close_all(members)


async def test_strangers_flooding_a_node_cost_it_little_and_are_closed(tmp_path: Path) -> None:
    await _campaign(tmp_path, strangers=300)


@pytest.mark.long
async def test_two_thousand_strangers_cost_a_node_under_fifty_mib(tmp_path: Path) -> None:
    await _campaign(tmp_path, strangers=2000)


async def test_a_member_pulling_in_a_loop_is_told_to_wait_and_others_go_on(
    tmp_path: Path,
) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    try:
        await la.start()
        hello = proto.frame(proto.HELLO, sync.Sync(sv.node, sv.keys).hello().encode())
        service = sync.Sync(sv.node, sv.keys)
        statuses: list[int] = []
        waits: list[str] = []
        async with sync.client_session(service) as session:

            async def pull() -> None:
                async with session.post(f"{la.url}{sync.PREFIX}/sync", data=hello) as answer:
                    await answer.read()
                    statuses.append(answer.status)
                    if answer.status == 429:
                        waits.append(answer.headers["Retry-After"])

            for _ in range(sync.PULL_BURST + 10):
                await pull()
        assert 429 in statuses
        assert statuses[: sync.PULL_BURST].count(200) == sync.PULL_BURST
        assert all(int(w) >= 1 for w in waits)
        # another member's rounds go on, unslowed by SV's bucket
        assert (await daemon.sync_once(india.node, india.keys, [la.url]))[0][1] is not None
        # and SV's own client waits its turn rather than failing (Retry-After honoured)
        began = time.monotonic()
        results = await daemon.sync_once(sv.node, sv.keys, [la.url])
        assert results[0][1] is not None, results[0][2]
        assert time.monotonic() - began >= 0.5
    finally:
        await la.stop()
        close_all(members)


async def test_a_member_trickling_its_headers_is_cut_off(tmp_path: Path) -> None:
    from node import gate  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        la.daemon = daemon.Daemon(
            la.node,
            la.keys,
            host="127.0.0.1",
            port=0,
            interval=3600.0,
            gate=gate.Limits(header_timeout=2.0, idle_timeout=4.0),
        )
        await la.daemon.start()
        service = sync.Sync(sv.node, sv.keys)
        context = service.context(server=False)
        port = int(la.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        began = time.monotonic()
        with contextlib.suppress(OSError, ssl.SSLError):
            for byte in b"POST /commune/v1/sync HTTP/1.1\r\nHost: x\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.25)
        data = await _answer(reader)
        took = time.monotonic() - began
        writer.close()
        assert data == b""  # closed, not answered
        assert took < 6.0, took
        # an idle member's connection is closed after the idle deadline
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        began = time.monotonic()
        assert await _answer(reader) == b""
        assert 3.0 <= time.monotonic() - began < 8.0
        writer.close()
    finally:
        await la.stop()
        close_all(members)


async def test_the_web_view_closes_a_slow_or_idle_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node import gate  # noqa: PLC0415
    from node.web import app as web_app  # noqa: PLC0415
    from node.web import start_web  # noqa: PLC0415

    monkeypatch.setattr(web_app, "WEB_LIMITS", gate.Limits(header_timeout=2.0, idle_timeout=3.0))
    (la,) = members = make_network(tmp_path, ["Los Angeles"])
    runner, port = await start_web(la.node, la.keys, host="127.0.0.1", port=0)
    try:
        # a page is served as before (to its owner, let in with the address's token)
        web, _ = await owner_session(la.home.path)
        async with web, web.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200
        # headers trickled a byte at a time: closed, unanswered, within the deadline
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()
        with contextlib.suppress(OSError):
            for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.25)
        assert await _answer(reader) == b""
        assert time.monotonic() - began < 6.0
        writer.close()
        # a connection that says nothing is closed after the idle deadline
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()
        assert await _answer(reader) == b""
        assert 2.0 <= time.monotonic() - began < 7.0
        writer.close()
    finally:
        await runner.cleanup()
        close_all(members)
