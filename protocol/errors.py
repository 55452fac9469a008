"""Every refusal of the protocol layer, one class per rule, each with a stable code.

::

    CommuneError (crypto/errors.py)
    ├── InvalidEvent                    an event breaks a rule of docs/PROTOCOL.md
    │   ├── EncodingError               not canonical msgpack (§2)
    │   │   ├── Truncated               input ends inside a value
    │   │   ├── TrailingBytes           bytes after the value
    │   │   ├── NonMinimalInteger       an integer in a longer form than needed
    │   │   ├── NonMinimalLength        a length in a longer form than needed
    │   │   ├── UnsortedKeys            map keys out of order
    │   │   ├── DuplicateKey            a map key twice
    │   │   ├── ForbiddenType           float, extension type, or a non-text map key
    │   │   ├── TooDeep                 nesting deeper than allowed
    │   │   ├── InvalidUtf8             text that is not UTF-8
    │   │   └── IntegerOutOfRange       an integer outside -2^63 .. 2^64-1 (encoding only)
    │   ├── EventTooLarge               over 64 KiB (§3.4)
    │   ├── UnknownVersion              envelope version this code does not know (§3.1)
    │   ├── BadShape                    wrong number of fields or wrong field type (§3.1)
    │   ├── BadField                    a field of the right type but a wrong value (§3.2)
    │   ├── BadAuthor                   the author key is not a valid Ed25519 key (§3.3)
    │   ├── BadBodyHash                 the body does not match its hash (§3.5)
    │   ├── MissingBody                 a membership event without its body (§3.5)
    │   ├── BadSignature                the signature does not verify (§3.6)
    │   ├── BadSeq                      seq does not follow the author's head (§4.1)
    │   ├── BadPrev                     prev is not the id of the previous event (§4.2)
    │   ├── BadTimestamp                ts does not rise along the feed (§4.3)
    │   ├── WrongNetwork                the event belongs to another network (§4.4)
    │   └── BadText                     a known kind's text holds a control character (§3.8)
    ├── BadPayload                      a payload a user wrote breaks its kind's schema
    ├── BadCard                         a node card or invite is mistyped, cut short or forged
    ├── ProofRefused                    a proof of admission does not prove it (§6.3)
    ├── CannotSeal                      a private event cannot be sealed (§11.7)
    │   ├── NoRecipients                no reader named
    │   ├── TooManyRecipients           more readers than fit in an event
    │   ├── AuthorNotRecipient          its author is not among its readers
    │   └── SealedTooLarge              the sealed body would be over the size limit
    ├── BadSealed                       a sealed body that does not read (§11.5)
    │   └── UnsupportedSealed           a sealed body of a version or suite not known
    ├── SyncError                       a peer broke the sync protocol (§10)
    └── BadBundle                       a bundle file is damaged or not a bundle (§9)
        ├── DamagedBundle               a sealed bundle cut short, altered or damaged (§9.4)
        └── NotSealedToThisNode         a sealed bundle none of whose keys is this node's

Every error class of the protocol layer is defined here; the node layer's are in
node/errors.py. All share the root, so the CLI prints any of them as one line.
"""

from __future__ import annotations

from crypto.errors import BadPublicKey, CommuneError, CryptoError, KeyfileError

__all__ = [
    "BadAuthor",
    "BadBodyHash",
    "BadBundle",
    "BadCard",
    "BadField",
    "BadPayload",
    "BadPrev",
    "BadPublicKey",
    "BadSeq",
    "BadShape",
    "BadSignature",
    "BadText",
    "BadTimestamp",
    "CommuneError",
    "CryptoError",
    "DamagedBundle",
    "DuplicateKey",
    "EncodingError",
    "EventTooLarge",
    "ForbiddenType",
    "IntegerOutOfRange",
    "InvalidEvent",
    "InvalidUtf8",
    "KeyfileError",
    "MissingBody",
    "NonMinimalInteger",
    "NonMinimalLength",
    "NotSealedToThisNode",
    "SyncError",
    "TooDeep",
    "TrailingBytes",
    "Truncated",
    "UnknownVersion",
    "UnsortedKeys",
    "WrongNetwork",
]


class InvalidEvent(CommuneError):
    code = "invalid-event"


class EncodingError(InvalidEvent):
    code = "bad-encoding"


class Truncated(EncodingError):
    code = "truncated"


class TrailingBytes(EncodingError):
    code = "trailing-bytes"


class NonMinimalInteger(EncodingError):
    code = "non-minimal-int"


class NonMinimalLength(EncodingError):
    code = "non-minimal-length"


class UnsortedKeys(EncodingError):
    code = "unsorted-keys"


class DuplicateKey(EncodingError):
    code = "duplicate-key"


class ForbiddenType(EncodingError):
    code = "forbidden-type"


class TooDeep(EncodingError):
    code = "too-deep"


class InvalidUtf8(EncodingError):
    code = "invalid-utf8"


class IntegerOutOfRange(EncodingError):
    """Only :func:`protocol.encoding.encode` raises it: msgpack has no form for such an
    integer, so no input can carry one."""

    code = "int-out-of-range"


class EventTooLarge(InvalidEvent):
    code = "too-large"


class UnknownVersion(InvalidEvent):
    code = "unknown-version"


class BadShape(InvalidEvent):
    code = "bad-shape"


class BadField(InvalidEvent):
    code = "bad-field"


class BadAuthor(InvalidEvent):
    code = "bad-author"


class BadBodyHash(InvalidEvent):
    code = "bad-body-hash"


class MissingBody(InvalidEvent):
    code = "missing-body"


class BadSignature(InvalidEvent):
    code = "bad-signature"


class BadSeq(InvalidEvent):
    code = "bad-seq"


class BadPrev(InvalidEvent):
    code = "bad-prev"


class BadTimestamp(InvalidEvent):
    code = "bad-timestamp"


class WrongNetwork(InvalidEvent):
    code = "wrong-network"


class BadText(InvalidEvent):
    """A text field of a known kind holds a character a post may not (§3.8)."""

    code = "bad-text"


class BadPayload(CommuneError):
    code = "bad-payload"


class BadCard(CommuneError):
    code = "bad-card"


class ProofRefused(CommuneError):
    """A proof of admission does not prove it (§6.3)."""

    code = "proof-refused"


class CannotSeal(CommuneError):
    code = "cannot-seal"


class NoRecipients(CannotSeal):
    code = "no-recipients"


class TooManyRecipients(CannotSeal):
    code = "too-many-recipients"


class AuthorNotRecipient(CannotSeal):
    code = "author-not-recipient"


class SealedTooLarge(CannotSeal):
    code = "sealed-too-large"


class BadSealed(CommuneError):
    """A sealed body breaks §11. The event is still valid (§3.5); its payload is
    unreadable."""

    code = "bad-sealed"


class UnsupportedSealed(BadSealed):
    """A sealed body of a later version or an unknown suite: perhaps readable by newer
    code, unreadable by this one."""

    code = "unsupported-sealed"


class SyncError(CommuneError):
    """The peer broke the sync protocol (§10); it is disconnected and backed off."""

    code = "sync-protocol"


class BadBundle(CommuneError):
    """A bundle file is damaged, cut short, of another network or not a bundle (§9)."""

    code = "bad-bundle"


class DamagedBundle(BadBundle):
    """A sealed bundle whose header does not match its checksum, or a chunk of which
    does not open: cut short, altered, spliced or damaged (§9.4)."""

    code = "damaged-bundle"


class NotSealedToThisNode(BadBundle):
    """A sealed bundle none of whose wrapped keys opens with this node's key (§9.4)."""

    code = "not-sealed-to-this-node"
