"""Sneakernet bundles (docs/PROTOCOL.md §9): events in their wire form, in a file.

A bundle is ``MAGIC`` then frames, each one msgpack ``bin`` value in its shortest
form::

    header    canonical msgpack map: v, network, genesis, exporter, frontier,
              events (count), forks (count)
    event     one event's wire bytes      (header's ``events`` times)
    fork      one fork evidence event     (header's ``forks`` times)
    trailer   SHA-256(BUNDLE context || every byte before the trailer)

The trailer catches a truncated or altered file before anything in it is used; the
events themselves are then checked exactly as sync checks them. :class:`BundleReader`
is sans-I/O: the caller feeds it bytes and it returns what it has parsed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from protocol import encoding, frames, signed
from protocol.envelope import MAX_EVENT_SIZE
from protocol.errors import BadBundle, BadShape, EncodingError
from protocol.frames import FrameError, FrameReader
from protocol.frontier import Frontier
from protocol.kinds.base import has_version

MAGIC = b"COMMUNE-BUNDLE\x00\x01"
BUNDLE_CONTEXT = signed.BUNDLE
MAX_HEADER = 2 * 1024 * 1024
MAX_COUNT = 50_000_000


def frame(data: bytes) -> bytes:
    """One bin value in its shortest form."""
    return encoding.encode(data)


@dataclass(frozen=True, slots=True)
class BundleHeader:
    network: bytes
    genesis: bytes
    exporter: bytes
    frontier: Frontier
    events: int
    forks: int

    def encode(self) -> bytes:
        return encoding.encode(
            {
                "v": 1,
                "network": self.network,
                "genesis": self.genesis,
                "exporter": self.exporter,
                "frontier": self.frontier.to_value(),
                "events": self.events,
                "forks": self.forks,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> BundleHeader:
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise BadBundle(f"the bundle's header is damaged ({e.message})") from None
        if not isinstance(doc, dict) or not has_version(doc, 1):
            raise BadBundle("the bundle is of a version this code does not read")
        try:
            header = cls(
                doc["network"],
                doc["genesis"],
                doc["exporter"],
                Frontier.from_value(doc["frontier"]),
                doc["events"],
                doc["forks"],
            )
        except (KeyError, BadShape) as e:
            raise BadBundle(f"the bundle's header is damaged ({e})") from None
        for name, value in (("events", header.events), ("forks", header.forks)):
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                raise BadBundle(f"the bundle's header has a bad {name} count")
        for name, key in (("network", header.network), ("exporter", header.exporter)):
            if not isinstance(key, bytes) or len(key) != 32:
                raise BadBundle(f"the bundle's header has a bad {name} id")
        if not isinstance(header.genesis, bytes):
            raise BadBundle("the bundle's header has no genesis event")
        return header


def write(header: BundleHeader, events: Iterable[bytes], forks: Iterable[bytes]) -> Iterator[bytes]:
    """The bundle's bytes, in pieces (the caller writes them out)."""
    digest = hashlib.sha256(BUNDLE_CONTEXT)

    def out(data: bytes) -> bytes:
        digest.update(data)
        return data

    yield out(MAGIC)
    yield out(frame(header.encode()))
    counts = [0, 0]
    for index, group in enumerate((events, forks)):
        for raw in group:
            counts[index] += 1
            yield out(frame(raw))
    if counts != [header.events, header.forks]:
        raise ValueError("the header's counts do not match what was written")
    yield frame(digest.digest())


@dataclass(frozen=True, slots=True)
class Item:
    """One parsed part of a bundle: ``kind`` is "header", "event", "fork" or "end"."""

    kind: str
    data: bytes = b""
    header: BundleHeader | None = None


class BundleReader:
    """Feed bytes in any pieces; get back the parts in order. Raises :class:`BadBundle`
    at the first thing wrong, naming it."""

    def __init__(self) -> None:
        #: the bytes before the magic has all come; None once it has
        self._start: bytearray | None = bytearray()
        self._frames = FrameReader(MAX_HEADER)
        self._digest = hashlib.sha256(BUNDLE_CONTEXT)
        self._header: BundleHeader | None = None
        self._seen = 0
        self._done = False

    def feed(self, data: bytes) -> list[Item]:
        if self._done and data:
            raise BadBundle("the bundle has bytes after its end")
        items: list[Item] = []
        if self._start is not None:
            self._start += data
            if len(self._start) < len(MAGIC):
                return items
            if bytes(self._start[: len(MAGIC)]) != MAGIC:
                raise BadBundle("this is not a Commune bundle (it does not start like one)")
            self._digest.update(MAGIC)
            data = bytes(self._start[len(MAGIC) :])
            self._start = None
        self._frames.feed(data)
        while not self._done:
            parsed = self._frame()
            if parsed is None:
                break
            payload, raw = parsed
            items.append(self._item(payload, raw))
        if self._done and self._frames.pending:
            raise BadBundle("the bundle has bytes after its end")
        return items

    def finish(self) -> None:
        """Call at the end of the input."""
        if not self._done:
            raise BadBundle("the bundle is truncated: it ends before its checksum")

    def _frame(self) -> tuple[bytes, bytes] | None:
        """The next frame's content and its whole bytes (the checksum covers them)."""
        try:
            parsed = self._frames.next()
        except FrameError as e:
            if e.problem == frames.NOT_BIN:
                raise BadBundle(
                    f"the bundle is damaged: a frame starts with byte 0x{e.first:02x}"
                ) from None
            if e.problem == frames.TOO_LONG:
                raise BadBundle(
                    f"the bundle has a frame of {e.length} bytes; at most {e.limit}"
                ) from None
            raise BadBundle(
                "the bundle is damaged: a frame's length is not in its shortest form"
            ) from None
        if parsed is None:
            return None
        raw, start = parsed
        return raw[start:], raw

    def _item(self, payload: bytes, raw: bytes) -> Item:
        if self._header is None:
            self._digest.update(raw)
            self._header = BundleHeader.decode(payload)
            self._frames.limit = MAX_EVENT_SIZE
            return Item("header", header=self._header)
        expected = self._header.events + self._header.forks
        if self._seen < expected:
            self._digest.update(raw)
            self._seen += 1
            return Item("event" if self._seen <= self._header.events else "fork", payload)
        if payload != self._digest.digest():
            raise BadBundle(
                "the bundle is truncated or altered: its checksum does not match its contents"
            )
        self._done = True
        return Item("end")


def header_value(header: BundleHeader) -> dict[str, Any]:
    return {
        "network": header.network.hex(),
        "exporter": header.exporter.hex(),
        "events": header.events,
        "forks": header.forks,
        "authors": len(header.frontier),
    }
