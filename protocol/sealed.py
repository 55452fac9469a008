"""Sealed events: a private event's kind, payload and recipients, encrypted to those
recipients alone (docs/PROTOCOL.md §11).

The event itself is an ordinary event of kind ``sealed`` (§3.2); its body is::

    enc({"v": 1, "suite": suite, "keys": [wrapped key, ...], "nonce": nonce, "box": box})
    box   = ChaCha20-Poly1305(content key, nonce, inner, SEAL_BOX || network || author)
    inner = enc([kind, payload, recipients, padding])      len(inner) % 256 == 0

with one HPKE-wrapped content key per recipient, sorted by bytes, and no recipient
named in the clear: a reader finds its key by trying each (at most MAX_RECIPIENTS).

Reading draws one line (§11.6): :func:`open_sealed` returns None when the body is not
for this node (no key opens), and raises :class:`BadSealed` when the body is malformed
(its outer form, or what a key that opened reveals). The event stays valid either way.

Errors of this module::

    CommuneError
    ├── CannotSeal              this node cannot seal what it was asked to (writing)
    │   ├── NoRecipients            no recipients
    │   ├── TooManyRecipients       more than MAX_RECIPIENTS
    │   ├── AuthorNotRecipient      the author is not among the recipients
    │   └── SealedTooLarge          the event would be over MAX_EVENT_SIZE
    └── BadSealed               a received sealed body is malformed (reading)
        └── UnsupportedSealed       a version or suite this code does not know

Writing also raises ``BadPayload`` (a payload that is not a map), the crypto layer's
``UnknownSuite`` and ``BadPublicKey``, and the §2 errors of a payload that cannot be
encoded.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto import seal as sealing
from crypto.errors import BoxFailed
from crypto.seal import SealingSecret
from protocol import encoding, signed
from protocol.envelope import MAX_EVENT_SIZE, SEALED
from protocol.errors import (
    AuthorNotRecipient,
    BadPayload,
    BadSealed,
    CannotSeal,
    EncodingError,
    NoRecipients,
    SealedTooLarge,
    TooManyRecipients,
    UnsupportedSealed,
)
from protocol.kinds import member, redact

__all__ = [
    "MAX_RECIPIENTS",
    "MAX_SEALED_BODY",
    "NEVER_SEALED",
    "PAD",
    "SUITES",
    "VERSION",
    "AuthorNotRecipient",
    "BadSealed",
    "CannotSeal",
    "NoRecipients",
    "Opened",
    "SealedHeader",
    "SealedTooLarge",
    "TooManyRecipients",
    "UnsupportedSealed",
    "open_sealed",
    "read_header",
    "recipients_count",
    "seal",
]

VERSION = 1
SUITES = sealing.SUITES
#: §11.7: a reader tries at most this many keys, so a body has at most this many.
MAX_RECIPIENTS = 64
#: §11.4: the inner value's length is a multiple of this, so sizes leak in steps of it.
PAD = 256
#: §11.7: the largest body that fits in an event whatever its seq and ts: 65536 less the
#: longest envelope around it (9a, version, network 34, author 34, seq 9, prev 34, ts 9,
#: kind "sealed" 7, body_hash 34, signature 66, a bin16 header 3: 232 bytes).
MAX_SEALED_BODY = MAX_EVENT_SIZE - 232
_ID_SIZE = 32
_FIELDS = frozenset(["v", "suite", "keys", "nonce", "box"])
#: §3.2's rule for kinds.
_KIND = re.compile(r"[a-z][a-z0-9._-]{0,63}\Z", re.ASCII)
#: §11.4: kinds every member must read, so they are never sealed: membership decides
#: who counts, a redaction must reach every relay, and seals do not nest.
NEVER_SEALED = frozenset([SEALED, redact.KIND, *member.KINDS])


@dataclass(frozen=True, slots=True)
class SealedHeader:
    """What anyone can read of a sealed body (§11.8)."""

    suite: str
    #: the wrapped content keys, one per recipient, ascending as bytes
    keys: tuple[bytes, ...]
    nonce: bytes
    box: bytes

    @property
    def recipients(self) -> int:
        return len(self.keys)

    @property
    def padded_size(self) -> int:
        """Length of the inner value: the content's size, rounded up to PAD bytes."""
        return len(self.box) - sealing.TAG_SIZE


@dataclass(frozen=True, slots=True)
class Opened:
    """A sealed event as its recipients read it."""

    kind: str
    payload: dict[str, Any]
    #: the node ids the author sealed to, ascending as bytes, the author included
    recipients: tuple[bytes, ...]


def _check_kind(kind: object) -> str | None:
    """Why ``kind`` cannot be the kind inside a sealed body, or None."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        return f"the kind {str(kind)[:80]!r} is not 1 to 64 of a-z, 0-9, '.', '_', '-'"
    if kind in NEVER_SEALED:
        return f"events of kind {kind!r} are never sealed: every member must read them"
    return None


def _inner(kind: str, payload: dict[str, Any], recipients: list[bytes]) -> bytes:
    """§11.4: enc([kind, payload, recipients, padding]), padded with zero bytes to a
    multiple of PAD. The padding is a bin8 (under 256 bytes), so its header is 2 bytes
    whatever its length."""
    unpadded = len(encoding.encode([kind, payload, recipients, b""]))
    return encoding.encode([kind, payload, recipients, bytes(-unpadded % PAD)])


def _body(suite: str, keys: list[bytes], nonce: bytes, box: bytes) -> bytes:
    return encoding.encode({"v": VERSION, "suite": suite, "keys": keys, "nonce": nonce, "box": box})


def seal(
    *,
    suite: str,
    kind: str,
    payload: Mapping[str, Any],
    recipients: Mapping[bytes, bytes],
    author: bytes,
    network: bytes,
    content_key: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """The body of a sealed event: ``kind`` and ``payload`` for ``recipients`` (node id
    to public key in ``suite``), the author among them. ``content_key`` and ``nonce``
    are fresh random bytes unless given (tests only: HPKE's own randomness still makes
    every body different)."""
    sealing.public_key_size(suite)  # UnknownSuite, before any work
    why = _check_kind(kind)
    if why:
        raise CannotSeal(why)
    if not isinstance(payload, Mapping):
        raise BadPayload(f"a sealed payload is a map, not a {type(payload).__name__}")
    if not recipients:
        raise NoRecipients("a sealed event needs at least one recipient: its author")
    if len(recipients) > MAX_RECIPIENTS:
        raise TooManyRecipients(
            f"a sealed event has at most {MAX_RECIPIENTS} recipients, not {len(recipients)}"
        )
    for node_id in recipients:
        if not isinstance(node_id, bytes) or len(node_id) != _ID_SIZE:
            raise CannotSeal("a recipient's node id has 32 bytes")
    if author not in recipients:
        raise AuthorNotRecipient(
            "the author must be among the recipients, or it could not read its own event"
        )
    key = sealing.random_key() if content_key is None else content_key
    nonce = sealing.random_nonce() if nonce is None else nonce
    if len(key) != sealing.KEY_SIZE or len(nonce) != sealing.NONCE_SIZE:
        raise CannotSeal("the content key has 32 bytes and the nonce 12")
    inner = _inner(kind, dict(payload), sorted(recipients))
    box = sealing.box(key, nonce, inner, signed.seal_box_aad(network, author))
    # Every wrapped key of a suite has one size, so the body's size is known now.
    placeholder = [bytes(sealing.sealed_key_size(suite))] * len(recipients)
    size = len(_body(suite, placeholder, nonce, box))
    if size > MAX_SEALED_BODY:
        raise SealedTooLarge(
            f"sealed to {len(recipients)} recipients with {suite}, this event would have "
            f"a {size}-byte body, over the {MAX_SEALED_BODY} that fit in an event: "
            "shorten the text or seal to fewer recipients"
        )
    info = signed.seal_key_info(network, author)
    keys = sorted(sealing.seal_key(suite, key, public, info) for public in recipients.values())
    return _body(suite, keys, nonce, box)


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise BadSealed(f"the sealed body is malformed: {what}")


def read_header(body: bytes) -> SealedHeader:
    """The outer form of a sealed body (§11.4), checked in the order of §11.6; what
    outsiders learn. Raises :class:`BadSealed` or :class:`UnsupportedSealed`."""
    try:
        value = encoding.decode(body)
    except EncodingError as e:
        raise BadSealed(f"the sealed body is not canonical msgpack: {e.message}") from e
    _need(isinstance(value, dict), "not a map")
    version = value.get("v")
    _need(isinstance(version, int) and not isinstance(version, bool), "'v' is not an integer")
    if version != VERSION:
        raise UnsupportedSealed(
            f"the sealed body is of version {version}; this program reads version {VERSION}"
        )
    _need(set(value) == _FIELDS, "its fields are not exactly box, keys, nonce, suite, v")
    suite, keys, nonce, box = value["suite"], value["keys"], value["nonce"], value["box"]
    _need(isinstance(suite, str), "'suite' is not text")
    if suite not in SUITES:
        raise UnsupportedSealed(
            f"the sealed body uses the suite {suite[:40]!r}, which this program does not "
            f"know (it knows {', '.join(SUITES)})"
        )
    size = sealing.sealed_key_size(suite)
    _need(
        isinstance(keys, list) and 1 <= len(keys) <= MAX_RECIPIENTS,
        f"'keys' is not an array of 1 to {MAX_RECIPIENTS} keys",
    )
    _need(
        all(isinstance(k, bytes) and len(k) == size for k in keys),
        f"a key in 'keys' is not {size} bytes",
    )
    _need(all(a < b for a, b in itertools.pairwise(keys)), "'keys' is not sorted")
    _need(isinstance(nonce, bytes) and len(nonce) == sealing.NONCE_SIZE, "'nonce' is not 12 bytes")
    _need(
        isinstance(box, bytes)
        and len(box) >= PAD + sealing.TAG_SIZE
        and (len(box) - sealing.TAG_SIZE) % PAD == 0,
        f"'box' is not a multiple of {PAD} bytes plus the {sealing.TAG_SIZE}-byte tag",
    )
    return SealedHeader(suite, tuple(keys), nonce, box)


def recipients_count(body: bytes) -> int:
    """How many nodes an event is sealed to: anyone can tell (§11.8)."""
    return read_header(body).recipients


def open_sealed(
    body: bytes, *, author: bytes, network: bytes, node_id: bytes, private: SealingSecret
) -> Opened | None:
    """The sealed event as this node reads it, or None when it is not a recipient.

    Raises :class:`BadSealed` for a malformed body: its outer form (whoever reads it),
    or, once a key has opened, a box that does not open or an inner value that breaks
    §11.4. ``author`` and ``network`` are the event's own fields.
    """
    header = read_header(body)
    info = signed.seal_key_info(network, author)
    for blob in header.keys:
        key = sealing.open_key(header.suite, blob, private, info)
        if key is not None:
            break
    else:
        return None
    try:
        inner = sealing.unbox(key, header.nonce, header.box, signed.seal_box_aad(network, author))
    except BoxFailed as e:
        raise BadSealed(f"the sealed body is malformed: {e.message}") from e
    try:
        value = encoding.decode(inner)
    except EncodingError as e:
        raise BadSealed(f"the sealed content is not canonical msgpack: {e.message}") from e
    _need(isinstance(value, list) and len(value) == 4, "the content is not an array of 4")
    kind, payload, recipients, padding = value
    why = _check_kind(kind)
    _need(why is None, str(why))
    _need(isinstance(payload, dict), "the payload is not a map")
    _need(
        isinstance(recipients, list)
        and len(recipients) == header.recipients
        and all(isinstance(r, bytes) and len(r) == _ID_SIZE for r in recipients),
        "the recipients are not one 32-byte node id per key",
    )
    _need(
        all(a < b for a, b in itertools.pairwise(recipients)),
        "the recipients are not sorted",
    )
    _need(author in recipients, "the author is not among the recipients")
    _need(node_id in recipients, "a key opened for this node, which is not a recipient")
    _need(isinstance(padding, bytes) and not any(padding), "the padding is not zero bytes")
    return Opened(kind, payload, tuple(recipients))
