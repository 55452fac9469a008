"""Moving a sync stream's bytes (docs/PROTOCOL.md §10.3, §10.4): into a session and its
batches into the store, and frames out in writes of about CHUNK bytes; both decoded or
coded when the two nodes agreed on a content coding (node/coding.py), and counted as
they cross the wire.

The session (``protocol.session``) says what the bytes mean and which frames make a
batch; here each batch is checked on the other cores (decode, keys, signatures:
libsodium releases the GIL) while the batch before it is placed on the event loop's
thread, so checking and placing overlap; batches are still placed one after another,
in the order they came. A stream that breaks off keeps its whole frames.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence

from node import coding
from node.service import Node, check_many
from node.sync_base import CHUNK, Stats, Sync
from protocol import session as sessions
from protocol import sync as proto
from protocol.envelope import Event
from protocol.errors import InvalidEvent, SyncError


class Intake:
    """The batches of one incoming stream, as its session gives them."""

    def __init__(self, sync: Sync, session: sessions.Session, stats: Stats) -> None:
        self.sync, self.session, self.stats = sync, session, stats
        #: the batch being checked
        self.checking: tuple[asyncio.Future[list[Event | InvalidEvent]], sessions.Batch] | None
        self.checking = None

    async def add(self, batch: sessions.Batch | None) -> None:
        """Start checking ``batch``, then place the one before it meanwhile."""
        if batch is None:
            return
        future = asyncio.ensure_future(asyncio.to_thread(check_many, batch.raws))
        try:
            # more is coming: the items may follow the log after the stream
            await self.settle(behind=True)
        except BaseException:
            future.cancel()
            raise
        self.checking = (future, batch)

    async def finish(self, last: sessions.Batch | None = None) -> None:
        """Check and place ``last``, and whatever is still being checked."""
        await self.add(last)
        await self.settle()

    def abandon(self) -> None:
        """The stream broke: a batch still being checked is dropped."""
        if self.checking is not None:
            self.checking[0].cancel()
            self.checking = None

    async def settle(self, *, behind: bool = False) -> None:
        """Place the batch that was being checked: what the session says to place of it
        (§10.4: what came before an invalid event stays; it and the rest do not); with
        ``behind``, its items may follow later (node/projector.py "Items behind the
        log")."""
        if self.checking is None:
            return
        future, batch = self.checking
        self.checking = None
        checked = self.session.checked(batch, await future)
        result = self.sync.node.ingest_checked(checked.events, behind=behind)
        self.stats.add(result)
        if checked.breach is not None:
            raise checked.breach
        if (result.new or result.forks) and self.sync.on_grew is not None:
            self.sync.on_grew()
        if self.sync.on_progress is not None:
            self.sync.on_progress(self.stats.peer, self.stats.received)


Read = Callable[[], Awaitable[bytes]]


async def _more(session: sessions.Session, read: Read, stats: Stats, timeout: float) -> None:
    """The next piece of the stream, into the session (b"": it ended)."""
    try:
        # not asyncio.wait_for: Python 3.11's swallows a cancellation (Ctrl-C, a stop)
        # that comes as the read finishes, and the round would run on
        async with asyncio.timeout(timeout):
            chunk = await read()
    except TimeoutError:
        raise SyncError(f"the peer sent nothing for {timeout:.0f} s") from None
    session.receive_data(chunk)


def reader(read: Read, coded: str | None, stats: Stats) -> Read:
    """A body's bytes as its session takes them: decoded from ``coded`` (a content
    coding, or None), at most 64 KiB at a time; the bytes that came over the wire are
    counted in ``stats``."""

    async def counted() -> bytes:
        data = await read()
        stats.bytes_received += len(data)
        return data

    return coding.Decoding(counted, coded).read


async def read_hello(
    session: sessions.Server, read: Read, stats: Stats, timeout: float
) -> proto.Hello:
    """A /sync request's hello (the session refuses anything else first)."""
    while True:
        item = session.next_event()
        if isinstance(item, proto.Hello):
            return item
        assert item is sessions.NEED_DATA  # a hello comes first, or a refusal
        await _more(session, read, stats, timeout)


async def take_in(
    sync: Sync, session: sessions.Session, read: Read, stats: Stats, timeout: float
) -> proto.End:
    """Take a stream into ``session`` until its end frame, placing its batches as they
    come (the client's pull and the answer to its push; the server's push). A stream
    that breaks off (reset, TLS error, stall, frame cut in half, a breach, the round's
    time limit) first places the whole frames that came, so that the next round goes on
    from there even over a link that never carries a whole batch (§10.3, Resuming)."""
    intake = Intake(sync, session, stats)
    try:
        while True:
            try:
                item = session.next_event()
                if item is sessions.NEED_DATA:
                    await _more(session, read, stats, timeout)
                    continue
            except Exception:
                await intake.finish(session.salvage())
                raise
            if isinstance(item, sessions.Batch):
                await intake.add(item)
            elif isinstance(item, proto.End):
                await intake.finish()
                return item
    except asyncio.CancelledError:
        # The round's time limit (or a stop): keep the whole frames that came, as for
        # a broken connection, so a slow link still makes progress; then go on being
        # cancelled.
        with contextlib.suppress(Exception):
            await asyncio.shield(intake.finish(session.salvage()))
        raise
    finally:
        intake.abandon()


async def catch_up(node: Node) -> None:
    """The items follow the log after an intake stored batches without them
    (node/projector.py "Items behind the log"): a transaction of a few thousand events
    at a time, the event loop's other work running between them. Called after a round,
    not in it: a round's time limit is for the peer's transfer, and a catch-up of a
    million events takes minutes of its own. Stopped meanwhile, it leaves the rest to
    the next call, or to the next open of the node."""
    while node.projector.held_upto() is not None:
        with node.store.write():
            node.projector.catch_up_step()
        await asyncio.sleep(0)


def pack(frames: Iterator[bytes], stats: Stats) -> Iterator[bytes]:
    """Group frames into writes of about CHUNK bytes, counting the events sent."""
    pending: list[bytes] = []
    size = 0
    for data in frames:
        pending.append(data)
        size += len(data)
        if data[:1] and size >= CHUNK:
            stats.sent += sum(1 for p in pending if _is_event(p))
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        stats.sent += sum(1 for p in pending if _is_event(p))
        yield b"".join(pending)


class Outgoing:
    """A body's writes, from its writes of frames (``pack``): coded with the first of
    ``offered`` when its first write shows that it pays (node/coding.py), as they are
    otherwise; what goes over the wire is counted in ``stats``. ``coding`` is the
    Content-Encoding to send (None: none), known before the first write goes."""

    def __init__(self, writes: Iterator[bytes], offered: Sequence[str], stats: Stats) -> None:
        self._encoding, self._head = coding.start(next(writes, b""), offered)
        self.coding = self._encoding.coding if self._encoding is not None else None
        self._writes, self._stats = writes, stats

    def __iter__(self) -> Iterator[bytes]:
        for data in self._coded():
            if data:
                self._stats.bytes_sent += len(data)
                yield data

    def _coded(self) -> Iterator[bytes]:
        yield self._head
        encoding = self._encoding
        for data in self._writes:
            yield data if encoding is None else encoding.encode(data)
        if encoding is not None:
            yield encoding.end()


def _is_event(data: bytes) -> bool:
    size = {0xC4: 1, 0xC5: 2, 0xC6: 4}.get(data[0], 0)
    return data[1 + size : 2 + size] in (proto.EVENT, proto.FORK)
