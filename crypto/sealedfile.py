"""Files sealed to chosen recipients: a random file key, wrapped to each recipient with
HPKE (``crypto/seal.py``), and the content encrypted under a key derived from it in
fixed-size chunks, as age does (its STREAM construction).

Bytes in, bytes out; the layout around these pieces (magic, header, contexts) is the
caller's business (``protocol/sealedbundle.py``, docs/PROTOCOL.md §9.4)::

    payload key = HKDF-SHA256(ikm = file key, salt = salt, info = info, length = 32)
    chunk i     = ChaCha20-Poly1305(payload key, nonce_i, plaintext_i, aad = empty)
    nonce_i     = i as 11 bytes, big-endian || 01 for the last chunk, 00 for the others

Every chunk but the last holds exactly ``chunk_size`` bytes of plaintext; the last holds
1 to ``chunk_size`` (0 only when it is also the first: an empty plaintext). So a
chunk dropped, repeated or moved fails its counter, a file cut at a chunk boundary fails
the last-chunk flag, and bytes added after the last chunk fail the one before them.

:class:`StreamSealer` and :class:`StreamOpener` take the bytes in pieces of any size and
keep at most one chunk buffered (plus the piece they are given), so memory does not
grow with the file. A chunk that does not open raises :class:`BoxFailed`.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import seal
from crypto.errors import BoxFailed, CryptoError

FILE_KEY_SIZE = seal.KEY_SIZE
SALT_SIZE = 16
TAG_SIZE = 16
#: The plaintext of every chunk but the last.
CHUNK_SIZE = 64 * 1024
#: The counter has 11 bytes: a file has fewer chunks than this.
MAX_CHUNKS = 1 << 88


def new_file_key() -> bytes:
    return os.urandom(FILE_KEY_SIZE)


def new_salt() -> bytes:
    return os.urandom(SALT_SIZE)


def payload_key(file_key: bytes, salt: bytes, info: bytes) -> bytes:
    """The key of the chunks: HKDF-SHA256 of the file key, with ``salt`` and ``info``."""
    if len(file_key) != FILE_KEY_SIZE:
        raise CryptoError(f"a file key has {FILE_KEY_SIZE} bytes, not {len(file_key)}")
    if len(salt) != SALT_SIZE:
        raise CryptoError(f"a file's salt has {SALT_SIZE} bytes, not {len(salt)}")
    return HKDF(hashes.SHA256(), 32, salt, info).derive(file_key)


def chunk_nonce(counter: int, last: bool) -> bytes:
    """STREAM's nonce: the chunk's counter in 11 bytes, big-endian, then the last flag."""
    if not 0 <= counter < MAX_CHUNKS:
        raise CryptoError("a sealed file has too many chunks")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def sealed_size(plain_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Bytes of the chunks of ``plain_size`` bytes of plaintext."""
    chunks = max(1, -(-plain_size // chunk_size))
    return plain_size + chunks * TAG_SIZE


def wrap_file_key(suite: str, file_key: bytes, recipient_public: bytes, info: bytes) -> bytes:
    """The file key sealed to one recipient (HPKE, ``crypto/seal.py``)."""
    return seal.seal_key(suite, file_key, recipient_public, info)


def unwrap_file_key(
    suite: str, wrapped: tuple[bytes, ...] | list[bytes], private: seal.SealingSecret, info: bytes
) -> bytes | None:
    """The file key from the first of ``wrapped`` that opens with ``private``; None when
    none does (trial decryption: the recipients are not named)."""
    for blob in wrapped:
        key = seal.open_key(suite, blob, private, info)
        if key is not None:
            return key
    return None


class _Chunked:
    """What sealing and opening share: a buffer cut into chunks of one size, each passed
    through :meth:`_one` with its place in the stream; the last one only at the end."""

    def __init__(self, key: bytes, chunk_size: int, extra: int) -> None:
        if chunk_size < 1:
            raise CryptoError("a chunk holds at least one byte")
        self._aead = ChaCha20Poly1305(key)
        self._size = chunk_size + extra
        self._buffer = bytearray()
        self._counter = 0
        self._done = False

    def _one(self, data: bytes, last: bool) -> bytes:
        raise NotImplementedError

    def _take(self, data: bytes) -> bytes:
        """Add ``data``; every full chunk but the last goes through, since a full chunk is
        only known not to be the last once more comes."""
        if self._done:
            raise CryptoError("the sealed stream is finished")
        self._buffer += data
        out = []
        start = 0
        while len(self._buffer) - start > self._size:
            out.append(self._one(bytes(self._buffer[start : start + self._size]), False))
            start += self._size
        del self._buffer[:start]
        return b"".join(out)

    def _rest(self) -> bytes:
        """What is left for the last chunk; the stream is finished after it."""
        if self._done:
            raise CryptoError("the sealed stream is finished")
        self._done = True
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


class StreamSealer(_Chunked):
    """Plaintext in, sealed chunks out. Call :meth:`update` with each piece, then
    :meth:`finish` once for the last chunk."""

    def __init__(self, key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__(key, chunk_size, 0)

    def _one(self, data: bytes, last: bool) -> bytes:
        sealed = self._aead.encrypt(chunk_nonce(self._counter, last), data, None)
        self._counter += 1
        return sealed

    def update(self, data: bytes) -> bytes:
        """The chunks ``data`` completes; a full chunk is held back until more comes, since
        only then is it known not to be the last."""
        return self._take(data)

    def finish(self) -> bytes:
        """The last chunk (with its flag set)."""
        return self._one(self._rest(), True)


class StreamOpener(_Chunked):
    """Sealed chunks in, plaintext out; :class:`BoxFailed` at the first chunk that does
    not open (damaged, altered, moved, dropped, or the file cut short)."""

    def __init__(self, key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__(key, chunk_size, TAG_SIZE)

    @property
    def chunks(self) -> int:
        """How many chunks have opened so far."""
        return self._counter

    def _one(self, data: bytes, last: bool) -> bytes:
        try:
            plain = self._aead.decrypt(chunk_nonce(self._counter, last), data, None)
        except InvalidTag:
            where = "its last chunk" if last else f"chunk {self._counter + 1}"
            raise BoxFailed(f"{where} does not open") from None
        self._counter += 1
        return plain

    def feed(self, data: bytes) -> bytes:
        """The plaintext of the chunks ``data`` completes (a full chunk is held back until
        more comes or :meth:`finish`, since only then is it known whether it is the last)."""
        return self._take(data)

    def finish(self) -> bytes:
        """The plaintext of the last chunk; call at the end of the input."""
        rest = self._rest()
        if len(rest) < TAG_SIZE or (len(rest) == TAG_SIZE and self._counter > 0):
            raise BoxFailed("its last chunk is missing")
        return self._one(rest, True)
