"""Who can reach a node, and what a stranger learns (issue 19, docs/PROTOCOL.md §10.1):
``serve`` listens on this machine only unless --listen or --advertise says otherwise,
and shows its certificate (whose key and name are the node id) only to a client that
names the network in its TLS server name; anyone else's handshake ends with the alert
``unrecognized_name`` before the server has sent anything of its own handshake."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto import tls
from crypto.errors import BadCertificate
from node import peers as peer_list
from node import sync
from tests.helpers import ROOT, commune
from tests.net import (
    Member,
    close_all,
    commune_async,
    free_port,
    make_network,
    serve_process,
)

#: all a server sends to a client that does not name the network: one TLS alert record
#: (type 21, version 3.3, length 2), fatal (2), unrecognized_name (112)
ALERT_UNRECOGNIZED_NAME = bytes.fromhex("15030300020270")
#: serve's options in these tests but --listen and --advertise
SERVE = ("--interval", "3600", "--web", "127.0.0.1:0")


def _outside_address() -> str | None:
    """An IPv4 address of this machine other than loopback (None: it has none)."""
    for probe in ("198.51.100.1", "192.0.2.1", "10.255.255.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))  # sends nothing: picks the source address of a route
            except OSError:
                continue
            address = str(s.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    """``commune serve`` with these options (no --listen unless given), in its own
    process; its first line of output is read."""
    return subprocess.Popen(
        [sys.executable, "-m", "node", "--home", str(home), "serve", *SERVE, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then what it wrote on stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def _first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline()


def _refused(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port is refused (nothing listens there)."""
    try:
        with socket.create_connection((host, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def _handshake(host: str, port: int, name: str | None) -> bytes:
    """A scanner's TLS 1.3 handshake that checks nothing and shows no certificate, with
    ``name`` as its server name (None: none, as a client dialling an IP address): the
    DER of the certificate the server showed; ssl.SSLError or ConnectionError when the
    handshake failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as secured,
    ):
        der = secured.getpeercert(binary_form=True)
        assert der is not None
        return der


def _client_hello(name: str | None) -> bytes:
    """A TLS 1.3 ClientHello naming ``name`` (None: no server name), as bytes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with contextlib.suppress(ssl.SSLWantReadError):
        hello.do_handshake()
    return outgoing.read()


def _captured(host: str, port: int, name: str | None, *, to_the_end: bool = False) -> bytes:
    """What the server sends in answer to a ClientHello naming ``name`` (None: no server
    name): the handshake as captured, up to a whole alert or the start of a ServerHello;
    ``to_the_end``: until the server closes the connection (the client never does)."""
    received = b""
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(_client_hello(name))
        while chunk := raw.recv(65536):
            received += chunk
            if to_the_end:
                continue
            if received[:1] == b"\x16" and len(received) >= 6:  # a ServerHello: enough
                break
            if received[:1] == b"\x15" and len(received) >= 7:  # an alert, whole: the end
                break
    return received


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    """Los Angeles and El Salvador, members of one network, each with a report; their
    stores closed, for `commune` processes to use."""
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    for m in members:
        m.post(f"desde {m.name}")
        m.extra["network"] = m.node.network
        m.node.close()
    return members


def test_serve_listens_on_this_machine_only_by_default(pair: list[Member]) -> None:
    la, _ = pair
    proc = _serve(la.home.path)
    try:
        line = _first_line(proc)
        if not line:  # the default port is another process's on this machine
            err = _stop(proc)
            assert "cannot listen on 127.0.0.1:8470" in err, err
            return
        assert line.startswith(
            "Serving on 127.0.0.1:8470 (this machine only; --listen HOST:PORT or "
            "--advertise URL to be reached); syncing every 3600 s."
        ), line
        status = commune(la.home.path, "status")
        assert "sync server on 127.0.0.1:8470" in status.stdout, status.stdout
        outside = _outside_address()
        if outside is not None:  # another machine would dial this address: nothing there
            assert _refused(outside, 8470)
        assert not _refused("127.0.0.1", 8470)
    finally:
        _stop(proc)


def test_an_advertised_address_opens_every_interface_at_its_port(pair: list[Member]) -> None:
    la, _ = pair
    port = free_port()
    outside = _outside_address() or "192.0.2.7"
    advertised = f"https://{outside}:{port}"
    proc = _serve(la.home.path, "--advertise", advertised)
    try:
        line = _first_line(proc)
        assert line.startswith(
            f"Serving on 0.0.0.0:{port} (every interface, at the port of {advertised}; "
            "--listen HOST:PORT to choose); syncing every 3600 s."
        ), line + _stop(proc)
        status = commune(la.home.path, "status")
        assert f"sync server on 0.0.0.0:{port}" in status.stdout, status.stdout
        if _outside_address() is not None:  # reached from another machine, members only
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                _handshake(outside, port, None)
            der = _handshake(outside, port, tls.server_name(la.extra["network"]))  # type: ignore[arg-type]
            assert tls.node_id_of(der) == la.keys.node_id
    finally:
        _stop(proc)


def test_a_stranger_gets_no_certificate_and_no_node_id(pair: list[Member]) -> None:
    la, _ = pair
    port = free_port()
    (la.home.path / "node.toml").write_text("[limits]\nhandshake_timeout = 2\n")
    server = serve_process(la.home.path, port)
    right = tls.server_name(la.extra["network"])  # type: ignore[arg-type]
    other = tls.server_name(bytes(31) + b"\x01")  # another network's name
    try:
        for name in (None, "localhost", "127.0.0.1", "commune.invalid", other, right.upper()):
            # a client of any kind: one alert and nothing of the server's handshake (no
            # ServerHello, so certainly no certificate), whatever it sends
            assert _captured("127.0.0.1", port, name) == ALERT_UNRECOGNIZED_NAME, name
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                _handshake("127.0.0.1", port, name)
        # a scanner that reads the alert and stays is closed at the handshake deadline
        began = time.monotonic()
        assert _captured("127.0.0.1", port, None, to_the_end=True) == ALERT_UNRECOGNIZED_NAME
        assert time.monotonic() - began < 2 + 3
        # the same scanner that names the network sees the certificate, and in it the
        # node id: what the name keeps from everyone else
        der = _handshake("127.0.0.1", port, right)
        assert tls.node_id_of(der) == la.keys.node_id
        assert la.keys.node_id.hex().encode() in der  # its common name
        assert _captured("127.0.0.1", port, right)[:1] == b"\x16"  # a ServerHello
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


async def test_members_sync_through_serve_by_address_or_host_name(pair: list[Member]) -> None:
    la, sv = pair
    port = free_port()
    server = serve_process(la.home.path, port)
    try:
        # the name of the URL is not what is sent: by IP address or by host name alike
        for url in (f"https://127.0.0.1:{port}", f"https://localhost:{port}"):
            code, out, err = await commune_async(sv.home.path, "sync", "--peer", url)
            assert code == 0, err
            assert f"\n{url}: " in f"\n{out}", out
        code, la_hash, _ = await commune_async(la.home.path, "state-hash")
        code, sv_hash, _ = await commune_async(sv.home.path, "state-hash")
        assert la_hash == sv_hash
        code, out, _ = await commune_async(sv.home.path, "show", "reports")
        assert "desde Los Angeles" in out
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)


class _Older(sync.Sync):
    """This node as a version before the server name ran it: its server shows its
    certificate to any client, and its client sends no server name (it dials an IP
    address; with a host name, it sends that name, which is refused the same)."""

    def context(self, server: bool) -> ssl.SSLContext:
        ctx = super().context(server)
        if server:
            ctx.sni_callback = None
        else:
            ctx.server_name = None  # type: ignore[attr-defined]
        return ctx


async def test_a_newer_node_dials_an_older_one_and_not_the_other_way(tmp_path: Path) -> None:
    """The one direction that cannot hold without showing the certificate to anyone:
    an older client is refused by a newer server. A newer client still syncs with an
    older server, both ways in one round (pull and push), so a mixed network converges
    when the newer node dials (CHANGELOG, docs/PROTOCOL.md §10.1)."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la.post("desde Los Angeles")
    sv.post("desde El Salvador")
    old = _Older(sv.node, sv.keys)
    older_server = sync.Server(old)
    runner, listener = await sync.start_server(older_server, "127.0.0.1", 0)
    old_url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        await la.start()
        async with sync.client_session(old) as session:
            with pytest.raises(sync.PeerRefused, match="UNRECOGNIZED_NAME"):
                await sync.sync_with(old, session, la.url)
        assert la.titles() == {"desde Los Angeles"}
        assert la.daemon is not None
        async with sync.client_session(la.daemon.sync) as session:
            stats = await sync.sync_with(la.daemon.sync, session, old_url)
        assert (stats.sent, stats.received, stats.node_id) == (1, 1, sv.keys.node_id)
        assert la.titles() == sv.titles() == {"desde Los Angeles", "desde El Salvador"}
        assert la.state() == sv.state()
        assert peer_list.trusted_ids(la.node) >= {sv.keys.node_id}
    finally:
        await la.stop()
        await sync.stop_server(runner, listener)
        close_all(members)


def test_the_server_name_is_the_networks_and_reveals_nothing_else() -> None:
    """32 hex digits of HKDF-SHA256 over the network id, under the reserved .invalid:
    the same on every node of a network, another for another network, and a valid
    host name that no resolver answers for."""
    red, other = bytes(range(32)), bytes(range(1, 33))
    name = tls.server_name(red)
    assert name == tls.server_name(red) != tls.server_name(other)
    label, dot, suffix = name.partition(".")
    assert (len(label), dot + suffix) == (32, ".invalid")
    assert int(label, 16) >= 0
    assert red.hex()[:8] not in name
    with pytest.raises(BadCertificate):
        tls.server_name(b"short")
    # the specification's context string and worked example are these
    spec = (ROOT / "docs" / "PROTOCOL.md").read_text()
    contexts = spec.split("## §1 ", 1)[1].split("## §2 ", 1)[0]
    assert "| `TLS_SERVER_NAME` | `commune/v1/tls-server-name\\0` | 27 |" in contexts
    assert f"TLS_SERVER_NAME {tls.TLS_SERVER_NAME.hex()}" in contexts
    assert len(tls.TLS_SERVER_NAME) == 27
    assert f"`{name}`" in spec.split("### §10.1 ", 1)[1].split("### §10.2 ", 1)[0]


def test_the_server_context_answers_a_wrong_name_with_the_alert_and_nothing_else() -> None:
    """node/transport.py's server context on its own, under the standard ``ssl`` module's
    sockets (``serve`` runs it under asyncio's memory buffers): a ClientHello with no
    name or another name gets exactly one alert, unrecognized_name; the network's name,
    a ServerHello."""
    from crypto.sign import SigningKey  # noqa: PLC0415
    from node import transport  # noqa: PLC0415

    name = tls.server_name(bytes(range(32)))
    context = transport.server_context(SigningKey(bytes([7]) * 32), [], name)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            for _ in range(3):
                conn, _ = listener.accept()
                with conn, contextlib.suppress(OSError):
                    context.wrap_socket(conn, server_side=True).recv(1)

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        assert _captured("127.0.0.1", port, None) == ALERT_UNRECOGNIZED_NAME
        assert _captured("127.0.0.1", port, "example.org") == ALERT_UNRECOGNIZED_NAME
        assert _captured("127.0.0.1", port, name)[:6] == bytes.fromhex("160303007a02")
        server.join(10)
    assert not server.is_alive()
