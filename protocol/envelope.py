"""The event envelope and its wire form (docs/PROTOCOL.md §3).

An event is a canonical msgpack array of ten fields::

    [version, network, author, seq, prev, ts, kind, body_hash, signature, body]

The first eight are the *header*: the signature and the event's id cover the header
only, and the header holds the hash of the body, not the body. So a body can be erased
(redaction) and every signature, id and chain still checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crypto.sign import SigningKey
from protocol import encoding, signed
from protocol.errors import BadField, BadShape, EventTooLarge, UnknownVersion

VERSION = 1
#: §3.4: "An encoded event is at most 65536 bytes."
MAX_EVENT_SIZE = 65536
#: §3.2: the network id of events written before their author belonged to a network.
NO_NETWORK = bytes(32)
#: §3.2: the kind of an event whose body is sealed to chosen recipients.
SEALED = "sealed"
_KIND = re.compile(r"[a-z][a-z0-9._-]{0,63}\Z", re.ASCII)
_MAX_SEQ = 2**63 - 1
_MAX_TS = 2**64 - 1
_FIELDS = (
    "version",
    "network",
    "author",
    "seq",
    "prev",
    "ts",
    "kind",
    "body_hash",
    "signature",
    "body",
)


@dataclass(frozen=True, slots=True)
class Event:
    id: bytes
    network: bytes
    author: bytes
    seq: int
    prev: bytes | None
    ts: int
    kind: str
    body_hash: bytes
    signature: bytes
    body: bytes | None
    #: the wire form, exactly as received or written
    raw: bytes
    #: the signed bytes: the canonical encoding of the first eight fields
    header: bytes

    @property
    def redacted(self) -> bool:
        return self.body is None

    def __repr__(self) -> str:
        return f"Event({self.id.hex()[:12]} {self.author.hex()[:12]}#{self.seq} {self.kind})"


def _encoded_length(body: bytes | None) -> int:
    if body is None:
        return 1
    n = len(body)
    return n + (2 if n < 0x100 else 3 if n < 0x10000 else 5)


def _need(cond: bool, field: str, what: str) -> None:
    if not cond:
        raise BadShape(f"field {field!r} must be {what}")


def decode_event(raw: bytes) -> Event:
    """Parse and shape-check one event. Checks no signature and no chain: see
    ``protocol.validate``."""
    if len(raw) > MAX_EVENT_SIZE:
        raise EventTooLarge(f"the event has {len(raw)} bytes; at most {MAX_EVENT_SIZE}")
    fields = encoding.decode(raw)
    if not isinstance(fields, list) or not fields:
        raise BadShape("an event must be a msgpack array")
    version = fields[0]
    if type(version) is not int:
        raise BadShape("field 'version' must be an integer")
    if version != VERSION:
        raise UnknownVersion(f"envelope version {version} is not known here (this code reads 1)")
    if len(fields) != len(_FIELDS):
        raise BadShape(f"an event has {len(_FIELDS)} fields, not {len(fields)}")
    _, network, author, seq, prev, ts, kind, body_hash, signature, body = fields
    _need(isinstance(network, bytes) and len(network) == 32, "network", "32 bytes")
    _need(isinstance(author, bytes) and len(author) == 32, "author", "32 bytes")
    _need(type(seq) is int, "seq", "an integer")
    _need(prev is None or (isinstance(prev, bytes) and len(prev) == 32), "prev", "32 bytes or nil")
    _need(type(ts) is int, "ts", "an integer")
    _need(isinstance(kind, str), "kind", "text")
    _need(isinstance(body_hash, bytes) and len(body_hash) == 32, "body_hash", "32 bytes")
    _need(isinstance(signature, bytes) and len(signature) == 64, "signature", "64 bytes")
    _need(body is None or isinstance(body, bytes), "body", "bytes or nil")
    if not 1 <= seq <= _MAX_SEQ:
        raise BadField(f"seq {seq} is out of range (1 to 2^63-1)")
    if (seq == 1) != (prev is None):
        raise BadField("prev must be nil exactly when seq is 1")
    if not 0 <= ts <= _MAX_TS:
        raise BadField(f"ts {ts} is out of range (0 to 2^64-1)")
    if not _KIND.match(kind):
        raise BadField(f"kind {kind[:80]!r} is not 1 to 64 of a-z, 0-9, '.', '_', '-'")
    header_end = len(raw) - _encoded_length(body) - 66  # 66: the encoded signature
    header = b"\x98" + raw[1:header_end]
    return Event(
        id=signed.event_id(header),
        network=network,
        author=author,
        seq=seq,
        prev=prev,
        ts=ts,
        kind=kind,
        body_hash=body_hash,
        signature=signature,
        body=body,
        raw=raw,
        header=header,
    )


def create_event(
    key: SigningKey,
    *,
    network: bytes,
    seq: int,
    prev: bytes | None,
    ts: int,
    kind: str,
    body: bytes,
) -> Event:
    """Sign a new event. The caller gives the right seq, prev and ts (see node/service)."""
    header_fields = [VERSION, network, key.public, seq, prev, ts, kind, signed.body_hash(body)]
    header = encoding.encode(header_fields)
    signature = signed.sign_event(key, header)
    raw = encoding.encode([*header_fields, signature, body])
    return decode_event(raw)  # refuses an event over MAX_EVENT_SIZE


def strip_body(event: Event) -> Event:
    """The same event with its body erased: what is kept and relayed after redaction."""
    if event.body is None:
        return event
    raw = encoding.encode(
        [
            VERSION,
            event.network,
            event.author,
            event.seq,
            event.prev,
            event.ts,
            event.kind,
            event.body_hash,
            event.signature,
            None,
        ]
    )
    return decode_event(raw)
