"""A fault-injecting TCP proxy on 127.0.0.1, one per link between two nodes, for the
partition campaigns (tests/test_partitions.py, docs/RELIABILITY.md "Partitions").

It works on the bytes of the TCP stream, below TLS: a node dials the proxy's address
instead of its peer's, and the proxy can

- **refuse**: reset new connections at once and cut the open ones (a partition that
  the nodes notice),
- **stall**: hold every byte until the link is healed (a partition that they do not:
  packets dropped silently; TCP resends them when the link comes back),
- **delay** each chunk, **split** it into small pieces (harmless, but it exercises
  every partial read),
- **duplicate** or **reorder** chunks (which breaks TLS: a node must refuse the
  connection and try again later, never take in what it read),
- **cut** a connection after a random number of bytes, in the middle of a TLS record
  and of a sync frame,
- **stall at** a number of bytes: let each connection's first bytes through, then hold
  the rest until the link is healed, so that a sender killed meanwhile has surely not
  handed its whole stream to the kernel (its socket buffers and the proxy's being
  smaller than what is held back).

Every random choice comes from the ``random.Random`` it is given, so a campaign's
schedule is replayed from its seed (the timing of the nodes is not).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

CHUNK = 64 * 1024
#: the receive buffer of a connection to the target under ``stall_at`` (fixed, not grown
#: by the kernel): what the target can send beyond the held bytes is this, its own
#: send buffer and the proxy's stream buffer
STALL_BUFFER = 128 * 1024
#: A chunk held back to be sent after the next one goes out alone after this long
#: (a stream that has nothing more to say must not hang on the proxy).
REORDER_WAIT = 0.05


@dataclass(frozen=True, slots=True)
class Faults:
    """What a link does to the bytes crossing it. Probabilities are per chunk, except
    ``cut``, per connection."""

    refuse: bool = False
    stall: bool = False
    #: at most this many seconds added before each chunk
    delay: float = 0.0
    split: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    cut: float = 0.0
    #: cut every connection after exactly this many bytes (both ways), whatever ``cut``
    cut_at: int | None = None
    #: hold every byte of a connection after about this many (both ways: the chunk that
    #: crosses it goes on) until the link is healed
    stall_at: int | None = None

    def describe(self) -> str:
        if self.refuse:
            return "refuse"
        if self.stall:
            return "stall"
        parts = [
            f"{name} {value:g}"
            for name, value in (
                ("delay", self.delay),
                ("split", self.split),
                ("dup", self.duplicate),
                ("reorder", self.reorder),
                ("cut", self.cut),
                ("cut at", self.cut_at or 0),
                ("stall at", self.stall_at or 0),
            )
            if value
        ]
        return ", ".join(parts) or "clean"


CLEAN = Faults()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a firewall that refuses would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    #: bytes (both ways) left before the connection is cut, or None
    budget: int | None
    #: bytes (both ways) that have crossed it
    crossed: int = 0
    closed: bool = False
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            for writer in (self.client, self.upstream):
                writer.transport.abort()


class FaultProxy:
    """Listens on 127.0.0.1 (a port chosen by the system) and forwards every connection
    to ``target``, with the faults set by :meth:`set`."""

    def __init__(self, target: tuple[str, int], rng: random.Random, name: str = "") -> None:
        self.target = target
        self.rng = rng
        self.name = name
        self.faults = CLEAN
        self.counts: Counter[str] = Counter()
        self._healed = asyncio.Event()
        self._healed.set()
        self._open: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._open):
            conn.abort()
        pumps = [t for conn in list(self._open) for t in conn.pumps]
        if pumps:
            await asyncio.wait(pumps, timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def set(self, faults: Faults) -> None:
        """Change the link's faults now: refusing cuts the open connections; leaving a
        stall lets the held bytes go on."""
        self.faults = faults
        if faults.refuse:
            for conn in list(self._open):
                conn.abort()
                self.counts["cut by a partition"] += 1
        if faults.stall or faults.stall_at is not None:
            self._healed.clear()
        else:
            self._healed.set()

    def _cut_after(self) -> int | None:
        """Bytes before a cut, log-uniform from 1 to 1 MB: in the TLS handshake as often
        as in the middle of a large stream."""
        if self.faults.cut_at is not None:
            return self.faults.cut_at
        if self.faults.cut and self.rng.random() < self.faults.cut:
            return int(math.exp(self.rng.uniform(0.0, math.log(1_000_000))))
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["connections"] += 1
        if self.faults.refuse:
            self.counts["refused"] += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await self._dial()
        except OSError:
            self.counts["target down"] += 1
            _reset(writer)
            return
        conn = _Connection(writer, up_writer, self._cut_after())
        self._open.add(conn)
        conn.pumps = [
            asyncio.create_task(self._pump(reader, up_writer, conn)),
            asyncio.create_task(self._pump(up_reader, writer, conn)),
        ]
        try:
            await asyncio.gather(*conn.pumps, return_exceptions=True)
        finally:
            conn.abort()
            self._open.discard(conn)

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.faults.stall_at is None:
            return await asyncio.open_connection(*self.target)
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALL_BUFFER)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.target)
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: _Connection
    ) -> None:
        rng = self.rng
        held: bytes | None = None
        try:
            while not conn.closed:
                if held is not None:
                    try:
                        data = await asyncio.wait_for(src.read(CHUNK), REORDER_WAIT)
                    except TimeoutError:
                        dst.write(held)  # nothing came after it: it goes on in order
                        held = None
                        await dst.drain()
                        continue
                else:
                    data = await src.read(CHUNK)
                if conn.closed:
                    return
                if not data:
                    if held is not None:
                        dst.write(held)
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                conn.crossed += len(data)
                if not self._healed.is_set() and (
                    self.faults.stall_at is None or conn.crossed > self.faults.stall_at
                ):
                    self.counts["stalled chunks"] += 1
                    await self._healed.wait()  # held until the link heals
                if conn.closed:
                    return
                faults = self.faults
                if faults.delay:
                    await asyncio.sleep(rng.uniform(0.0, faults.delay))
                if conn.budget is not None:
                    if conn.budget <= len(data):
                        dst.write(data[: conn.budget])
                        with contextlib.suppress(ConnectionError):
                            await dst.drain()
                        self.counts["cut mid-stream"] += 1
                        conn.abort()
                        return
                    conn.budget -= len(data)
                if held is None and faults.reorder and rng.random() < faults.reorder:
                    held = data
                    continue
                if faults.split and rng.random() < faults.split and len(data) > 1:
                    self.counts["split"] += 1
                    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 4)))
                    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
                        dst.write(data[a:b])
                        await dst.drain()
                else:
                    dst.write(data)
                if faults.duplicate and rng.random() < faults.duplicate:
                    self.counts["duplicated"] += 1
                    dst.write(data)
                if held is not None:
                    self.counts["reordered"] += 1
                    dst.write(held)
                    held = None
                await dst.drain()
        except (ConnectionError, OSError):
            conn.abort()
