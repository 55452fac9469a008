"""Sync messages (docs/PROTOCOL.md §10), sans-I/O: what two members say to each other.

A sync round, started by one node (the client) against another (the server):

1. ``pull``: the client sends its *hello* (network, frontier, fork evidence ids). The
   server answers with its own hello, then a stream of the events the client lacks,
   oldest first in the server's log order (which places every admission before the
   events that depend on it), then the fork evidence the client lacks, then *end*.
2. ``push``, only when the server's hello shows it lacks something: the client streams
   what the server lacks the same way (and its own events where the pull brought fork
   evidence), and the server answers with its own events where the push brought fork
   evidence, then *end*: both ends learn of a fork.

Every message is a frame: one msgpack ``bin`` in its shortest form (as in bundles,
§9) holding one type byte and a body. Everything here is bounded: a peer controls the
bytes, so every size has a limit and breaking one is a :class:`SyncError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol import encoding, frames
from protocol.envelope import MAX_EVENT_SIZE
from protocol.errors import BadShape, EncodingError, SyncError
from protocol.frontier import MAX_AUTHORS, Frontier

VERSION = 1
#: what a hello's summary hashes first (§10.3)
SUMMARY_LABEL = "commune/frontier-summary/v1"
HELLO = b"H"
EVENT = b"E"
FORK = b"F"
END = b"Z"
#: A hello names at most MAX_AUTHORS authors (about 75 bytes each) and MAX_FORK_IDS forks.
MAX_FORK_IDS = 4096
#: A hello's ``codings`` (§10.2, "Content coding"): the first MAX_CODINGS names are
#: read, each a token of at most MAX_CODING_NAME ASCII letters, digits and - . _
MAX_CODINGS = 8
MAX_CODING_NAME = 32
MAX_HELLO = 64 + MAX_AUTHORS * 80 + MAX_FORK_IDS * 40
MAX_END = 1024
#: The receiver commits every batch on its own: at most this many events, or bytes.
#: (Each commit is an fsync: 256 events a batch spent a sixth of a large transfer on
#: them; a broken stream still keeps every whole frame that came.)
BATCH_EVENTS = 2000
BATCH_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Hello:
    """A node's hello: its network, frontier and fork evidence ids. A *short* hello
    (``digest`` set, frontier and forks empty) carries only :meth:`summary` of them:
    a client that found a peer in step at the end of the last round sends one, and an
    answer with the same digest closes an in-sync round in one small exchange (§10.3).
    A full hello says ``short``: its sender understands short hellos (older nodes
    ignore the key, and are never sent one); and ``codings``: the HTTP content codings
    its sender decodes in a sync body (§10.2; absent in older nodes' hellos)."""

    network: bytes
    frontier: Frontier
    forks: frozenset[bytes] = frozenset()
    #: the summary a short hello carries; None in a full hello
    digest: bytes | None = None
    #: a full hello's sender understands short hellos
    accepts_short: bool = True
    #: the content codings a full hello's sender decodes, in its order of preference
    codings: tuple[str, ...] = ()

    def summary(self) -> bytes:
        """SHA-256 of the network, the frontier and the fork ids: two nodes with the same
        summary hold the same heads and the same fork evidence."""
        if self.digest is not None:
            return self.digest
        value = [SUMMARY_LABEL, self.network, self.frontier.to_value(), sorted(self.forks)]
        return hashlib.sha256(encoding.encode(value)).digest()

    def short(self) -> Hello:
        return Hello(self.network, Frontier({}), frozenset(), self.summary())

    def encode(self) -> bytes:
        if self.digest is not None:
            return encoding.encode({"v": VERSION, "network": self.network, "digest": self.digest})
        doc: dict[str, Any] = {
            "v": VERSION,
            "network": self.network,
            "frontier": self.frontier.to_value(),
            "forks": sorted(self.forks)[:MAX_FORK_IDS],
            "short": self.accepts_short,
        }
        if self.codings:
            doc["codings"] = list(self.codings)
        return encoding.encode(doc)

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise SyncError(f"the peer's hello is not canonical ({e.message})") from None
        if not isinstance(doc, dict) or type(doc.get("v")) is not int:
            raise SyncError("the peer's hello is not a map with a version")
        if doc["v"] != VERSION:
            raise SyncError(f"the peer speaks sync version {doc['v']}; this node speaks {VERSION}")
        network, forks = doc.get("network"), doc.get("forks")
        if not isinstance(network, bytes) or len(network) != 32:
            raise SyncError("the peer's hello has no network id")
        if "digest" in doc:
            digest = doc["digest"]
            if not isinstance(digest, bytes) or len(digest) != 32:
                raise SyncError("the peer's short hello has no 32-byte digest")
            if "frontier" in doc or "forks" in doc:
                raise SyncError("the peer's hello carries both a digest and a frontier")
            return cls(network, Frontier({}), frozenset(), digest)
        if (
            not isinstance(forks, list)
            or len(forks) > MAX_FORK_IDS
            or not all(isinstance(f, bytes) and len(f) == 32 for f in forks)
        ):
            raise SyncError(
                f"the peer's hello lists more than {MAX_FORK_IDS} fork ids, or bad ones"
            )
        try:
            frontier = Frontier.from_value(doc.get("frontier"))
        except BadShape as e:
            raise SyncError(f"the peer's frontier is refused: {e.message}") from None
        return cls(
            network,
            frontier,
            frozenset(forks),
            accepts_short=doc.get("short") is True,
            codings=_codings(doc.get("codings")),
        )


def _codings(value: object) -> tuple[str, ...]:
    """A hello's ``codings``, read leniently as ``short`` is (a later version may list
    names this one does not know): the well-formed names of the first MAX_CODINGS."""
    if not isinstance(value, list):
        return ()
    return tuple(
        name.lower()
        for name in value[:MAX_CODINGS]
        if isinstance(name, str)
        and 0 < len(name) <= MAX_CODING_NAME
        and all(c.isascii() and (c.isalnum() or c in "-._") for c in name)
    )


@dataclass(frozen=True, slots=True)
class End:
    events: int
    forks: int

    def encode(self) -> bytes:
        return encoding.encode({"events": self.events, "forks": self.forks})

    @classmethod
    def decode(cls, data: bytes) -> End:
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise SyncError(f"the peer's end of stream is not canonical ({e.message})") from None
        if not isinstance(doc, dict) or not all(
            type(doc.get(k)) is int and doc[k] >= 0 for k in ("events", "forks")
        ):
            raise SyncError("the peer's end of stream is malformed")
        return cls(doc["events"], doc["forks"])


def frame(kind: bytes, body: bytes) -> bytes:
    return encoding.encode(kind + body)


_LIMITS = {HELLO: MAX_HELLO, EVENT: MAX_EVENT_SIZE, FORK: MAX_EVENT_SIZE, END: MAX_END}


class FrameReader:
    """Feed bytes in any pieces; take out (type, body) pairs: the sync stream's side of
    the one frame reader (protocol/frames.py), in the words of §10.2. Refuses an
    unknown type, a frame over its type's limit, or a length not in its shortest form,
    before the frame's body is buffered."""

    def __init__(self) -> None:
        self._frames = frames.FrameReader(_LIMITS)

    def receive(self, data: bytes) -> None:
        self._frames.feed(data)

    def next(self) -> tuple[bytes, bytes] | None:
        """The next whole frame's type and body, or None until it has all come."""
        try:
            parsed = self._frames.next()
        except frames.FrameError as e:
            raise SyncError(
                _FRAME_WORDS[e.problem].format(e=e, kind=e.kind.decode("ascii", "replace"))
            ) from None
        if parsed is None:
            return None
        raw, start = parsed
        return raw[start : start + 1], raw[start + 1 :]

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Every whole frame the bytes so far complete."""
        self._frames.feed(data)
        out: list[tuple[bytes, bytes]] = []
        while (parsed := self.next()) is not None:
            out.append(parsed)
        return out

    def finish(self) -> None:
        """Call at the end of the input."""
        if self._frames.pending:
            raise SyncError(_FRAME_WORDS[frames.CUT])


#: The reader's refusals in the words of §10.2.
_FRAME_WORDS = {
    frames.NOT_BIN: "a frame starts with byte 0x{e.first:02x}, not a bin header",
    frames.EMPTY: "an empty frame (every frame holds at least its type)",
    frames.UNKNOWN_TYPE: "a frame of unknown type {e.kind!r}",
    frames.TOO_LONG: "a {kind} frame of {e.length} bytes; at most {e.limit}",
    frames.NOT_SHORTEST: "a frame's length is not in its shortest form",
    frames.CUT: "the stream ended inside a frame",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send a peer, from this node's heads and the peer's hello."""

    #: authors whose events the peer lacks, with the first seq it lacks
    start: Mapping[bytes, int]
    #: (author, seq) where the peer holds another event than ours: ours is evidence
    diverged: Sequence[tuple[bytes, int]]

    @property
    def empty(self) -> bool:
        return not self.start and not self.diverged


def plan(
    ours: Mapping[bytes, tuple[int, bytes]],
    theirs: Frontier,
    our_id_at: Any,
) -> Plan:
    """``ours``: this node's heads; ``our_id_at(author, seq)`` gives our event id at a
    seq (or None). The peer lacks seqs above its head; where its head differs from our
    event at that seq, the feeds diverged (a fork) and ours goes as evidence."""
    start: dict[bytes, int] = {}
    diverged: list[tuple[bytes, int]] = []
    for author, (seq, head_id) in ours.items():
        their_seq = theirs.seq(author)
        if seq > their_seq:
            start[author] = their_seq + 1
        if their_seq > 0:
            their_head = theirs.heads[author][1]
            if their_seq <= seq:
                mine = head_id if their_seq == seq else our_id_at(author, their_seq)
                if mine is not None and mine != their_head:
                    diverged.append((author, their_seq))
    return Plan(start, diverged)


def missing_forks(ours: Iterable[tuple[bytes, bytes]], theirs: frozenset[bytes]) -> list[bytes]:
    """Of our fork evidence (id, raw), the raws the peer does not list."""
    return [raw for fork_id, raw in ours if fork_id not in theirs]


# --- finding where two feeds parted (§10.3) ------------------------------------------

#: Seqs one ``ids`` request asks about, at most: a search over a feed of a million
#: events takes four requests.
MAX_PROBES = 64
MAX_IDS_REQUEST = 64 + MAX_PROBES * 10
#: Authors whose divergence one round looks for, at most.
MAX_SEARCHES = 8


@dataclass(frozen=True, slots=True)
class IdsRequest:
    """Ask a peer its event ids at some seqs of one author's feed, and the whole event
    at one seq (where the feeds parted, once found)."""

    author: bytes
    seqs: tuple[int, ...] = ()
    event: int | None = None

    def encode(self) -> bytes:
        return encoding.encode(
            {"v": VERSION, "author": self.author, "seqs": list(self.seqs), "event": self.event}
        )

    @classmethod
    def decode(cls, data: bytes) -> IdsRequest:
        if len(data) > MAX_IDS_REQUEST:
            raise SyncError("the ids request is too large")
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise SyncError(f"the ids request is not canonical ({e.message})") from None
        if not isinstance(doc, dict) or doc.get("v") != VERSION:
            raise SyncError("the ids request is not a map of this version")
        author, seqs, event = doc.get("author"), doc.get("seqs"), doc.get("event")
        if not (isinstance(author, bytes) and len(author) == 32):
            raise SyncError("the ids request names no author")
        if not (
            isinstance(seqs, list)
            and len(seqs) <= MAX_PROBES
            and all(type(s) is int and 0 < s < 2**63 for s in seqs)
        ):
            raise SyncError(f"the ids request asks about at most {MAX_PROBES} seqs")
        if event is not None and not (type(event) is int and 0 < event < 2**63):
            raise SyncError("the ids request asks for an event at no seq")
        return cls(author, tuple(seqs), event)


@dataclass(frozen=True, slots=True)
class IdsAnswer:
    """The ids at the asked seqs (None where the answerer has no event there), and the
    asked event's bytes (or None)."""

    ids: tuple[bytes | None, ...]
    event: bytes | None = None

    def encode(self) -> bytes:
        return encoding.encode({"ids": list(self.ids), "event": self.event})

    @classmethod
    def decode(cls, data: bytes, asked: IdsRequest) -> IdsAnswer:
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise SyncError(f"the ids answer is not canonical ({e.message})") from None
        ids, event = (doc.get("ids"), doc.get("event")) if isinstance(doc, dict) else (None, None)
        if not (
            isinstance(ids, list)
            and len(ids) == len(asked.seqs)
            and all(i is None or (isinstance(i, bytes) and len(i) == 32) for i in ids)
        ):
            raise SyncError("the ids answer does not answer what was asked")
        if event is not None and not (isinstance(event, bytes) and len(event) <= MAX_EVENT_SIZE):
            raise SyncError("the ids answer's event is not an event")
        return cls(tuple(ids), event)


def probes(agree: int, differ: int) -> list[int]:
    """Seqs to ask about between ``agree`` (the feeds agree there, or 0) and ``differ``
    (they differ there), evenly spread, at most MAX_PROBES."""
    span = differ - agree - 1
    if span <= 0:
        return []
    count = min(MAX_PROBES, span)
    return sorted({agree + 1 + (i * span) // count for i in range(count)})


def narrow(agree: int, differ: int, asked: Sequence[int], same: Sequence[bool]) -> tuple[int, int]:
    """After asking the peer its ids at ``asked`` (``same[i]``: its id is ours there):
    the new (agree, differ). Two branches of a feed that parted stay apart (each event
    names the one before it), so the first seq where they differ is the divergence."""
    for seq, equal in zip(asked, same, strict=True):
        if equal:
            agree = max(agree, seq)
        else:
            return agree, seq
    return agree, differ
