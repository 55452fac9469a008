"""Real nodes on 127.0.0.1 for the sync tests: real folders, real SQLite files, real
mutual TLS, each node's sync server on its own port (chosen by the system)."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crypto.identity import NodeKeys
from node import network
from node import peers as peer_list
from node.daemon import Daemon
from node.home import Home
from node.service import Node
from protocol.kinds import POSTABLE
from tests.helpers import ROOT


@dataclass
class Member:
    name: str
    home: Home
    node: Node
    keys: NodeKeys
    daemon: Daemon | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.daemon is not None
        return self.daemon.url

    def post(self, title: str, kind: str = "report") -> bytes:
        spec = POSTABLE[kind]
        fields = {"title": title, "body": "…"} if kind == "report" else {"title": title}
        return self.node.post(self.keys, [(kind, spec.build(fields))])[0].id

    def titles(self) -> set[str]:
        return {r["title"] for r in self.node.projector.rows("report")}

    def state(self) -> bytes:
        return self.node.projector.state_hash()

    async def start(self, interval: float = 3600.0) -> Daemon:
        self.daemon = Daemon(self.node, self.keys, host="127.0.0.1", port=0, interval=interval)
        await self.daemon.start()
        return self.daemon

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
            self.daemon = None


def new_member(tmp_path: Path, name: str, passphrase: bytes | None = None) -> Member:
    home = Home(tmp_path / name.lower().replace(" ", "-"))
    _, keys = home.init(name, passphrase)
    return Member(name, home, Node.open(home), keys)


def make_network(
    tmp_path: Path,
    names: list[str],
    *,
    passphrase: bytes | None = None,
    suite: str = "x25519",
    roomy: bool = False,
) -> list[Member]:
    """The first founds "Red" and admits the others (card, invite, join); then every
    node takes the founder's log (as from a bundle), so all know every admission.
    ``roomy``: the daily budget is raised first, for logs of more than a day's worth."""
    members = [new_member(tmp_path, name, passphrase) for name in names]
    founder = members[0]
    network.found(founder.node, founder.keys, "Red", suite)
    if roomy:
        network.set_limits(founder.node, founder.keys, 10**8, 2**40)
    for m in members[1:]:
        _, invite = network.admit(
            founder.node, founder.keys, m.home.identity().card.to_text(), False
        )
        network.join(m.node, invite.to_text())
    log = [e.raw for e in founder.node.store.events()]
    for m in members[1:]:
        m.node.ingest(log)
    return members


def link(a: Member, b: Member) -> None:
    """``a`` calls ``b`` (both ways of data flow go over a's calls and b's live pokes)."""
    peer_list.add_manual(a.node, b.url)
    if a.daemon is not None:
        a.daemon.refresh_peers()


def link_line(members: list[Member]) -> None:
    """Each member calls the one before it: a line, as collectives that can each reach
    only their neighbour (what one writes crosses the others to reach the far end)."""
    for before, after in itertools.pairwise(members):
        link(after, before)


async def until(
    condition: Callable[[], bool], timeout: float = 20.0, what: str = "the condition"
) -> float:
    """Wait for ``condition`` (checked every 20 ms); the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def wait_until(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "the condition"
) -> None:
    """:func:`until` outside an event loop (checked every 50 ms), for a test driving real
    processes."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


class ClosingPort:
    """A TCP port on 127.0.0.1 that accepts connections and closes them at once,
    counting them (each is a dial): what a mistyped address often leads to, and what a
    node that does not know this one does at the handshake."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def close_all(members: list[Member]) -> None:
    for m in members:
        m.node.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def commune_async(
    home: Path,
    *args: str,
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """The real ``commune`` command, without blocking the event loop (nodes served by
    this test process must answer it); ``preexec_fn`` runs in it first; ``env`` is added
    to this process's environment."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node",
        "--home",
        str(home),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def serve_process(
    home: Path,
    port: int,
    preexec_fn: Callable[[], None] | None = None,
    *,
    advertise: str | None = None,
    log: Path | None = None,
) -> subprocess.Popen[str]:
    """``commune serve`` in its own process, once it listens (``preexec_fn`` runs in it
    first; ``advertise``: the address it publishes; ``log``: the file its log (stderr)
    goes to). Its ``web_address`` is the web view's address as printed, with its
    one-time token; ``web_url`` the same without."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "--home",
            str(home),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "3600",
            "--web",
            "127.0.0.1:0",
            *(["--advertise", advertise] if advertise else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if log is None else log.open("w"),
        text=True,
        preexec_fn=preexec_fn,  # noqa: PLW1509 - only limits, set by tests
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("Serving on"), line
    web = proc.stdout.readline()
    assert web.startswith("Web view on http://127.0.0.1:"), web
    # the address with its one-time token (node/web/access.py), and without it
    proc.web_address = web.split()[-1]  # type: ignore[attr-defined]
    proc.web_url = proc.web_address.partition("?")[0]  # type: ignore[attr-defined]
    return proc
