"""Admission control for the node's two servers (issue 14; docs/RELIABILITY.md).

Whoever finds a node's address can open connections to it; a member can send requests.
Neither may cost the node more than a bounded share of its memory, file descriptors and
time, and a slow client may not hold a connection. A :class:`Gate` sits between the
listening socket and the HTTP server (aiohttp's protocol factory):

- **Before the handshake**, it counts connections by source address. A connection that
  is not yet known to be a member's (in its TLS handshake, or one that showed no
  certificate and may only introduce itself) is an *unknown* one: at most
  ``per_address`` of them from one address, ``unknown_total`` in all; beyond that a new
  connection is closed at once, before any TLS state is made for it. At most
  ``max_open`` connections are open in all.
- **The handshake** runs under a deadline (``handshake_timeout``).
- **After it**, a deadline for each request's headers (``header_timeout``, from the
  first byte of a request to its last header) and an idle deadline between requests
  (``idle_timeout``): a client that trickles its headers, or keeps a connection open
  doing nothing, is closed. The sync server's routes mark when a request starts and ends
  (:meth:`Gate.busy`, :meth:`Gate.done`).

The web view uses the same gate without TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("commune.gate")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a gate allows; the defaults are the settings' (node/config.py)."""

    max_open: int = 768
    per_address: int = 16
    unknown_total: int = 256
    handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    idle_timeout: float = 150.0


@dataclass
class _Connection:
    address: str
    opened: float
    #: known to be a member's (a verified client certificate), or the web view's
    known: bool = False
    #: when the connection began waiting for a request (None: one is being served)
    waiting_since: float | None = None
    #: bytes received since then: a request has begun arriving
    begun: bool = False
    transport: asyncio.Transport | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class Gate:
    """One listening socket's admission control (see the module docstring)."""

    limits: Limits
    #: the TLS context for a new connection (None: plain HTTP, the web view)
    context: Callable[[], ssl.SSLContext] | None = None
    #: a plain connection is known at once (the web view binds to this machine)
    connections: dict[int, _Connection] = field(default_factory=dict)
    #: connections closed at once, by reason (for metrics and the campaign)
    refused: dict[str, int] = field(default_factory=dict)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to listen with, around ``inner`` (aiohttp's)."""
        return lambda: _Door(self, inner)

    # --- counting -------------------------------------------------------------------

    def _admit(self, address: str) -> str | None:
        """Why a new connection from ``address`` is closed at once, or None."""
        if len(self.connections) >= self.limits.max_open:
            return "open"
        unknown = [c for c in self.connections.values() if not c.known]
        if len(unknown) >= self.limits.unknown_total:
            return "unknown"
        if sum(1 for c in unknown if c.address == address) >= self.limits.per_address:
            return "address"
        return None

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def _record(self, transport: asyncio.BaseTransport | None) -> _Connection | None:
        if transport is None:
            return None
        return self.connections.get(id(transport))

    # --- what the server's routes say -------------------------------------------------

    def busy(self, transport: asyncio.BaseTransport | None, *, known: bool = True) -> None:
        """A request was read whole from this connection: it is being served."""
        record = self._record(transport)
        if record is not None:
            record.known = record.known or known
            record.waiting_since = None
            record.begun = False

    def done(self, transport: asyncio.BaseTransport | None) -> None:
        """The answer was sent: the connection waits for its next request."""
        record = self._record(transport)
        if record is not None:
            record.waiting_since = time.monotonic()
            record.begun = False

    def open_count(self) -> tuple[int, int]:
        """(connections open, of them not known to be a member's)."""
        unknown = sum(1 for c in self.connections.values() if not c.known)
        return len(self.connections), unknown


class _Door(asyncio.Protocol):
    """The protocol a new connection first meets: it counts it, runs the TLS handshake
    under its deadline, then hands the connection to the HTTP server and watches its
    deadlines."""

    def __init__(self, gate: Gate, inner: Callable[[], asyncio.Protocol]) -> None:
        self.gate = gate
        self.inner_factory = inner
        self.inner: asyncio.Protocol | None = None
        self.record: _Connection | None = None
        self.raw: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        why = self.gate._admit(address)
        if why is not None:
            self.gate._refuse(why)
            transport.abort()  # nothing made for it: no TLS state, no buffers
            return
        now = time.monotonic()
        self.record = _Connection(address, now, known=self.gate.context is None)
        self.gate.connections[id(self)] = self.record
        if self.gate.context is None:
            self._hand_over(transport)
        else:
            transport.pause_reading()  # the handshake's bytes go to the TLS layer
            self.task = asyncio.get_running_loop().create_task(self._handshake(transport))

    async def _handshake(self, transport: asyncio.Transport) -> None:
        assert self.gate.context is not None
        loop = asyncio.get_running_loop()
        inner = self.inner_factory()
        try:
            secured = await loop.start_tls(
                transport,
                inner,
                self.gate.context(),
                server_side=True,
                ssl_handshake_timeout=self.gate.limits.handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError):
            self.gate._refuse("handshake")
            transport.abort()
            self._forget()
            return
        if secured is None:  # the connection closed meanwhile
            self._forget()
            return
        assert isinstance(secured, asyncio.Transport)
        sslobj = secured.get_extra_info("ssl_object")
        assert self.record is not None
        self.record.known = sslobj is not None and sslobj.getpeercert(binary_form=True) is not None
        self._hand_over(secured, inner)

    def _hand_over(
        self, transport: asyncio.Transport, inner: asyncio.Protocol | None = None
    ) -> None:
        record = self.record
        assert record is not None
        self.gate.connections.pop(id(self), None)
        self.gate.connections[id(transport)] = record
        record.transport = transport
        record.waiting_since = time.monotonic()
        self.inner = inner or self.inner_factory()
        transport.set_protocol(_Watch(self.gate, record, self.inner))
        self.inner.connection_made(transport)
        self._schedule(record)

    def _schedule(self, record: _Connection) -> None:
        loop = asyncio.get_running_loop()
        record.timer = loop.call_later(1.0, self._check, record)

    def _check(self, record: _Connection) -> None:
        """Every second: close a connection whose request headers, or next request, are
        overdue."""
        transport = record.transport
        if transport is None or transport.is_closing():
            return
        since = record.waiting_since
        if since is not None:
            limits = self.gate.limits
            limit = limits.header_timeout if record.begun else limits.idle_timeout
            if not record.known:
                limit = min(limit, self.gate.limits.header_timeout)
            if time.monotonic() - since > limit:
                self.gate._refuse("headers" if record.begun else "idle")
                transport.abort()
                return
        self._schedule(record)

    def data_received(self, data: bytes) -> None:  # before the hand-over: never
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _forget(self) -> None:
        self.gate.connections.pop(id(self), None)


class _Watch(asyncio.Protocol):
    """Between the transport and the HTTP server after the hand-over: passes everything
    on, notes when a request begins arriving, and forgets the connection when it ends."""

    def __init__(self, gate: Gate, record: _Connection, inner: asyncio.Protocol) -> None:
        self.gate, self.record, self.inner = gate, record, inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.record.waiting_since is not None:
            self.record.begun = True
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        record = self.record
        if record.timer is not None:
            record.timer.cancel()
        if record.transport is not None:
            self.gate.connections.pop(id(record.transport), None)
        with contextlib.suppress(Exception):
            self.inner.connection_lost(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
