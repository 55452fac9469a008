"""Dialling peers through a SOCKS5 proxy (node/dial.py): Debian's microsocks as a real
proxy, and a small SOCKS5 server standing in for Tor, which takes .onion names to a
local node, to check that onion names reach the proxy unresolved."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import daemon
from node import peers as peer_list
from node.daemon import Daemon
from node.dial import NEEDS_PROXY
from tests.helpers import ROOT
from tests.net import close_all, commune_async, free_port, make_network, serve_process, until

MICROSOCKS = shutil.which("microsocks")
needs_microsocks = pytest.mark.skipif(
    MICROSOCKS is None,
    reason="Debian's microsocks is not installed (python3 run.py test installs it; "
    "or apt-get install microsocks)",
)
ONION_HOST = "commune" + "a" * 49 + ".onion"  # the shape of a v3 onion address (56 chars)


class Microsocks:
    """``microsocks`` on a free port of 127.0.0.1; ``log`` says what it connected to."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"socks5://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "microsocks.log"
        log = self.log_path.open("w")
        assert MICROSOCKS is not None
        self.proc = subprocess.Popen(
            [MICROSOCKS, "-i", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            assert self.proc.poll() is None, "microsocks exited"
            assert time.monotonic() < deadline, "microsocks does not listen"
            time.sleep(0.05)

    def connections(self, to: str) -> int:
        """How many connections it made to ``to`` (HOST:PORT, as the client named it)."""
        return sum(
            line.rstrip().endswith(f"connected to {to}")
            for line in self.log_path.read_text().splitlines()
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def microsocks(tmp_path: Path) -> Iterator[Microsocks]:
    if MICROSOCKS is None:
        pytest.skip("microsocks is not installed")
    proxy = Microsocks(tmp_path)
    yield proxy
    proxy.stop()


class FakeTor:
    """A SOCKS5 server (no authentication, CONNECT only) that sends every ``.onion``
    name to one local port, as Tor sends it to the onion service; ``asked`` holds each
    request's (address type, host, port): type 3 is a name the proxy resolves."""

    def __init__(self, onion_to: int) -> None:
        self.onion_to = onion_to
        self.asked: list[tuple[int, str, int]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"socks5://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")
            _, command, _, kind = await reader.readexactly(4)
            if kind == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            elif kind == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            else:
                host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.asked.append((kind, host, port))
            if command != 1 or not host.endswith(".onion"):
                writer.write(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.onion_to)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write_eof()


@needs_microsocks
async def test_every_peer_through_microsocks_with_proxy_all(
    tmp_path: Path, microsocks: Microsocks
) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        la.post("por el proxy")
        # a name, not an address, that the proxy resolves (remote DNS): LA listens on
        # every address of localhost, whichever the proxy picks
        la.daemon = Daemon(la.node, la.keys, host="localhost", port=0)
        await la.daemon.start()
        url = f"https://localhost:{la.daemon.port}"
        [(_, stats, error)] = await daemon.sync_once(
            sv.node, sv.keys, [url], proxy=microsocks.url, proxy_all=True
        )
        assert stats is not None, error
        assert (stats.received, stats.node_id) == (1, la.keys.node_id)
        assert "por el proxy" in sv.titles()
        assert microsocks.connections(f"localhost:{la.daemon.port}") == 1
        # without proxy_all, an ordinary peer is dialled directly: the proxy sees nothing
        sv.post("directo")
        [(_, stats, error)] = await daemon.sync_once(
            sv.node, sv.keys, [url], proxy=microsocks.url, proxy_all=False
        )
        assert stats is not None, error
        assert stats.sent == 1
        assert microsocks.connections(f"localhost:{la.daemon.port}") == 1
        assert la.state() == sv.state()
    finally:
        await la.stop()
        close_all(members)


@needs_microsocks
async def test_a_served_node_syncs_through_microsocks(
    tmp_path: Path, microsocks: Microsocks
) -> None:
    """The scheduler and the live channel of `commune serve` go through the proxy too."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la.post("desde Los Angeles")
    close_all(members)
    la_port = free_port()
    la_proc = serve_process(la.home.path, la_port)
    settings = tmp_path / "sv.toml"
    settings.write_text(
        f"""
[sync]
listen = "127.0.0.1:{free_port()}"
interval = 3600

[web]
enabled = false

[peers]
urls = ["https://127.0.0.1:{la_port}"]

[network]
proxy = "{microsocks.url}"
proxy_all = true
"""
    )
    sv_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "--home",
            str(sv.home.path),
            "serve",
            "--config",
            str(settings),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sv_proc.stdout is not None
        assert sv_proc.stdout.readline().startswith("Serving on 127.0.0.1:")

        async def same() -> bool:
            la_hash = (await commune_async(la.home.path, "state-hash"))[1]
            return la_hash == (await commune_async(sv.home.path, "state-hash"))[1]

        for _ in range(200):
            if await same():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("SV did not sync with LA through the proxy")
        # the round and the live channel: two connections through the proxy
        await until(lambda: microsocks.connections(f"127.0.0.1:{la_port}") >= 2, 10)
    finally:
        sv_proc.terminate()
        _, err = sv_proc.communicate(timeout=30)
        la_proc.terminate()
        la_proc.wait(30)
    assert "Dialling every peer through the SOCKS5 proxy at 127.0.0.1:" in err


async def test_an_onion_peer_goes_through_the_proxy_with_its_name_unresolved(
    tmp_path: Path,
) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    tor = None
    try:
        la.post("por Tor")
        await la.start()
        assert la.daemon is not None
        tor = FakeTor(onion_to=la.daemon.port)
        proxy = await tor.start()
        url = f"https://{ONION_HOST}:8470"
        [(_, stats, error)] = await daemon.sync_once(sv.node, sv.keys, [url], proxy=proxy)
        assert stats is not None, error
        assert stats.node_id == la.keys.node_id  # mutual TLS, end to end inside the proxy
        assert "por Tor" in sv.titles()
        assert tor.asked == [(3, ONION_HOST, 8470)]  # a name: Tor resolves it, not us
        # a daemon's rounds and live channel go the same way
        sv.post("de vuelta")
        sv.daemon = Daemon(sv.node, sv.keys, host="127.0.0.1", port=0, proxy=proxy)
        await sv.daemon.start()
        peer_list.add_manual(sv.node, url)
        sv.daemon.refresh_peers()
        await until(lambda: "de vuelta" in la.titles(), 20, "SV's post reaching LA over Tor")
        assert {host for _, host, _ in tor.asked} == {ONION_HOST}
    finally:
        await sv.stop()
        await la.stop()
        if tor is not None:
            await tor.stop()
        close_all(members)


async def test_an_onion_peer_without_a_proxy_is_refused_before_any_dns_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    sv = members[1]
    try:
        [(_, stats, error)] = await daemon.sync_once(
            sv.node, sv.keys, [f"https://{ONION_HOST}:8470"]
        )
        assert stats is None
        assert error is not None
        assert NEEDS_PROXY in error.detail
        assert error.cause == "needs-proxy"
        assert not any(h.endswith(".onion") for h in asked)
    finally:
        close_all(members)


@needs_microsocks
async def test_a_proxy_that_cannot_reach_the_peer_is_a_clear_failure(
    tmp_path: Path, microsocks: Microsocks
) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    sv = members[1]
    try:
        [(url, stats, error)] = await daemon.sync_once(
            sv.node,
            sv.keys,
            [f"https://127.0.0.1:{free_port()}"],
            proxy=microsocks.url,
            proxy_all=True,
        )
        assert stats is None
        assert error is not None
        assert error.cause == "proxy"
        assert error.detail == (
            f"cannot sync with {url}: ProxyFailed: through the SOCKS5 proxy at "
            f"127.0.0.1:{microsocks.port}: Connection refused by destination host"
        )
        # and a proxy that does not run
        nowhere = free_port()
        [(url, stats, error)] = await daemon.sync_once(
            sv.node, sv.keys, [url], proxy=f"socks5://127.0.0.1:{nowhere}", proxy_all=True
        )
        assert stats is None
        assert error is not None
        assert error.cause == "proxy"
        assert error.detail.startswith(
            f"cannot sync with {url}: ProxyFailed: through the SOCKS5 proxy at "
            f"127.0.0.1:{nowhere}: "
        ), error
    finally:
        close_all(members)
