"""What the sync server and client share (docs/PROTOCOL.md §10): this node's side of
sync (:class:`Sync`: whom it trusts, and what it holds, as the sans-I/O sessions of
``protocol.session`` ask it), the time limits a round is given (:class:`Timeouts`),
the counts of a round (:class:`Stats`) and how a round fails (:class:`PeerRefused`).
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from crypto import tls
from crypto.identity import NodeKeys
from node import coding, transport
from node.errors import PeerRefused
from node.peers import pinned_certificates, trusted_certificates, trusted_ids
from node.service import IngestResult, Node
from protocol import holdings
from protocol import sync as proto
from protocol.envelope import Event
from protocol.errors import InvalidEvent
from protocol.frontier import Frontier
from protocol.validate import check_event

PREFIX = "/commune/v1"
#: Bytes read from the network at once.
CHUNK = 64 * 1024
#: The defaults of :class:`Timeouts`, which the settings' [limits] change (docs/CLI.md):
#: a peer must send something at least this often while a request is open;
READ_TIMEOUT = 30.0
#: no request, pull or push, may last longer than this;
REQUEST_TIME = 600.0
#: connecting, on the client (TCP and TLS).
CONNECT_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT = 10.0
#: An idle connection from a member is kept this long (seconds), longer than the default
#: interval between rounds (60 s ± 20%), so that periodic rounds reuse it rather than
#: paying a TLS handshake (about 2.8 KB) each time; clients close theirs sooner
#: (CLIENT_KEEPALIVE), so that neither end writes on a connection the other just closed.
KEEPALIVE = 150.0
CLIENT_KEEPALIVE = 120.0
#: A peer that broke a rule is refused for this long (doubling each time, up to an hour).
PENALTY = 30.0
MAX_PENALTY = 3600.0


@dataclass(frozen=True)
class Timeouts:
    """The time limits of sync, on both sides (§10.4): given to :class:`Sync`, which
    the server and the client read them from, so that one process may run nodes with
    different settings (``[limits]`` read_timeout, request_time, connect_timeout)."""

    #: seconds a peer may send nothing while a frame or stream is awaited
    read: float = READ_TIMEOUT
    #: seconds one request on the server (but a live channel), one round on the client
    request: float = REQUEST_TIME
    #: seconds to connect, on the client (TCP and TLS)
    connect: float = CONNECT_TIMEOUT


@dataclass
class Stats:
    """One sync round with one peer, for ``sync``'s summary and the scheduler's log."""

    peer: str = ""
    node_id: bytes | None = None
    sent: int = 0
    received: int = 0
    known: int = 0
    held: int = 0
    forks: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0

    def add(self, result: IngestResult) -> None:
        self.received += result.new
        self.known += result.known
        self.held += result.held
        self.forks += result.forks
        self.refused.update(result.refused)

    def summary(self) -> str:
        refused = sum(self.refused.values())
        detail = ", ".join(f"{n} {code}" for code, n in sorted(self.refused.items()))
        return (
            f"{self.sent} sent, {self.received} received, {self.held} held, "
            f"{refused} refused{f' ({detail})' if detail else ''}, "
            f"{_size(self.bytes_sent)} out, {_size(self.bytes_received)} in, "
            f"{self.seconds:.1f} s"
        )


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n //= 1024
    return f"{n} GiB"  # pragma: no cover


class Sync:
    """This node's side of sync: whom it trusts (TLS contexts pinned to today's
    members), what it remembers of its peers between rounds, and what it holds, as a
    session asks it (it is the sessions' ``protocol.holdings.Holdings``)."""

    def __init__(
        self,
        node: Node,
        keys: NodeKeys,
        timeouts: Timeouts | None = None,
        codings: tuple[str, ...] = coding.SPOKEN,
    ) -> None:
        self.node = node
        self.keys = keys
        self.timeouts = timeouts or Timeouts()
        #: the content codings this node decodes and sends in sync bodies, listed in its
        #: hello (node/coding.py); none: as a node before them (the tests' older peer)
        self.codings = codings
        self._contexts: dict[str, tuple[tuple[bytes, ...], ssl.SSLContext]] = {}
        #: peer URL → the summary of its hello in the last round, when it understands
        #: short hellos: while ours is the same, the next round starts with a short one
        self.in_step: dict[str, bytes] = {}
        #: called after the log grew from a peer (the scheduler relays it on)
        self.on_grew: Callable[[], None] | None = None
        #: progress callback for large transfers: (peer, events received so far)
        self.on_progress: Callable[[str, int], None] | None = None
        #: peer URL → (author, seq) where this node looked for the parting of a forked
        #: feed with that peer already: not looked for again in every round
        self.searched: dict[str, set[tuple[bytes, int]]] = {}

    # trust: rebuilt when the membership changes; new connections use the new list
    def context(self, server: bool) -> ssl.SSLContext:
        members = tuple(sorted(trusted_ids(self.node)))
        kind = "server" if server else "client"
        cached = self._contexts.get(kind)
        if cached is not None and cached[0] == members:
            return cached[1]
        certs = trusted_certificates(self.node)
        name = tls.server_name(self.node.network)
        if server:
            ctx = transport.server_context(self.keys.signing, certs, name, on_hello=self._fresh)
        else:
            ctx = transport.client_context(self.keys.signing, certs, name)
        self._contexts[kind] = (members, ctx)
        return ctx

    def identify(self, der: bytes | None) -> bytes:
        """The member a verified peer certificate belongs to: it must be exactly the
        pinned certificate of a trusted node, not merely one that verifies."""
        peer = tls.node_id_of(der)
        if der is None or pinned_certificates(self.node).get(der) != peer:
            raise PeerRefused(
                "the peer's certificate is not a member's pinned certificate", "unknown-peer"
            )
        return peer

    def _fresh(self, sslobj: ssl.SSLObject) -> None:
        # Called for every new connection that names the network (node/transport.py):
        # give it a context pinned to today's members.
        fresh = self.context(server=True)
        if sslobj.context is not fresh:
            sslobj.context = fresh

    # --- what this node holds (protocol.holdings.Holdings) -------------------------

    @property
    def network(self) -> bytes:
        return self.node.network

    @property
    def node_id(self) -> bytes:
        return self.node.node_id

    def hello(self) -> proto.Hello:
        heads = self.node.store.heads()
        frontier = Frontier({a: (h.seq, h.id) for a, h in heads.items()})
        forks = frozenset(f.id for f in self.node.store.forks())
        return proto.Hello(self.node.network, frontier, forks, codings=self.codings)

    def heads(self) -> dict[bytes, tuple[int, bytes]]:
        return {a: (h.seq, h.id) for a, h in self.node.store.heads().items()}

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        return self.node.store.id_at(author, seq)

    def event_at(self, author: bytes, seq: int) -> Event | None:
        return self.node.store.event_at(author, seq)

    def forks(self) -> list[Event]:
        return self.node.store.forks()

    def fork_seqs(self) -> dict[bytes, int]:
        return self.node.store.fork_seqs()

    def held(self, kinds: Sequence[str]) -> list[Event]:
        return self.node.store.held_of_kinds(kinds)

    def log_from(self, start: Mapping[bytes, int]) -> Iterator[bytes]:
        """Each author's log events from its seq in ``start`` on, in the order the log
        appended them, read from the store 512 rows at a time (memory stays bounded
        whatever the log's size); a damaged store serves only the events that check."""
        store = self.node.store
        firsts = [store.rowid_at(a, s) for a, s in start.items()]
        last = min(r for r in firsts if r is not None) - 1
        while rows := store.rows_after(last, 512):
            for rowid, author, seq, raw in rows:
                last = rowid
                first = start.get(author)
                if first is not None and seq >= first:
                    if store.damaged is not None and not _still_valid(raw):
                        continue
                    yield raw

    def outgoing(
        self, theirs: proto.Hello, places: Iterable[tuple[bytes, int]] = ()
    ) -> Iterator[bytes]:
        """The frames of what the peer lacks (``protocol.holdings.outgoing``)."""
        return holdings.outgoing(self, theirs, places)


def _still_valid(raw: bytes) -> bool:
    try:
        check_event(raw)
    except InvalidEvent:
        return False
    return True


async def read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or its first ``limit`` bytes: a peer controls its length."""
    data = b""
    while len(data) < limit:
        chunk = await content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data
