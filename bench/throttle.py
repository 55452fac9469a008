"""A throttling TCP relay on loopback, for the slow-link and in-sync benchmarks.

Linux ``tc netem`` would be the natural tool, but this container's kernel has no netem
qdisc ("Specified qdisc kind is unknown", even inside a fresh network namespace), so
the link is modelled here instead. Each direction is a link of its own, shared by every
connection through the relay (as one real uplink is):

- **bandwidth**: bytes leave one after another at ``rate`` bits per second;
- **delay**: each byte arrives ``delay`` seconds after it left (one way; the round trip
  is twice this), and a new connection waits one round trip before carrying data (the
  TCP handshake the loopback connect skipped);
- **buffer**: at most ``buffer`` bytes wait in a direction before the relay stops
  reading from the sender, so the sender feels the slow link as back-pressure.

It counts the bytes carried each way (the TCP payload: TLS records, handshake
included; not IP or TCP headers) and can cut one connection once, mid-transfer, after a
given number of bytes towards the client.

    relay = Relay("127.0.0.1", server_port, rate=64_000, delay=0.3)
    port = await relay.start()
    ...  # dial 127.0.0.1:port instead of the server
    await relay.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

PIECE = 512


@dataclass
class Link:
    """One direction: when it is next free to send, and the bytes it carried."""

    rate: float | None
    delay: float
    free_at: float = 0.0
    carried: int = 0

    def schedule(self, size: int) -> float:
        """When a piece of ``size`` bytes handed over now arrives at the other end."""
        now = time.monotonic()
        if self.rate is None:
            return now + self.delay
        self.free_at = max(self.free_at, now) + size * 8 / self.rate
        return self.free_at + self.delay


@dataclass
class Relay:
    target_host: str
    target_port: int
    #: bits per second each way (None: as fast as loopback)
    rate: float | None = None
    #: seconds one way
    delay: float = 0.0
    buffer: int = 16 * 1024
    #: cut the connection carrying the byte at which the down link's total reaches this
    #: (once); None: never
    cut_down_at: int | None = None
    up: Link = field(init=False)
    down: Link = field(init=False)
    connections: int = 0
    cuts: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.up = Link(self.rate, self.delay)
        self.down = Link(self.rate, self.delay)

    @property
    def bytes_up(self) -> int:
        """Bytes carried from clients to the server."""
        return self.up.carried

    @property
    def bytes_down(self) -> int:
        """Bytes carried from the server to clients."""
        return self.down.carried

    def reset_counts(self) -> None:
        self.up.carried = self.down.carried = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        s_writer: asyncio.StreamWriter | None = None
        try:
            await asyncio.sleep(2 * self.delay)  # the TCP handshake over the slow link
            s_reader, s_writer = await asyncio.open_connection(self.target_host, self.target_port)
            writers = (c_writer, s_writer)
            pipes = [
                asyncio.create_task(self._pipe(c_reader, s_writer, self.up, writers)),
                asyncio.create_task(self._pipe(s_reader, c_writer, self.down, writers)),
            ]
            try:
                await asyncio.gather(*pipes)
            finally:
                for p in pipes:
                    p.cancel()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.transport.abort()
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: Link,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        """Read from one side, deliver to the other on the link's schedule."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(
            max(1, self.buffer // PIECE)
        )

        async def deliver() -> None:
            # Once broken, keep taking from the queue so that the reader never blocks.
            broken = False
            while (item := await queue.get()) is not None:
                at, data = item
                if broken:
                    continue
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if (
                    link is self.down
                    and self.cut_down_at is not None
                    and link.carried + len(data) >= self.cut_down_at
                ):
                    self.cut_down_at = None
                    self.cuts += 1
                    for w in both:
                        w.transport.abort()
                    broken = True
                    continue
                try:
                    writer.write(data)
                    await writer.drain()
                except (ConnectionError, OSError, RuntimeError):
                    broken = True
                    continue
                link.carried += len(data)
            if not broken:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(64 * 1024):
                for i in range(0, len(data), PIECE):
                    piece = data[i : i + PIECE]
                    await queue.put((link.schedule(len(piece)), piece))
            await queue.put(None)
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
