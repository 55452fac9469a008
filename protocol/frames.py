"""Frames, the unit of both sync streams (docs/PROTOCOL.md §10.2) and bundles (§9.1):
each one msgpack ``bin`` in its shortest form. This is the one reader of them.

A peer or a file controls every byte, so the reader refuses what is wrong before it
buffers a frame's content: a first byte that is not a bin header, a length over the
limit, and (in a *typed* stream, where a frame's first byte says what it holds) an
empty frame or an unknown type. Each format words these refusals its own way (the
messages are part of §9 and §10.2), so the reader raises a :class:`FrameError` that
says which rule was broken, and the format turns it into its own error.
"""

from __future__ import annotations

from collections.abc import Mapping

#: bin 8, bin 16, bin 32: the header's first byte and the bytes of its length
BIN_SIZES = {0xC4: 1, 0xC5: 2, 0xC6: 4}
#: The least length each header is the shortest form for (msgpack, §2: bin 8 below
#: 256, bin 16 below 65,536, bin 32 beyond).
SHORTEST = {0xC4: 0, 0xC5: 256, 0xC6: 65536}

# What a FrameError says was wrong.
NOT_BIN = "not-bin"
EMPTY = "empty"
UNKNOWN_TYPE = "unknown-type"
TOO_LONG = "too-long"
NOT_SHORTEST = "not-shortest"
CUT = "cut"


class FrameError(Exception):
    """A frame breaks a rule: ``problem`` is one of the names above; ``first`` is the
    first byte (NOT_BIN), ``kind`` the type byte (typed streams), ``length`` and
    ``limit`` the content's length and its limit (TOO_LONG)."""

    def __init__(
        self, problem: str, *, first: int = 0, kind: bytes = b"", length: int = 0, limit: int = 0
    ) -> None:
        super().__init__(problem)
        self.problem, self.first, self.kind = problem, first, kind
        self.length, self.limit = length, limit


class FrameReader:
    """Feed bytes in any pieces; take whole frames out one at a time with :meth:`next`.

    ``limit`` is either the most bytes a frame may hold (a bundle, which changes it as
    it reads), or, for a typed stream, each type byte's limit on the bytes after it
    (sync): then a frame is looked at once the byte after its length has arrived."""

    def __init__(self, limit: int | Mapping[bytes, int]) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes fed but not yet taken out as whole frames."""
        return len(self._buffer)

    def next(self) -> tuple[bytes, int] | None:
        """The next whole frame (header and content) and where its content starts, or
        None until it has all come; :class:`FrameError` if it breaks a rule."""
        buf = self._buffer
        if not buf:
            return None
        first = buf[0]
        size = BIN_SIZES.get(first)
        if size is None:
            raise FrameError(NOT_BIN, first=first)
        limit = self.limit
        typed = not isinstance(limit, int)
        if len(buf) < 1 + size + typed:
            return None
        length = int.from_bytes(buf[1 : 1 + size], "big")
        if isinstance(limit, int):
            if length > limit:
                raise FrameError(TOO_LONG, length=length, limit=limit)
        else:
            if length == 0:
                raise FrameError(EMPTY)
            kind = bytes(buf[1 + size : 2 + size])
            most = limit.get(kind)
            if most is None:
                raise FrameError(UNKNOWN_TYPE, kind=kind)
            if length - 1 > most:
                raise FrameError(TOO_LONG, kind=kind, length=length - 1, limit=most)
        end = 1 + size + length
        if len(buf) < end:
            return None
        # The same test as "re-encoding the content gives these bytes" (§2), without
        # copying the content once more.
        if length < SHORTEST[first]:
            raise FrameError(NOT_SHORTEST)
        raw = bytes(buf[:end])
        del buf[:end]
        return raw, 1 + size

    def finish(self) -> None:
        """Call at the end of the input: a frame begun and not whole is refused."""
        if self._buffer:
            raise FrameError(CUT)
