"""Sync over HTTPS with mutual TLS 1.3 (docs/PROTOCOL.md §10): the server's routes and
the client's round, on top of the sans-I/O messages in ``protocol.sync``.

The store is used from the event loop's thread only; signature checks run in a thread
pool (``check_many``), so a large batch does not stall other peers.

Routes (all under :data:`PREFIX`, all needing a pinned member certificate):

- ``POST /sync``: body: the client's hello. Answer: the server's hello, then what the
  client lacks, then an end frame, streamed.
- ``POST /push``: body: frames of what the server lacks, then an end frame. Answer:
  the server's own events where the client sent fork evidence, then an end frame, so
  that both ends learn of a fork.
- ``GET /live``: a WebSocket on which the server says ``grew`` when its log grows, so
  the client pulls at once rather than at its next period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import aiohttp
from aiohttp import web

from crypto import tls
from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import dial, gate, transport
from node.errors import StoreError
from node.peers import pinned_certificates, trusted_certificates, trusted_ids
from node.service import IngestResult, Node, check_many
from protocol import admission, encoding
from protocol import sync as proto
from protocol.envelope import MAX_EVENT_SIZE, Event
from protocol.errors import EncodingError, InvalidEvent
from protocol.frontier import Frontier
from protocol.kinds import member as member_kinds
from protocol.validate import check_event

log = logging.getLogger("commune.sync")

PREFIX = "/commune/v1"
#: Bytes read from the network at once.
CHUNK = 64 * 1024
#: A peer must send something at least this often while a request is open.
READ_TIMEOUT = 30.0
#: No request, pull or push, may last longer than this.
REQUEST_TIME = 600.0
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


PEER = web.RequestKey("peer", bytes)
#: Requests one member may have in flight at once, its live channel aside.
MEMBER_REQUESTS = 2
#: Full rounds one member may start: a burst of PULL_BURST, then PULL_RATE a second
#: (short hellos, a summary each, are not counted).
PULL_BURST = 20
PULL_RATE = 1.0
#: A request refused for these limits is answered this many seconds late: a member that
#: ignores Retry-After is slowed to a few requests a second, at the cost of a timer.
TARPIT = 0.5
#: Introductions (§10.7) one source address may make a minute.
INTRO_RATE = 10


def _too_many(why: str, seconds: float) -> web.HTTPTooManyRequests:
    """429 with Retry-After: the client waits that long (it is not backed off)."""
    wait = max(1, math.ceil(seconds))
    return web.HTTPTooManyRequests(text=why, headers={"Retry-After": str(wait)})


def _hang_up(request: web.Request) -> NoReturn:
    """Close the connection without an answer: what a stranger gets."""
    if request.transport is not None:
        request.transport.abort()
    raise web.HTTPForbidden()  # never sent: the connection is gone


class PeerRefused(CommuneError):
    """The peer broke the protocol or refused us; it is backed off."""

    code = "peer-refused"


class PeerBusy(PeerRefused):
    """The peer asked us to come back later (429 with Retry-After): not a failure, and
    not backed off; the next round waits that long."""

    code = "peer-busy"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: A peer's Retry-After this short is waited out within the round, at most twice.
WAIT_IN_ROUND = 5.0


def _busy(response: aiohttp.ClientResponse, stats: Stats) -> None:
    """Raise :class:`PeerBusy` for a 429 answer, with the wait it asks for."""
    if response.status != 429:
        return
    try:
        wait = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        wait = 1.0
    wait = min(max(wait, 0.0), 3600.0)
    raise PeerBusy(f"{stats.peer} is busy; it asks to come back in {wait:.0f} s", wait)


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
    #: (author, seq) where the peer sent fork evidence: it holds another event there,
    #: so ours goes back to it as evidence too
    fork_places: set[tuple[bytes, int]] = field(default_factory=set)

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


# --- what both sides do ---------------------------------------------------------


class Sync:
    """This node's side of sync: hellos, what to send, taking in what comes."""

    def __init__(self, node: Node, keys: NodeKeys) -> None:
        self.node = node
        self.keys = keys
        self._contexts: dict[str, tuple[tuple[bytes, ...], ssl.SSLContext]] = {}
        #: peer URL → the summary of its hello in the last round, when it understands
        #: short hellos: while ours is the same, the next round starts with a short one
        self.in_step: dict[str, bytes] = {}
        #: called after the log grew from a peer (the scheduler relays it on)
        self.on_grew: Callable[[], None] | None = None
        #: progress callback for large transfers: (peer, events received so far)
        self.on_progress: Callable[[str, int], None] | None = None
        #: (peer URL, author, seq) where this node looked for the parting of a forked
        #: feed already: not looked for again in every round
        self.searched: set[tuple[str, bytes, int]] = set()

    # trust: rebuilt when the membership changes; new connections use the new list
    def context(self, server: bool) -> ssl.SSLContext:
        members = tuple(sorted(trusted_ids(self.node)))
        kind = "server" if server else "client"
        cached = self._contexts.get(kind)
        if cached is not None and cached[0] == members:
            return cached[1]
        certs = trusted_certificates(self.node)
        ctx = (transport.server_context if server else transport.client_context)(
            self.keys.signing, certs
        )
        if server:
            ctx.sni_callback = self._sni
        self._contexts[kind] = (members, ctx)
        return ctx

    def identify(self, der: bytes | None) -> bytes:
        """The member a verified peer certificate belongs to: it must be exactly the
        pinned certificate of a trusted node, not merely one that verifies."""
        peer = tls.node_id_of(der)
        if der is None or pinned_certificates(self.node).get(der) != peer:
            raise PeerRefused("the peer's certificate is not a member's pinned certificate")
        return peer

    def _sni(self, sslobj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        # Called for every new connection: give it a context pinned to today's members.
        fresh = self.context(server=True)
        if sslobj.context is not fresh:
            sslobj.context = fresh

    def hello(self) -> proto.Hello:
        heads = self.node.store.heads()
        frontier = Frontier({a: (h.seq, h.id) for a, h in heads.items()})
        forks = frozenset(f.id for f in self.node.store.forks())
        return proto.Hello(self.node.network, frontier, forks)

    def outgoing(
        self, theirs: proto.Hello, places: Iterable[tuple[bytes, int]] = ()
    ) -> Iterator[bytes]:
        """Frames of what the peer lacks, read from the store in chunks (memory stays
        bounded whatever the log's size), then fork evidence (including our events at
        ``places``, where the peer showed it holds others), then the end frame."""
        store = self.node.store
        heads = {a: (h.seq, h.id) for a, h in store.heads().items()}
        plan = proto.plan(heads, theirs.frontier, store.id_at)
        events = 0
        if plan.start:
            # Admissions held here ride first with what is sent, so the peer lets in
            # the nodes they admit even before the admins' feeds reach it (§6.3).
            for held in store.held_of_kinds(member_kinds.ACTIONS):
                if theirs.frontier.seq(held.author) < held.seq:
                    events += 1
                    yield proto.frame(proto.EVENT, held.raw)
            firsts = [store.rowid_at(a, s) for a, s in plan.start.items()]
            last = min(r for r in firsts if r is not None) - 1
            while rows := store.rows_after(last, 512):
                for rowid, author, seq, raw in rows:
                    last = rowid
                    start = plan.start.get(author)
                    if start is not None and seq >= start:
                        if store.damaged is not None and not _still_valid(raw):
                            continue  # a damaged store serves only what checks
                        events += 1
                        yield proto.frame(proto.EVENT, raw)
        forks = [(f.id, f.raw) for f in store.forks()]
        forks += self._ours_at([*plan.diverged, *places])
        sent_forks = list(dict.fromkeys(proto.missing_forks(forks, theirs.forks)))
        for raw in sent_forks:
            yield proto.frame(proto.FORK, raw)
        yield proto.frame(proto.END, proto.End(events, len(sent_forks)).encode())

    def _ours_at(self, places: Iterable[tuple[bytes, int]]) -> list[tuple[bytes, bytes]]:
        out = []
        for author, seq in places:
            event_id = self.node.store.id_at(author, seq)
            event = self.node.store.get(event_id) if event_id is not None else None
            if event is not None:
                out.append((event.id, event.raw))
        return out

    def answer_forks(self, places: Iterable[tuple[bytes, int]]) -> Iterator[bytes]:
        """Our events where the peer just sent fork evidence, then the end frame."""
        ours = [raw for _, raw in self._ours_at(places)]
        for raw in ours:
            yield proto.frame(proto.FORK, raw)
        yield proto.frame(proto.END, proto.End(0, len(ours)).encode())

    def divergences(self, theirs: proto.Hello) -> list[tuple[bytes, int]]:
        """(author, seq) where the peer's branch of a feed may differ from ours: where
        its head is not our event at that seq, and where fork evidence here follows
        another predecessor than ours (the peer may hold that branch). Where the two
        parted is then looked for (§10.3)."""
        store = self.node.store
        found: dict[bytes, int] = {}
        for author, head in store.heads().items():
            their_seq = theirs.frontier.seq(author)
            if 0 < their_seq <= head.seq:
                mine = head.id if their_seq == head.seq else store.id_at(author, their_seq)
                if mine != theirs.frontier.heads[author][1]:
                    found[author] = their_seq
        for evidence in store.forks():
            below = evidence.seq - 1
            if below >= 1 and theirs.frontier.seq(evidence.author) >= below:
                mine = store.id_at(evidence.author, below)
                if mine is not None and mine != evidence.prev:
                    found[evidence.author] = min(found.get(evidence.author, below), below)
        return sorted(found.items())

    def lacks_anything(self, theirs: proto.Hello, places: Iterable[tuple[bytes, int]] = ()) -> bool:
        store = self.node.store
        heads = {a: (h.seq, h.id) for a, h in store.heads().items()}
        if not proto.plan(heads, theirs.frontier, store.id_at).empty or self._ours_at(places):
            return True
        return bool(proto.missing_forks([(f.id, f.raw) for f in store.forks()], theirs.forks))

    async def take_in(
        self, frames: AsyncIterator[tuple[bytes, bytes]], stats: Stats, peer: str
    ) -> proto.End:
        """Ingest event and fork frames in batches, each checked and committed on its
        own, until the end frame. An event invalid on its own breaks the protocol: it and
        what follows are dropped, what came before it stays."""
        intake = _Intake(self, stats, peer)
        counted = [0, 0]
        stream = aiter(frames)
        try:
            while True:
                try:
                    kind, body = await anext(stream)
                except StopAsyncIteration:
                    break
                except Exception:
                    # The connection broke (reset, TLS error, stall, frame cut in half):
                    # keep the whole frames that came, so the next round goes on from
                    # there even over a link that never carries a whole batch.
                    await intake.finish()
                    raise
                if kind in (proto.EVENT, proto.FORK):
                    counted[kind == proto.FORK] += 1
                    await intake.add(body, kind == proto.FORK)
                elif kind == proto.END:
                    await intake.finish()
                    end = proto.End.decode(body)
                    if [end.events, end.forks] != counted:
                        raise proto.SyncError("the peer's end frame does not match what it sent")
                    return end
                else:
                    raise proto.SyncError(f"a {kind!r} frame in the middle of a stream")
            await intake.finish()  # keep what arrived before the stream broke
            raise proto.SyncError("the stream ended before its end frame")
        except asyncio.CancelledError:
            # The round's time limit (or a stop): keep the whole frames that came, as
            # for a broken connection, so a slow link still makes progress; then go on
            # being cancelled.
            with contextlib.suppress(Exception):
                await asyncio.shield(intake.finish())
            raise
        finally:
            intake.abandon()


class _Intake:
    """The batches of one incoming stream. A full batch is checked on the other cores
    (decode, keys, signatures: libsodium releases the GIL) while the batch before it is
    stored on the event loop's thread, so checking and storing overlap; batches are
    still stored one after another, in the order they came."""

    def __init__(self, sync: Sync, stats: Stats, peer: str) -> None:
        self.sync, self.stats, self.peer = sync, stats, peer
        self.batch: list[bytes] = []
        self.is_fork: list[bool] = []
        self.size = 0
        #: the batch being checked, and which of its frames were fork evidence
        self.checking: tuple[asyncio.Future[list[Event | InvalidEvent]], list[bool]] | None = None

    async def add(self, raw: bytes, fork: bool) -> None:
        self.batch.append(raw)
        self.is_fork.append(fork)
        self.size += len(raw)
        if len(self.batch) >= proto.BATCH_EVENTS or self.size >= proto.BATCH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        """Start checking the current batch, then store the one before it meanwhile."""
        if not self.batch:
            return
        future = asyncio.ensure_future(asyncio.to_thread(check_many, list(self.batch)))
        forks = list(self.is_fork)
        self.batch.clear()
        self.is_fork.clear()
        self.size = 0
        try:
            await self.settle()
        except BaseException:
            future.cancel()
            raise
        self.checking = (future, forks)

    async def finish(self) -> None:
        await self.flush()
        await self.settle()

    def abandon(self) -> None:
        """The stream broke: a batch still being checked is dropped."""
        if self.checking is not None:
            self.checking[0].cancel()
            self.checking = None

    async def settle(self) -> None:
        """Store the batch that was being checked."""
        if self.checking is None:
            return
        future, forks = self.checking
        self.checking = None
        outcomes = await future
        stats = self.stats
        bad = next((i for i, o in enumerate(outcomes) if isinstance(o, InvalidEvent)), None)
        for outcome, fork in zip(outcomes[:bad], forks, strict=False):
            if fork and isinstance(outcome, Event):
                stats.fork_places.add((outcome.author, outcome.seq))
        # What came before a bad event stays; the bad event and the rest do not.
        result = self.sync.node.ingest_checked(outcomes if bad is None else outcomes[:bad])
        stats.add(result)
        if bad is not None:
            error = outcomes[bad]
            assert isinstance(error, InvalidEvent)
            raise proto.SyncError(f"the peer sent an invalid event ({error.code}: {error.message})")
        if (result.new or result.forks) and self.sync.on_grew is not None:
            self.sync.on_grew()
        if self.sync.on_progress is not None:
            self.sync.on_progress(self.peer, stats.received)


async def _frames(
    read: Callable[[], Any], stats: Stats, *, timeout: float | None = None
) -> AsyncIterator[tuple[bytes, bytes]]:
    timeout = READ_TIMEOUT if timeout is None else timeout  # read now: [limits] may set it
    reader = proto.FrameReader()
    while True:
        try:
            chunk = await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise proto.SyncError(f"the peer sent nothing for {timeout:.0f} s") from None
        if not chunk:
            reader.finish()
            return
        stats.bytes_received += len(chunk)
        for item in reader.feed(chunk):
            yield item


def _pack(frames: Iterator[bytes], stats: Stats) -> Iterator[bytes]:
    """Group frames into writes of about CHUNK bytes."""
    pending: list[bytes] = []
    size = 0
    for data in frames:
        pending.append(data)
        size += len(data)
        if data[:1] and size >= CHUNK:
            out = b"".join(pending)
            stats.bytes_sent += len(out)
            stats.sent += sum(1 for p in pending if _is_event(p))
            yield out
            pending, size = [], 0
    if pending:
        out = b"".join(pending)
        stats.bytes_sent += len(out)
        stats.sent += sum(1 for p in pending if _is_event(p))
        yield out


def _is_event(data: bytes) -> bool:
    size = {0xC4: 1, 0xC5: 2, 0xC6: 4}.get(data[0], 0)
    return data[1 + size : 2 + size] in (proto.EVENT, proto.FORK)


# --- the server -------------------------------------------------------------------


class Server:
    """The sync routes, for ``serve``."""

    def __init__(self, sync: Sync, limits: gate.Limits | None = None) -> None:
        self.sync = sync
        #: admission control before and after the handshake (node/gate.py)
        self.gate = gate.Gate(
            limits or gate.Limits(idle_timeout=KEEPALIVE), lambda: sync.context(server=True)
        )
        #: requests each member has in flight (its live channel aside)
        self.in_flight: dict[bytes, int] = {}
        #: each member's bucket of full rounds: (tokens, when last filled)
        self.pulls: dict[bytes, tuple[float, float]] = {}
        #: open live channels, and the member at the other end of each
        self.live: dict[web.WebSocketResponse, bytes] = {}
        self.penalties: dict[bytes, tuple[float, float]] = {}
        #: when each member that calls this node last synced with it (the web view)
        self.callers: dict[bytes, float] = {}
        #: introductions by source address this minute: (minute's start, count)
        self.introductions: dict[str, tuple[float, int]] = {}
        #: the open connections of members, by the member at the other end (kept-alive
        #: ones included), so that a revoked member's are closed at once
        self.connections: dict[asyncio.BaseTransport, bytes] = {}
        #: told of every request a member makes: (member, route, stats, or None and
        #: the error when it was refused); the daemon counts them (node/metrics.py)
        self.on_served: Callable[[bytes, str, Stats | None, str], None] | None = None

    def _served(self, peer: bytes, route: str, stats: Stats | None, error: str = "") -> None:
        if self.on_served is not None:
            try:
                self.on_served(peer, route, stats, error)
            except Exception:  # bookkeeping never breaks serving
                log.exception("could not record a request served")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=proto.MAX_HELLO + 64, middlewares=[self._guard])
        app.router.add_post(f"{PREFIX}/sync", self.handle_sync)
        app.router.add_post(f"{PREFIX}/push", self.handle_push)
        app.router.add_get(f"{PREFIX}/live", self.handle_live)
        app.router.add_post(f"{PREFIX}/ids", self.handle_ids)
        return app

    def peer_of(self, request: web.Request) -> bytes:
        sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
        if sslobj is None:
            raise web.HTTPForbidden(text="mutual TLS only")
        # Pinned at the handshake; checked again, as the membership may have changed since.
        try:
            return self.sync.identify(sslobj.getpeercert(binary_form=True))
        except CommuneError:
            raise web.HTTPForbidden(text="not a member of this network") from None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.gate.busy(request.transport, known=False)
        try:
            return await self._admitted(request, handler)
        finally:
            self.gate.done(request.transport)

    async def _admitted(self, request: web.Request, handler: Any) -> web.StreamResponse:
        sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
        if sslobj is not None and sslobj.getpeercert(binary_form=True) is None:
            # No certificate: a node this one has not pinned yet may introduce itself;
            # anyone else gets a closed connection and not a byte (§10.7).
            if request.method == "POST" and request.path == f"{PREFIX}/introduce":
                return await self.handle_introduce(request)
            _hang_up(request)
        peer = self.peer_of(request)
        self.gate.busy(request.transport)  # a member's connection
        until, _ = self.penalties.get(peer, (0.0, 0.0))
        if time.monotonic() < until:
            raise _too_many("this node is backing off from you", until - time.monotonic())
        request[PEER] = peer
        if request.path != f"{PREFIX}/live":
            if self.in_flight.get(peer, 0) >= MEMBER_REQUESTS:
                await asyncio.sleep(TARPIT)  # a member that does not wait is slowed down
                raise _too_many("this node is answering your other requests", 1.0)
            if request.path == f"{PREFIX}/sync":
                wait = self._pull_wait(peer)
                if wait > 0:  # refused before anything is read: a greedy member costs little
                    await asyncio.sleep(TARPIT)
                    raise _too_many("too many full rounds from you", wait)
            self.in_flight[peer] = self.in_flight.get(peer, 0) + 1
            try:
                return await self._served_request(request, handler, peer)
            finally:
                self.in_flight[peer] -= 1
                if not self.in_flight[peer]:
                    del self.in_flight[peer]
        return await self._served_request(request, handler, peer)

    def _pull_wait(self, peer: bytes) -> float:
        """Seconds until ``peer``'s bucket of full rounds holds a token (0: it does)."""
        now = time.monotonic()
        tokens, last = self.pulls.get(peer, (float(PULL_BURST), now))
        tokens = min(float(PULL_BURST), tokens + (now - last) * PULL_RATE)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / PULL_RATE

    def _take_pull(self, peer: bytes) -> float:
        """Take a token from ``peer``'s bucket of rounds; 0, or the seconds until one."""
        now = time.monotonic()
        tokens, last = self.pulls.get(peer, (float(PULL_BURST), now))
        tokens = min(float(PULL_BURST), tokens + (now - last) * PULL_RATE)
        if tokens < 1.0:
            self.pulls[peer] = (tokens, now)
            return (1.0 - tokens) / PULL_RATE
        self.pulls[peer] = (tokens - 1.0, now)
        return 0.0

    async def _served_request(
        self, request: web.Request, handler: Any, peer: bytes
    ) -> web.StreamResponse:
        if request.transport is not None:
            if len(self.connections) >= 1024:  # forget those closed since
                self.connections = {c: p for c, p in self.connections.items() if not c.is_closing()}
            self.connections[request.transport] = peer
        if request.path == f"{PREFIX}/live":
            # A live channel stays open for as long as both nodes run: no request time
            # limit (the heartbeat finds a dead peer); it carries no data to misuse.
            live: web.StreamResponse = await handler(request)
            return live
        try:
            async with asyncio.timeout(REQUEST_TIME):
                response: web.StreamResponse = await handler(request)
                return response
        except StoreError as e:
            # This node's own fault (a full disk, a damaged store): the peer is not
            # backed off, and is not told this node's paths.
            log.error("cannot serve a peer: %s", e.message)
            refusal: web.HTTPException = web.HTTPServiceUnavailable(
                text="this node cannot use its store now (a full disk?); try again later"
            )
            error = e.code
        except (proto.SyncError, CommuneError) as e:
            self._penalise(peer)
            log.warning("peer %s… broke the protocol: %s", peer.hex()[:12], e.message)
            refusal = web.HTTPBadRequest(text=e.message)
            error = e.message
        except TimeoutError:
            self._penalise(peer)
            log.warning("peer %s… broke the protocol: %s", peer.hex()[:12], "too slow")
            refusal = web.HTTPRequestTimeout(text="the request took too long")
            error = refusal.text or ""
        except ConnectionError:
            # The peer hung up mid-answer (it stopped, or its round was cut short):
            # nothing to answer, and no fault of anyone's worth a trace.
            log.debug("peer %s… hung up during %s", peer.hex()[:12], request.path)
            refusal = web.HTTPServiceUnavailable(text="the connection was closed")
            error = "hung up"
        self._served(peer, request.path.rsplit("/", 1)[-1], None, error)
        refusal.force_close()  # disconnected, not only answered
        raise refusal

    async def handle_introduce(self, request: web.Request) -> web.StreamResponse:
        """A node this one does not know yet proves its admission (§6.3, §10.7): the
        proof is checked by the membership rules against what this node holds, and kept
        (placed in the log, or held until it can be); the node is pinned from then on
        and connects again with its certificate. Anything but a well-formed proof for
        this network gets a closed connection; a proof that does not admit its node, a
        short refusal."""
        node = self.sync.node
        address = request.remote or "?"
        if not self._intro_allowed(address):
            _hang_up(request)
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                body = await request.content.read(admission.MAX_PROOF_BYTES + 2048)
            intro = admission.Introduction.decode(body)
        except (TimeoutError, admission.ProofRefused, aiohttp.ClientPayloadError):
            _hang_up(request)
        known = node.projector.known()
        if known is None or intro.network != node.network:
            _hang_up(request)
        evidence = self._fork_evidence(intro.node)
        if evidence:
            # Another copy of that node's key wrote its feed too: say so, with the two
            # signed events that show it, so the copy shut out learns why (§10.7).
            log.warning("node %s… introduced itself, but its feed forked", intro.node.hex()[:12])
            answer = web.Response(
                status=409,
                body=encoding.encode(evidence),
                content_type="application/x-commune-fork",
            )
            answer.force_close()
            return answer
        try:
            events = await asyncio.to_thread(admission.check, known, intro.proof, intro.node)
        except admission.ProofRefused as e:
            log.warning("refused an introduction: %s", e.message)
            refusal = web.HTTPForbidden(text=e.message)
            refusal.force_close()
            raise refusal from None
        result = node.ingest([e.raw for e in events])
        if (result.new or result.held) and self.sync.on_grew is not None:
            self.sync.on_grew()
        log.info("node %s… introduced itself with a proof of admission", intro.node.hex()[:12])
        response = web.Response(text="welcome: connect again with this node's certificate")
        response.force_close()
        return response

    def _fork_evidence(self, node_id: bytes) -> list[bytes]:
        """The two events that show ``node_id``'s feed forked (ours at the lowest forked
        seq, and the evidence kept there), or nothing."""
        seq = self.sync.node.store.fork_seqs().get(node_id)
        if seq is None:
            return []
        store = self.sync.node.store
        ours = store.id_at(node_id, seq)
        event = store.get(ours) if ours is not None else None
        kept = [f for f in store.forks() if f.author == node_id and f.seq == seq]
        return [e.raw for e in [*([event] if event else []), *kept[:1]]]

    def _intro_allowed(self, address: str) -> bool:
        """At most INTRO_RATE introductions a minute from one address: each costs up to
        MAX_PROOF_EVENTS signature checks, and whoever sends one is not known yet."""
        now = time.monotonic()
        start, count = self.introductions.get(address, (now, 0))
        if now - start > 60.0:
            start, count = now, 0
        if count >= INTRO_RATE:
            return False
        if len(self.introductions) >= 4096:
            self.introductions.clear()
        self.introductions[address] = (start, count + 1)
        return True

    def _penalise(self, peer: bytes) -> None:
        _, last = self.penalties.get(peer, (0.0, 0.0))
        span = min(MAX_PENALTY, max(PENALTY, last * 2))
        self.penalties[peer] = (time.monotonic() + span, span)

    async def _read_hello(self, request: web.Request, stats: Stats) -> proto.Hello:
        async for kind, body in _frames(request.content.readany, stats):
            if kind != proto.HELLO:
                raise proto.SyncError("a sync request starts with a hello")
            hello = proto.Hello.decode(body)
            if hello.network != self.sync.node.network:
                raise proto.SyncError("the peer's hello is for another network")
            return hello
        raise proto.SyncError("the sync request has no hello")

    async def handle_sync(self, request: web.Request) -> web.StreamResponse:
        began = time.monotonic()
        peer = request[PEER]
        stats = Stats(peer=peer.hex()[:12], node_id=peer)
        theirs = await self._read_hello(request, stats)
        if theirs.digest is None:
            # A full round costs this node a plan and a stream: a bucket per member (a
            # short hello, which costs a summary, is not counted).
            wait = self._take_pull(peer)
            if wait > 0:
                raise _too_many("too many full rounds from you", wait)
        response = web.StreamResponse(headers={"Content-Type": "application/x-commune-sync"})
        await response.prepare(request)
        if theirs.digest is not None:
            # A short hello: answer with ours and nothing else. The same summary closes
            # the round; another sends the client back to a full round (§10.3).
            frames = [
                proto.frame(proto.HELLO, self.sync.hello().short().encode()),
                proto.frame(proto.END, proto.End(0, 0).encode()),
            ]
            for data in _pack(iter(frames), stats):
                await response.write(data)
        else:
            mine = proto.frame(proto.HELLO, self.sync.hello().encode())
            stats.bytes_sent += len(mine)
            await response.write(mine)
            for data in _pack(self.sync.outgoing(theirs), stats):
                await response.write(data)
        await response.write_eof()
        self.callers[peer] = self.sync.node.clock()
        stats.seconds = time.monotonic() - began
        self._served(peer, "sync", stats)
        return response

    async def handle_push(self, request: web.Request) -> web.StreamResponse:
        """Take in what the client sends; answer with our events where it sent fork
        evidence (so that both ends learn of the fork), then an end frame."""
        began = time.monotonic()
        peer = request[PEER]
        stats = Stats(peer=peer.hex()[:12], node_id=peer)
        await self.sync.take_in(_frames(request.content.readany, stats), stats, stats.peer)
        response = web.StreamResponse(headers={"Content-Type": "application/x-commune-sync"})
        await response.prepare(request)
        for data in _pack(self.sync.answer_forks(stats.fork_places), stats):
            await response.write(data)
        await response.write_eof()
        stats.seconds = time.monotonic() - began
        self._served(peer, "push", stats)
        return response

    async def handle_ids(self, request: web.Request) -> web.StreamResponse:
        """This node's event ids at the seqs a member asks about, of one author's feed,
        and the whole event at one seq: how a member finds where its branch of a forked
        feed and this node's parted (§10.3)."""
        async with asyncio.timeout(READ_TIMEOUT):
            body = await _read_at_most(request.content, proto.MAX_IDS_REQUEST + 1)
        asked = proto.IdsRequest.decode(body)
        store = self.sync.node.store
        ids = tuple(store.id_at(asked.author, seq) for seq in asked.seqs)
        event = None
        if asked.event is not None:
            event_id = store.id_at(asked.author, asked.event)
            found = store.get(event_id) if event_id is not None else None
            event = found.raw if found is not None else None
        return web.Response(
            body=proto.IdsAnswer(ids, event).encode(), content_type="application/x-commune-ids"
        )

    async def handle_live(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1024)
        await ws.prepare(request)
        self.live[ws] = request[PEER]
        try:
            async for _ in ws:
                pass  # the client says nothing; anything it says is ignored
        finally:
            self.live.pop(ws, None)
        return ws

    async def tell_live(self) -> None:
        """Say "grew" on every live channel; close those of nodes no longer trusted."""
        trusted = trusted_ids(self.sync.node)
        await self.drop_untrusted(trusted)
        for ws in list(self.live):
            try:
                await ws.send_str("grew")
            except (ConnectionError, RuntimeError):
                self.live.pop(ws, None)

    async def drop_untrusted(self, trusted: set[bytes] | frozenset[bytes]) -> int:
        """Close every live channel and open connection of a node not in ``trusted``
        (revoked, or forked, since it connected); how many were closed. Its next
        handshake fails: new connections are pinned to today's members."""
        closed = 0
        for ws, peer in list(self.live.items()):
            if peer not in trusted:
                self.live.pop(ws, None)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close()
                closed += 1
        for conn, peer in list(self.connections.items()):
            if conn.is_closing():
                del self.connections[conn]
            elif peer not in trusted:
                del self.connections[conn]
                conn.close()
                closed += 1
        return closed


async def start_server(
    server: Server, host: str, port: int
) -> tuple[web.AppRunner, asyncio.Server]:
    """Listen on host:port with mutual TLS, behind the server's gate (node/gate.py);
    returns what ``stop_server`` needs."""
    runner = web.AppRunner(server.app(), access_log=None, keepalive_timeout=KEEPALIVE)
    await runner.setup()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        server.gate.factory(runner.server),  # type: ignore[arg-type]
        host,
        port,
        reuse_address=True,
    )
    return runner, listener


async def stop_server(runner: web.AppRunner, listener: asyncio.Server) -> None:
    listener.close()
    await runner.shutdown()
    await runner.cleanup()


# --- the client -------------------------------------------------------------------


def client_session(
    sync: Sync, *, proxy: str | None = None, proxy_all: bool = False
) -> aiohttp.ClientSession:
    """A session that dials peers with mutual TLS, directly or through a SOCKS5 proxy:
    ``.onion`` peers always through ``proxy`` (Tor's), names resolved by it; every peer
    through it with ``proxy_all`` (node/dial.py)."""
    timeout = aiohttp.ClientTimeout(
        total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
    )
    connector = dial.connector(
        sync.context(server=False),
        proxy=proxy,
        proxy_all=proxy_all,
        keepalive_timeout=CLIENT_KEEPALIVE,
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


def _peer_der(response: aiohttp.ClientResponse) -> bytes | None:
    """The server's certificate. The connection is released as soon as a short body has
    been read, so take the transport from the response's protocol, which it keeps
    (aiohttp has no public way to the peer's certificate of a response)."""
    conn = response.connection
    protocol = conn.protocol if conn is not None else getattr(response, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is None:
        raise PeerRefused("the connection is not mutual TLS")
    der: bytes | None = sslobj.getpeercert(binary_form=True)
    return der


async def sync_with(sync: Sync, session: aiohttp.ClientSession, url: str) -> Stats:
    """One round with the node at ``url``: pull what we lack, then push what it lacks."""
    started = time.monotonic()
    stats = Stats(peer=url)
    base = url.rstrip("/") + PREFIX
    try:
        async with asyncio.timeout(REQUEST_TIME):
            await _tries(sync, session, base, url, stats)
    except proto.SyncError as e:
        raise PeerRefused(f"{url} broke the sync protocol: {e.message}") from None
    except aiohttp.ClientResponseError as e:
        raise PeerRefused(f"{url} answered {e.status} {e.message}") from None
    except (aiohttp.ClientError, ConnectionError, ssl.SSLError) as e:
        raise PeerRefused(f"cannot sync with {url}: {e.__class__.__name__}: {e}") from None
    except TimeoutError:
        raise PeerRefused(f"{url} took longer than {REQUEST_TIME:.0f} s") from None
    stats.seconds = time.monotonic() - started
    return stats


async def _tries(
    sync: Sync, session: aiohttp.ClientSession, base: str, url: str, stats: Stats
) -> None:
    """The round, tried again when nothing at all came back: once when the server had
    just closed a kept-alive connection (it closes idle ones after KEEPALIVE), and once
    after introducing this node (§10.7) when the handshake failed, perhaps because the
    peer has not pinned this node yet."""
    reconnected = introduced = False
    waits = 0
    while True:
        try:
            await _round(sync, session, base, url, stats)
            return
        except PeerBusy as e:
            # Asked to come back soon: wait it out here, twice at most (§10.4).
            if e.retry_after > WAIT_IN_ROUND or waits >= 2:
                raise
            waits += 1
            await asyncio.sleep(e.retry_after)
        except (aiohttp.ClientError, ConnectionError, ssl.SSLError) as e:
            if stats.bytes_received:
                raise
            if isinstance(e, aiohttp.ServerDisconnectedError) and not reconnected:
                reconnected = True
                continue
            if introduced or not await introduce(sync, session, base):
                raise
            introduced = True


async def introduce(sync: Sync, session: aiohttp.ClientSession, base: str) -> bool:
    """Tell the member at ``base`` the proof of this node's admission, over a connection
    on which this node shows no certificate but checks the server's (§10.7): only a
    member this node knows hears it. True when it was accepted; False when there is no
    proof to give, or the server could not be reached or is not a member this node
    knows; :class:`PeerRefused` when the server refused the proof, saying why."""
    node = sync.node
    known = node.projector.known()
    proof = node.projector.proof_for(node.node_id)
    if known is None or (not proof and node.node_id != known.genesis.author):
        return False  # no proof to give (the founder's is the genesis itself)
    intro = admission.Introduction(node.network, node.node_id, tuple(e.raw for e in proof))
    context = transport.introduction_context(trusted_certificates(node))
    where = base.removesuffix(PREFIX)
    try:
        async with session.post(f"{base}/introduce", data=intro.encode(), ssl=context) as answer:
            body = await _read_at_most(answer.content, 2 * MAX_EVENT_SIZE + 1024)
            if answer.status == 200:
                log.info("introduced this node to %s", where)
                return True
    except (aiohttp.ClientError, ConnectionError, ssl.SSLError, TimeoutError):
        return False
    if answer.status == 409:
        _take_own_fork(node, body, where)
    text = body[:300].decode("utf-8", "replace")
    raise PeerRefused(f"{where} refused this node's proof of admission: {text}")


def _still_valid(raw: bytes) -> bool:
    try:
        check_event(raw)
    except InvalidEvent:
        return False
    return True


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or its first ``limit`` bytes: a peer controls its length."""
    data = b""
    while len(data) < limit:
        chunk = await content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _take_own_fork(node: Node, body: bytes, where: str) -> NoReturn:
    """A member refused this node because its feed forked: keep the evidence it sent
    (checked like any event) and say in words what happened and what to do."""
    try:
        raws = encoding.decode(body)
    except EncodingError:
        raws = []
    if isinstance(raws, list) and len(raws) <= 2 and all(isinstance(r, bytes) for r in raws):
        node.ingest(raws)
    seq = node.store.fork_seqs().get(node.node_id)
    at = f" at seq {seq}" if seq is not None else ""
    raise PeerRefused(
        f"{where} refuses this node: its feed forked{at}, so another copy of this node's "
        "key (a copied folder, or a restored backup run beside it) wrote events too, and "
        "the network stops counting this node from there. Stop every copy but one; the "
        "collective needs a new node (`commune init` in a new folder), admitted by an admin"
    )


async def _round(
    sync: Sync, session: aiohttp.ClientSession, base: str, url: str, stats: Stats
) -> None:
    """Pull, then push if the peer lacks anything; a short hello first when the two
    were in step at the end of the last round (§10.3)."""
    mine = sync.hello()
    if sync.in_step.pop(url, None) == mine.summary():
        # In step at the end of the last round and nothing new here since: a
        # short hello; the same summary back closes the round (§10.3).
        theirs = await _pull(sync, session, base, mine.short(), stats)
        if theirs.digest == mine.summary():
            sync.in_step[url] = theirs.digest
            return
        mine = sync.hello()  # the peer has something new: a full round
    theirs = await _pull(sync, session, base, mine, stats)
    if theirs.digest is not None:
        raise proto.SyncError("the peer answered a full hello with a short one")
    if theirs.accepts_short:
        sync.in_step[url] = theirs.summary()
    for author, differ in sync.divergences(theirs)[: proto.MAX_SEARCHES]:
        if (url, author, differ) not in sync.searched:
            await _find_parting(sync, session, base, stats, author=author, differ=differ)
            sync.searched.add((url, author, differ))
    if sync.lacks_anything(theirs, stats.fork_places):
        await _push(sync, session, base, theirs, stats)


async def _find_parting(
    sync: Sync,
    session: aiohttp.ClientSession,
    base: str,
    stats: Stats,
    *,
    author: bytes,
    differ: int,
) -> None:
    """Find the first seq where the peer's branch of ``author``'s feed and ours differ
    (they differ at ``differ``, unless the peer's branch is ours there), asking the peer
    its ids at up to MAX_PROBES seqs at a time; then take its event there as fork
    evidence, and ours goes back to it with the push (§10.3). A peer that does not
    answer ``ids`` (an older node) is not searched."""
    store = sync.node.store
    agree, first = 0, True
    while True:
        asked = [*proto.probes(agree, differ), *([differ] if first else [])]
        if not asked:
            break
        answer = await _ask_ids(session, base, proto.IdsRequest(author, tuple(asked)), stats)
        if answer is None:
            return
        same = [
            theirs == store.id_at(author, seq)
            for theirs, seq in zip(answer.ids, asked, strict=True)
        ]
        if first:
            if same[-1]:
                return  # this peer's branch is ours up to there: nothing to find
            asked, same, first = asked[:-1], same[:-1], False
        agree, differ = proto.narrow(agree, differ, asked, same)
        if differ - agree <= 1:
            break
    answer = await _ask_ids(session, base, proto.IdsRequest(author, (), differ), stats)
    if answer is None or answer.event is None:
        return
    try:
        event = check_event(answer.event)
    except InvalidEvent as e:
        raise proto.SyncError(f"the peer's event where the feeds parted: {e.message}") from None
    if event.author != author or event.seq != differ:
        raise proto.SyncError("the peer answered with another event than the one asked for")
    result = sync.node.ingest([answer.event])
    stats.add(result)
    stats.fork_places.add((author, differ))
    if result.forks:
        log.warning("found where %s…'s feed forked: seq %d", author.hex()[:12], differ)


async def _ask_ids(
    session: aiohttp.ClientSession, base: str, asked: proto.IdsRequest, stats: Stats
) -> proto.IdsAnswer | None:
    data = asked.encode()
    stats.bytes_sent += len(data)
    async with session.post(f"{base}/ids", data=data) as response:
        if response.status == 404:
            return None  # an older node
        body = await _read_at_most(response.content, 2 * MAX_EVENT_SIZE)
        stats.bytes_received += len(body)
        if response.status != 200:
            _busy(response, stats)
            raise PeerRefused(f"{stats.peer} refused an ids request: {response.status}")
    return proto.IdsAnswer.decode(body, asked)


async def _pull(
    sync: Sync, session: aiohttp.ClientSession, base: str, mine: proto.Hello, stats: Stats
) -> proto.Hello:
    hello = proto.frame(proto.HELLO, mine.encode())
    stats.bytes_sent += len(hello)
    async with session.post(f"{base}/sync", data=hello) as response:
        if response.status != 200:
            _busy(response, stats)
            text = (await response.content.read(300)).decode("utf-8", "replace")
            raise PeerRefused(f"{stats.peer} refused the sync: {response.status} {text}")
        stats.node_id = sync.identify(_peer_der(response))
        frames = _frames(response.content.readany, stats)
        first = await anext(frames, None)
        if first is None or first[0] != proto.HELLO:
            raise proto.SyncError("the peer's answer does not start with its hello")
        theirs = proto.Hello.decode(first[1])
        if theirs.network != sync.node.network:
            raise proto.SyncError("the peer is in another network")
        if (theirs.digest is None) != (mine.digest is None):
            raise proto.SyncError("the peer's hello is not of the kind it was sent")
        end = await sync.take_in(frames, stats, stats.peer)
        if theirs.digest is not None:
            if end.events or end.forks:
                raise proto.SyncError("the peer sent events after a short hello")
            return theirs
        _check_own_feed(sync.node, theirs)
        return theirs


async def _push(
    sync: Sync, session: aiohttp.ClientSession, base: str, theirs: proto.Hello, stats: Stats
) -> None:
    places = set(stats.fork_places)

    async def body() -> AsyncIterator[bytes]:
        for data in _pack(sync.outgoing(theirs, places), stats):
            yield data
            await asyncio.sleep(0)  # let other peers run between chunks

    async with session.post(f"{base}/push", data=body()) as response:
        if response.status != 200:
            _busy(response, stats)
            text = (await response.content.read(300)).decode("utf-8", "replace")
            raise PeerRefused(f"{stats.peer} refused what we sent: {response.status} {text}")
        await sync.take_in(_frames(response.content.readany, stats), stats, stats.peer)


def _check_own_feed(node: Node, theirs: proto.Hello) -> None:
    """After a complete pull: the peer's hello said how far it holds this node's own
    feed, and it has sent all of it, so this store now holds at least as much; then the
    check a restored or copied node owes before it writes is done (docs/PROTOCOL.md
    §10.5). A peer that claims more of the feed than it sent is lying (or this node's
    feed forked, which the fork evidence shows): it is refused, and its claim changes
    nothing here."""
    claimed = theirs.frontier.seq(node.node_id)
    head = node.store.head(node.node_id)
    mine = head.seq if head else 0
    if claimed > mine and node.node_id not in node.store.fork_seqs():
        raise proto.SyncError(
            f"the peer's hello says it holds this node's own feed up to seq {claimed}, but "
            f"it sent it only up to seq {mine}"
        )
    node.confirm_feed(claimed)
