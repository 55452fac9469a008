"""Content coding of sync streams (docs/PROTOCOL.md §10.2, "Content coding"): the pull's
answer and the push's body go compressed with zstd (RFC 8878, HTTP's ``zstd`` coding,
RFC 9659) between nodes that both speak it, when it pays.

- **Who speaks it.** A full hello lists the codings its sender decodes (``codings``);
  the client also names them in ``Accept-Encoding``. The server codes its answer only
  with a coding both name: older nodes list none in their hello, and their HTTP
  library sends ``Accept-Encoding: gzip, deflate`` (``zstd`` too on Python 3.14)
  without decoding anything, so the header alone proves nothing. The client codes its
  push only with a coding the server's hello listed.
- **When it pays.** The sender decides from the body's first write (up to about 64 KiB
  of frames, or all of a shorter body): a body under 512 bytes is never coded (an
  in-sync round stays as it was), nor one whose first write does not shrink by a
  tenth: ciphertext and hashes do not (a stream of sealed contacts of about 1 KB
  still does, by an eighth, from their envelopes; of 1.5 KB, not). A sealed event's
  plaintext is never in a coded stream, so coding leaks nothing of it.
- **Streaming.** Each write is coded in slices of 8 KiB, each ended by a flushed
  block, so the receiver decodes every whole slice as it arrives: a broken stream
  keeps the whole frames of what came (§10.3, Resuming), as an uncoded one does.
- **Limits after decoding.** The receiver decodes at most 64 KiB at a time, feeding
  its frame reader, so a frame, a batch and a request are bounded by the same limits
  as an uncoded body (§10.4), and memory by them plus the coding's window (8 MiB at
  most, RFC 9659). A body that decodes to more than 64 KiB plus 1024 times its coded
  bytes is refused: each event carries 128 bytes of hashes and signature that no
  coding shrinks, so a real stream cannot expand more than 512-fold. A body that does not
  decode, or ends inside a zstd frame, is refused like a frame cut in half.

zstd comes from the standard library's ``compression.zstd`` (Python 3.14) or its
backport (``backports.zstd``); without either, this node lists no coding and works as
an older node does.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from protocol.errors import SyncError

zstd: ModuleType | None
try:
    if sys.version_info >= (3, 14):  # pragma: no cover - the standard library's
        from compression import zstd
    else:
        from backports import zstd
except ImportError:  # pragma: no cover - a node without it speaks no coding
    zstd = None

ZSTD = "zstd"
#: The codings this node decodes and sends, in its order of preference.
SPOKEN: tuple[str, ...] = (ZSTD,) if zstd is not None else ()
#: A body whose first write is shorter than this is sent as it is.
SMALLEST = 512
#: ... and one whose first write coded is larger than this share of it.
PAYS = 0.9
#: Plain bytes coded between two flushed blocks: what a receiver may not be able to
#: decode yet when a stream breaks off (8 KiB: the ratio is within 1% of one block per
#: 64 KiB write; docs/BENCHMARKS.md, "Slow link").
FLUSH_EVERY = 8 * 1024
#: zstd level: 3 (its default) codes report text to 0.36 of its size at about 200 MB/s
#: on one core here; level 1 to 0.39, gzip (level 6) to 0.37 at 40 MB/s.
LEVEL = 3
#: The largest window a coded body may use (RFC 9659: 8 MB); ours uses 2 MiB.
WINDOW_LOG_MAX = 23
WINDOW_LOG = 21
#: Decoded bytes handed on at once.
STEP = 64 * 1024
#: A coded body may expand at most this many times (past SLACK decoded bytes).
MAX_EXPANSION = 1024
SLACK = 64 * 1024

Read = Callable[[], Awaitable[bytes]]


def accepted(header: str | None) -> set[str]:
    """The codings an ``Accept-Encoding`` header accepts (those with a q above 0)."""
    names = set()
    for item in (header or "").split(","):
        name, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name.strip() and q > 0:
            names.add(name.strip().lower())
    return names


def common(theirs: Iterable[str], ours: Sequence[str], header: str | None = None) -> list[str]:
    """The codings of ``ours`` (in our order) that the peer listed in its hello and,
    when ``header`` is given, that its ``Accept-Encoding`` accepts."""
    listed = set(theirs)
    if header is not None:
        listed &= accepted(header)
    return [c for c in ours if c in listed]


def coding_of(header: str | None, spoken: Sequence[str]) -> str | None:
    """The coding a ``Content-Encoding`` header names (None: identity); SyncError for
    one this node does not speak, or a chain of codings."""
    value = (header or "").strip().lower()
    if value in ("", "identity"):
        return None
    if value not in spoken:
        raise SyncError(f"a body in the content coding {value[:40]!r}, not decoded here")
    return value


class Encoding:
    """One outgoing body, coded: ``encode`` each write, then ``end``."""

    def __init__(self, coding: str) -> None:
        if coding != ZSTD or zstd is None:
            raise ValueError(f"this node does not code {coding!r}")
        self.coding = coding
        options = {
            zstd.CompressionParameter.compression_level: LEVEL,
            zstd.CompressionParameter.window_log: WINDOW_LOG,
        }
        self._zstd: Any = zstd
        self._compressor: Any = zstd.ZstdCompressor(options=options)

    def encode(self, data: bytes) -> bytes:
        """``data`` coded, every FLUSH_EVERY bytes of it ending a block the receiver can
        decode at once."""
        flush = self._zstd.ZstdCompressor.FLUSH_BLOCK
        view = memoryview(data)
        parts = [
            self._compressor.compress(view[i : i + FLUSH_EVERY], flush)
            for i in range(0, len(data), FLUSH_EVERY)
        ]
        return b"".join(parts)

    def end(self) -> bytes:
        """The end of the coded body (the end of its zstd frame)."""
        return bytes(self._compressor.flush(self._zstd.ZstdCompressor.FLUSH_FRAME))


def start(first: bytes, offered: Sequence[str]) -> tuple[Encoding | None, bytes]:
    """How to send a body whose first write is ``first``: coded with the first coding
    of ``offered`` when it pays, or as it is; and that first write, as it goes."""
    if not offered or len(first) < SMALLEST:
        return None, first
    encoding = Encoding(offered[0])
    coded = encoding.encode(first)
    if len(coded) > PAYS * len(first):
        return None, first
    return encoding, coded


class Decoding:
    """An incoming body decoded as it arrives: ``read()`` gives at most STEP bytes at a
    time, and b"" at its end, like aiohttp's ``readany`` (which it reads from)."""

    def __init__(self, read: Read, coding: str | None) -> None:
        self._read = read
        self.coding = coding
        #: bytes read, and bytes handed on, so far
        self.coded = self.decoded = 0
        self._decompressor: Any = None
        #: a zstd frame has begun and not ended
        self._inside = False

    async def read(self) -> bytes:
        if self.coding is None:
            data = await self._read()
            self.coded += len(data)
            self.decoded += len(data)
            return data
        while True:
            if self._pending():
                out = self._decode(b"")
            else:
                data = await self._read()
                self.coded += len(data)
                if not data:
                    if self._inside:
                        raise SyncError("the peer's coded body ended inside a zstd frame")
                    return b""
                out = self._decode(data)
            if out:
                return out

    def _pending(self) -> bool:
        """Output of what came already may follow: the decompressor stopped at STEP, or
        a frame ended with the next one's bytes after it."""
        d = self._decompressor
        if d is None:
            return False
        return bool(d.unused_data) if d.eof else not d.needs_input

    def _decode(self, data: bytes) -> bytes:
        d = self._decompressor
        if d is None or d.eof:
            # a new frame: a body is one or more (RFC 8878 §3)
            data = (d.unused_data if d is not None else b"") + data
            assert zstd is not None
            options = {zstd.DecompressionParameter.window_log_max: WINDOW_LOG_MAX}
            d = self._decompressor = zstd.ZstdDecompressor(options=options)
        allowed = min(STEP, MAX_EXPANSION * self.coded + SLACK - self.decoded)
        if allowed <= 0:
            raise SyncError(f"the peer's coded body expands more than {MAX_EXPANSION}-fold")
        self._inside = True
        try:
            out: bytes = d.decompress(data, allowed)
        except Exception as e:  # zstd's error
            raise SyncError(f"the peer's coded body does not decode ({e})") from None
        if d.eof:
            self._inside = bool(d.unused_data)
        self.decoded += len(out)
        return out
