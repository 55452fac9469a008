"""A node's files at rest, under its store key: a random 32-byte key kept in the key
file (``crypto/identity.py``), so the passphrase wraps it and changing the passphrase
re-encrypts nothing.

The store key itself encrypts nothing. Each use has its own key, derived from it with
HKDF-SHA256 (no salt) and an ``info`` naming the use, so no key serves two ciphers:

- ``STORE``: the store's SQLCipher 4 key, given raw (``PRAGMA key = "x'…'"``, no
  PBKDF2: the key is random already). SQLCipher encrypts every page of the database and
  of its write-ahead log with AES-256-CBC and a per-page HMAC-SHA512, so a page that was
  altered does not read; the WAL index (``-shm``) holds page numbers and checksums only.
- ``FILES``: the small files beside the store (the node's identity and recorded head)
  and a backup's content, each sealed with ChaCha20-Poly1305 under a random nonce, its
  associated data naming what the file is (``purpose``), so one sealed file cannot be
  put in the place of another::

      MAGIC (16) || nonce (12) || ciphertext || tag (16)

Bytes in, bytes out; where the files are and when they are written is the node's
business.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import BoxFailed

#: HKDF info of the store's SQLCipher key
STORE = b"commune/v1/at-rest-store\x00"
#: HKDF info of the key that seals the files beside the store
FILES = b"commune/v1/at-rest-files\x00"
#: the first bytes of a sealed file (never the first bytes of a JSON or SQLite file)
MAGIC = b"\x00commune-sealed\x01"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


def _derive(store_key: bytes, info: bytes) -> bytes:
    if len(store_key) != KEY_SIZE:
        raise BoxFailed("the store key has the wrong size")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(store_key)


def sqlcipher_key(store_key: bytes) -> str:
    """The store's key as SQLCipher takes a raw key: ``x'<64 hex digits>'``."""
    return f"x'{_derive(store_key, STORE).hex()}'"


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` is a file sealed by :func:`seal_file`."""
    return data.startswith(MAGIC)


def seal_file(store_key: bytes, purpose: bytes, data: bytes) -> bytes:
    """``data`` sealed under the store key, for the file ``purpose`` names."""
    nonce = os.urandom(NONCE_SIZE)
    key = _derive(store_key, FILES)
    return MAGIC + nonce + ChaCha20Poly1305(key).encrypt(nonce, data, MAGIC + purpose)


def open_file(store_key: bytes, purpose: bytes, sealed: bytes) -> bytes:
    """The inverse of :func:`seal_file`; :class:`BoxFailed` when it does not open: not a
    sealed file, altered, sealed for another purpose or under another node's key."""
    if not is_sealed(sealed) or len(sealed) < len(MAGIC) + NONCE_SIZE + TAG_SIZE:
        raise BoxFailed("it is not a sealed file, or it was cut short")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_SIZE]
    body = sealed[len(MAGIC) + NONCE_SIZE :]
    try:
        return ChaCha20Poly1305(_derive(store_key, FILES)).decrypt(nonce, body, MAGIC + purpose)
    except InvalidTag:
        raise BoxFailed(
            "it does not open with this node's key (altered, or another node's)"
        ) from None
