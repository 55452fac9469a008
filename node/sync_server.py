"""The sync server's routes (docs/PROTOCOL.md §10.2 to §10.4, §10.7), for ``serve``.

Routes (all under ``PREFIX``, all needing a pinned member certificate but the
introduction):

- ``POST /sync``: body: the client's hello. Answer: the server's hello, then what the
  client lacks, then an end frame, streamed.
- ``POST /push``: body: frames of what the server lacks, then an end frame. Answer:
  the server's own events where the client sent fork evidence, then an end frame, so
  that both ends learn of a fork.
- ``POST /ids``: this node's ids at some seqs of a feed (finding where two branches of
  a forked feed parted).
- ``GET /live``: a WebSocket on which the server says ``grew`` when its log grows, so
  the client pulls at once rather than at its next period.
- ``POST /introduce``: a node not pinned yet proves its admission (§10.7).

What each request means is the sans-I/O session's (``protocol.session.Server``); here
are the gate before it (node/gate.py), who may ask how often, the time limits, and the
bytes moved. The store is used from the event loop's thread only; signature checks run
in a thread pool (node/intake.py), so a large batch does not stall other peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from itertools import chain
from typing import Any

from aiohttp import hdrs, web

from crypto.errors import CommuneError
from node import coding, gate
from node.errors import StoreError
from node.intake import Outgoing, Read, pack, read_hello, reader, take_in
from node.introduce import Introductions, hang_up
from node.peers import trusted_ids
from node.sync_base import KEEPALIVE, MAX_PENALTY, PENALTY, PREFIX, Stats, Sync, read_at_most
from protocol import session as sessions
from protocol import sync as proto
from protocol.errors import SyncError

log = logging.getLogger("commune.sync")

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


def _headers(body: Outgoing) -> dict[str, str]:
    headers: dict[str, str] = {hdrs.CONTENT_TYPE: "application/x-commune-sync"}
    if body.coding is not None:
        headers[hdrs.CONTENT_ENCODING] = body.coding
    return headers


def _too_many(why: str, seconds: float) -> web.HTTPTooManyRequests:
    """429 with Retry-After: the client waits that long (it is not backed off)."""
    wait = max(1, math.ceil(seconds))
    return web.HTTPTooManyRequests(text=why, headers={"Retry-After": str(wait)})


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
        #: nodes not pinned yet that prove their admission (§10.7)
        self.introductions = Introductions(sync)
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
            hang_up(request)
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
            async with asyncio.timeout(self.sync.timeouts.request):
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
        except (SyncError, CommuneError) as e:
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
        """A node not pinned yet proves its admission (§10.7; node/introduce.py)."""
        return await self.introductions.handle(request)

    def _penalise(self, peer: bytes) -> None:
        _, last = self.penalties.get(peer, (0.0, 0.0))
        span = min(MAX_PENALTY, max(PENALTY, last * 2))
        self.penalties[peer] = (time.monotonic() + span, span)

    async def handle_sync(self, request: web.Request) -> web.StreamResponse:
        began = time.monotonic()
        peer = request[PEER]
        stats = Stats(peer=peer.hex()[:12], node_id=peer)
        session = sessions.Server(self.sync, "sync")
        read = self._body(request, stats)
        theirs = await read_hello(session, read, stats, self.sync.timeouts.read)
        if theirs.digest is None:
            # A full round costs this node a plan and a stream: a bucket per member (a
            # short hello, which costs a summary, is not counted).
            wait = self._take_pull(peer)
            if wait > 0:
                raise _too_many("too many full rounds from you", wait)
        frames = session.answer()
        offered: list[str] = []
        if theirs.digest is None:
            accept = request.headers.get(hdrs.ACCEPT_ENCODING, "")
            offered = coding.common(theirs.codings, self.sync.codings, accept)
        if offered:
            # Whether coding pays is seen from the answer's first write, which the
            # headers (Content-Encoding) wait for.
            body = Outgoing(pack(frames, stats), offered, stats)
        else:
            # Our hello goes out before the store is read for the rest.
            lead = [next(frames)] if theirs.digest is None else []
            body = Outgoing(chain(lead, pack(frames, stats)), (), stats)
        response = web.StreamResponse(headers=_headers(body))
        await response.prepare(request)
        for data in body:
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
        session = sessions.Server(self.sync, "push")
        read = self._body(request, stats)
        await take_in(self.sync, session, read, stats, self.sync.timeouts.read)
        body = Outgoing(pack(session.answer(), stats), (), stats)  # fork evidence: short
        response = web.StreamResponse(headers=_headers(body))
        await response.prepare(request)
        for data in body:
            await response.write(data)
        await response.write_eof()
        stats.seconds = time.monotonic() - began
        self._served(peer, "push", stats)
        return response

    def _body(self, request: web.Request, stats: Stats) -> Read:
        """The request's body, decoded from its Content-Encoding (415 for a coding this
        node does not decode: not a breach, as another implementation may send one)."""
        try:
            header = request.headers.get(hdrs.CONTENT_ENCODING)
            coded = coding.coding_of(header, self.sync.codings)
        except SyncError as e:
            raise web.HTTPUnsupportedMediaType(text=e.message) from None
        return reader(request.content.readany, coded, stats)

    async def handle_ids(self, request: web.Request) -> web.StreamResponse:
        """This node's event ids at the seqs a member asks about, of one author's feed,
        and the whole event at one seq: how a member finds where its branch of a forked
        feed and this node's parted (§10.3)."""
        if request.headers.get(hdrs.CONTENT_ENCODING, "identity").lower() != "identity":
            raise web.HTTPUnsupportedMediaType(text="an ids request is never coded")
        async with asyncio.timeout(self.sync.timeouts.read):
            body = await read_at_most(request.content, proto.MAX_IDS_REQUEST + 1)
        answer = sessions.Server(self.sync, "ids").answer_ids(body)
        return web.Response(body=answer, content_type="application/x-commune-ids")

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
    # Bodies are decoded by the routes, within the limits of sync (node/coding.py), not
    # by aiohttp.
    runner = web.AppRunner(
        server.app(), access_log=None, keepalive_timeout=KEEPALIVE, auto_decompress=False
    )
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
