"""Sealed bundles (docs/PROTOCOL.md §9.4): a bundle (§9.1) encrypted to chosen nodes,
so that whoever finds the file learns nothing of its events.

::

    sealed  = SEALED_MAGIC || frame(header) || digest || chunk_1 || … || chunk_n
    header  = enc({"keys": [wrapped file key, …], "salt": 16 bytes, "suite": suite, "v": 1})
    digest  = SHA-256(SEALED_BUNDLE_HEADER || SEALED_MAGIC || frame(header))
    wrapped = HPKE Seal to one recipient (suite, info = SEALED_BUNDLE_KEY) of the file key
    key     = HKDF-SHA256(file key, salt, info = SEALED_BUNDLE_PAYLOAD || digest)
    chunks  = the plain bundle's bytes, in STREAM chunks of 64 KiB under ``key``
              (crypto/sealedfile.py)

No recipient is named: a reader finds its key by trying each one (at most
MAX_RECIPIENTS). The digest tells a damaged header from one not meant for this node,
and binds every header byte into the payload key, so a header altered on purpose
(digest recomputed) makes the first chunk fail.

:class:`BundleFileReader` reads either kind of file, sans-I/O: the caller feeds bytes in
any pieces and gets back the bundle's parts (:class:`protocol.bundle.Item`). Sealed or
not, the plain bundle inside is read by :class:`protocol.bundle.BundleReader`, so its
events are checked exactly as before.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from crypto import seal as sealing
from crypto import sealedfile
from crypto.errors import BadPublicKey, BoxFailed
from crypto.seal import SealingSecret
from protocol import encoding, frames, signed
from protocol.bundle import MAGIC, BundleReader, Item
from protocol.errors import BadBundle, DamagedBundle, EncodingError, NotSealedToThisNode

__all__ = [
    "CHUNK_SIZE",
    "DIGEST_SIZE",
    "MAX_RECIPIENTS",
    "MAX_SEALED_HEADER",
    "SEALED_MAGIC",
    "SUITES",
    "VERSION",
    "BundleFileReader",
    "SealedBundleHeader",
    "SealedBundleReader",
    "kind_of",
    "seal",
]

VERSION = 1
#: "COMMUNE-SEALED", a zero byte, the format's version.
SEALED_MAGIC = b"COMMUNE-SEALED\x00\x01"
SUITES = sealing.SUITES
#: A sealed bundle is for at most this many nodes (a reader tries at most this many keys).
MAX_RECIPIENTS = 256
#: The header frame's content: 256 keys of the largest suite fit (about 300,000 bytes).
MAX_SEALED_HEADER = 320 * 1024
DIGEST_SIZE = 32
CHUNK_SIZE = sealedfile.CHUNK_SIZE
_FIELDS = frozenset(["keys", "salt", "suite", "v"])
#: the start both magics share, and where the version byte is
_FAMILY = (MAGIC[:14], SEALED_MAGIC[:14])
_MAGIC_SIZE = len(SEALED_MAGIC)


@dataclass(frozen=True, slots=True)
class SealedBundleHeader:
    """What anyone can read of a sealed bundle: its suite, how many keys, their salt."""

    suite: str
    #: the wrapped file keys, one per recipient, ascending as bytes
    keys: tuple[bytes, ...]
    salt: bytes

    @property
    def recipients(self) -> int:
        return len(self.keys)

    def encode(self) -> bytes:
        return encoding.encode(
            {"keys": list(self.keys), "salt": self.salt, "suite": self.suite, "v": VERSION}
        )


def _digest(header_frame: bytes) -> bytes:
    return hashlib.sha256(signed.SEALED_BUNDLE_HEADER + SEALED_MAGIC + header_frame).digest()


def _payload_key(file_key: bytes, salt: bytes, digest: bytes) -> bytes:
    return sealedfile.payload_key(file_key, salt, signed.SEALED_BUNDLE_PAYLOAD + digest)


def seal(
    plain: Iterable[bytes],
    *,
    suite: str,
    recipients: Mapping[bytes, bytes],
    file_key: bytes | None = None,
    salt: bytes | None = None,
) -> Iterator[bytes]:
    """The bytes of a sealed bundle, in pieces, around the plain bundle ``plain`` (itself
    in pieces: nothing is held but one chunk). ``recipients`` maps node ids to their
    public keys in ``suite``. ``file_key`` and ``salt`` are random unless given (tests)."""
    sealing.public_key_size(suite)  # UnknownSuite, before any work
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise BadBundle(
            f"a sealed bundle is for 1 to {MAX_RECIPIENTS} nodes, not {len(recipients)}: "
            "name fewer with --to"
        )
    file_key = sealedfile.new_file_key() if file_key is None else file_key
    salt = sealedfile.new_salt() if salt is None else salt
    keys = []
    for node_id, public in recipients.items():
        try:
            keys.append(sealedfile.wrap_file_key(suite, file_key, public, signed.SEALED_BUNDLE_KEY))
        except BadPublicKey as e:
            raise BadBundle(
                f"the sealing key of {node_id.hex()[:12]}… is not usable ({e.message})"
            ) from e
    header = SealedBundleHeader(suite, tuple(sorted(keys)), salt)
    header_frame = encoding.encode(header.encode())
    digest = _digest(header_frame)
    yield SEALED_MAGIC + header_frame + digest
    sealer = sealedfile.StreamSealer(_payload_key(file_key, salt, digest))
    for piece in plain:
        out = sealer.update(piece)
        if out:
            yield out
    yield sealer.finish()


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise BadBundle(f"the sealed bundle's header is malformed: {what}")


def _read_header(content: bytes) -> SealedBundleHeader:
    """The header's content, checked (its digest has matched already, so what is wrong
    here was written so on purpose, or by another program)."""
    try:
        value = encoding.decode(content)
    except EncodingError as e:
        raise BadBundle(f"the sealed bundle's header is not canonical msgpack: {e.message}") from e
    _need(isinstance(value, dict), "not a map")
    version = value.get("v")
    if type(version) is not int or version != VERSION:
        raise BadBundle(
            f"the sealed bundle is of version {str(version)[:20]}; this program reads version "
            f"{VERSION}: update Commune"
        )
    _need(set(value) == _FIELDS, "its fields are not exactly keys, salt, suite, v")
    suite, keys, salt = value["suite"], value["keys"], value["salt"]
    _need(isinstance(suite, str), "'suite' is not text")
    if suite not in SUITES:
        raise BadBundle(
            f"the sealed bundle uses the suite {suite[:40]!r}, which this program does not "
            f"know (it knows {', '.join(SUITES)}): update Commune"
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
    _need(
        isinstance(salt, bytes) and len(salt) == sealedfile.SALT_SIZE,
        f"'salt' is not {sealedfile.SALT_SIZE} bytes",
    )
    return SealedBundleHeader(suite, tuple(keys), salt)


def _damaged(what: str) -> DamagedBundle:
    return DamagedBundle(f"the bundle is damaged: {what}")


class SealedBundleReader:
    """A sealed bundle's bytes in (from its magic on), the plain bundle's bytes out.
    Raises :class:`DamagedBundle` for a file cut short, altered or damaged,
    :class:`NotSealedToThisNode` when no key opens with ``secret``, and
    :class:`BadBundle` for a header that is well formed but not one this code reads."""

    def __init__(self, secret: SealingSecret) -> None:
        self._secret = secret
        self._buffer = bytearray()
        self._opener: sealedfile.StreamOpener | None = None
        self.header: SealedBundleHeader | None = None

    def feed(self, data: bytes) -> bytes:
        if self._opener is not None:
            return self._open(data, last=False)
        self._buffer += data
        end = self._header_end()
        if end is None:
            return b""
        rest = bytes(self._buffer[end:])
        self._buffer.clear()
        return self._open(rest, last=False)

    def finish(self) -> bytes:
        """The plain bundle's last bytes; call at the end of the input."""
        if self._opener is None:
            raise _damaged("it is cut short inside its header")
        return self._open(b"", last=True)

    def _open(self, data: bytes, last: bool) -> bytes:
        assert self._opener is not None
        try:
            out = self._opener.feed(data) if data else b""
            return out + self._opener.finish() if last else out
        except BoxFailed as e:
            raise _damaged(f"cut short or altered ({e.message})") from None

    def _header_end(self) -> int | None:
        """Where the chunks start, once the header and its digest have all come and been
        checked; None until then."""
        buf = self._buffer
        start = _MAGIC_SIZE
        if len(buf) <= start:
            return None
        if bytes(buf[:start]) != SEALED_MAGIC:
            raise BadBundle("this is not a sealed Commune bundle (it does not start like one)")
        first = buf[start]
        size = frames.BIN_SIZES.get(first)
        if size is None:
            raise _damaged(f"its header starts with byte 0x{first:02x}")
        if len(buf) < start + 1 + size:
            return None
        length = int.from_bytes(buf[start + 1 : start + 1 + size], "big")
        if length > MAX_SEALED_HEADER:
            raise _damaged(f"its header claims {length} bytes; at most {MAX_SEALED_HEADER}")
        if length < frames.SHORTEST[first]:
            raise _damaged("its header's length is not in its shortest form")
        content_start = start + 1 + size
        end = content_start + length + DIGEST_SIZE
        if len(buf) < end:
            return None
        header_frame = bytes(buf[start : content_start + length])
        digest = bytes(buf[content_start + length : end])
        if _digest(header_frame) != digest:
            raise _damaged("its header does not match its checksum")
        self.header = header = _read_header(header_frame[1 + size :])
        file_key = sealedfile.unwrap_file_key(
            header.suite, header.keys, self._secret, signed.SEALED_BUNDLE_KEY
        )
        if file_key is None:
            raise NotSealedToThisNode(
                f"this bundle is sealed to {header.recipients} "
                f"node{'s' if header.recipients != 1 else ''}, and this node is not one of them"
            )
        self._opener = sealedfile.StreamOpener(_payload_key(file_key, header.salt, digest))
        return end


def kind_of(start: bytes) -> str:
    """What a file's first 16 bytes say it is: "plain" (§9.1) or "sealed" (§9.4).
    Raises :class:`BadBundle` for anything else, saying what it looks like."""
    if start == MAGIC:
        return "plain"
    if start == SEALED_MAGIC:
        return "sealed"
    if len(start) == _MAGIC_SIZE and start[:14] in _FAMILY and start[14] == 0:
        raise BadBundle(
            f"this bundle is of a format version ({start[15]}) this program does not read: "
            "update Commune"
        )
    if not start:
        raise BadBundle("the file is empty: it is not a Commune bundle")
    raise BadBundle("this is not a Commune bundle (it does not start like one)")


class BundleFileReader:
    """A bundle file of either kind: bytes in, the plain bundle's parts out. A sealed
    one needs this node's ``secret``; :attr:`sealed` says which kind it was."""

    def __init__(self, secret: SealingSecret | None) -> None:
        self._secret = secret
        self._start: bytearray | None = bytearray()
        self._sealed: SealedBundleReader | None = None
        self._plain = BundleReader()
        #: None until the first 16 bytes have come
        self.sealed: bool | None = None

    @property
    def header(self) -> SealedBundleHeader | None:
        """A sealed bundle's outer header, once read."""
        return None if self._sealed is None else self._sealed.header

    def feed(self, data: bytes) -> list[Item]:
        if self._start is not None:
            self._start += data
            if len(self._start) < _MAGIC_SIZE:
                return []
            data = bytes(self._start)
            self._start = None
            self._begin(data[:_MAGIC_SIZE])
        if self._sealed is not None:
            data = self._sealed.feed(data)
        return self._plain.feed(data)

    def finish(self) -> list[Item]:
        """The last parts; call at the end of the input."""
        if self._start is not None:
            kind_of(bytes(self._start))  # raises: too short to be a bundle
        items = self._plain.feed(self._sealed.finish()) if self._sealed is not None else []
        self._plain.finish()
        return items

    def _begin(self, start: bytes) -> None:
        kind = kind_of(start)
        self.sealed = kind == "sealed"
        if self.sealed:
            if self._secret is None:
                raise BadBundle("this bundle is sealed: opening it needs this node's keys")
            self._sealed = SealedBundleReader(self._secret)
