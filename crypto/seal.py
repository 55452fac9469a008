"""Sealing: a content key per event, wrapped to each recipient with HPKE (RFC 9180).

Bytes in, bytes out; what is sealed and how it is laid out is ``protocol/sealed.py``'s
business (docs/PROTOCOL.md §11), and the contexts of ``info`` and associated data come
from there as arguments.

Two suites, each single-shot HPKE (base mode) with HKDF-SHA256 and ChaCha20-Poly1305:

- ``x25519``: DHKEM(X25519, HKDF-SHA256). The recipient's key is its 32-byte X25519
  sealing key, the one in its card.
- ``mlkem768-x25519``: the hybrid ML-KEM-768 + X25519 KEM (post-quantum). The
  recipient's key is ``ML-KEM-768 public (1184) || X25519 public (32)``, 1216 bytes.

A node keeps one 32-byte sealing secret (its X25519 private key, in the key file). Its
hybrid key is derived from it, so nothing new has to be stored or backed up::

    seed     = HKDF-SHA256(ikm = secret, salt = none, info = PQ_SEALING_KEY, length = 32)
    expanded = SHAKE256(seed, 96 bytes)
    ML-KEM-768 key = MLKEM768PrivateKey.from_seed_bytes(expanded[0:64])   (FIPS 203 d || z)
    X25519 key     = expanded[64:96]

``seed`` is a standard 32-byte X-Wing (MLKEM768-X25519) private key, and the second
and third lines are X-Wing's own expansion of it (draft-connolly-cfrg-xwing-kem-08
§5.2, checked against its test vector), so another implementation can hand ``seed`` to
any X-Wing library. The hybrid's X25519 half is not the classic sealing key: no private
key serves two KEMs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import BadPublicKey, BoxFailed, CryptoError, UnknownSuite

#: The classic suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
X25519 = "x25519"
#: The post-quantum hybrid suite: ML-KEM-768 + X25519, HKDF-SHA256, ChaCha20-Poly1305.
MLKEM768_X25519 = "mlkem768-x25519"
SUITES = (X25519, MLKEM768_X25519)

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
SECRET_SIZE = 32
HYBRID_SEED_SIZE = 32
#: HKDF info of the hybrid key's derivation from the sealing secret (written out here
#: because ``crypto/`` may not import ``protocol/signed.py``; listed in §1).
PQ_SEALING_KEY = b"commune/v1/pq-sealing-key\x00"
_MLKEM768_PUBLIC_SIZE = 1184

_HPKE = {
    X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305),
    MLKEM768_X25519: hpke.Suite(
        hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305
    ),
}
_PUBLIC_SIZE = {X25519: 32, MLKEM768_X25519: _MLKEM768_PUBLIC_SIZE + 32}
#: HPKE's encapsulated key: 32 bytes for X25519, 1088 + 32 for the hybrid
_ENC_SIZE = {
    X25519: hpke.KEM.X25519.enc_length(),
    MLKEM768_X25519: hpke.KEM.MLKEM768_X25519.enc_length(),
}


def _suite(suite: str) -> hpke.Suite:
    try:
        return _HPKE[suite]
    except KeyError:
        known = ", ".join(SUITES)
        raise UnknownSuite(f"unknown sealing suite {suite[:40]!r} (known: {known})") from None


def public_key_size(suite: str) -> int:
    """Bytes of a recipient's public key in ``suite``."""
    _suite(suite)
    return _PUBLIC_SIZE[suite]


def sealed_key_size(suite: str) -> int:
    """Bytes of one wrapped content key in ``suite``: HPKE's enc, the key, the tag."""
    _suite(suite)
    return _ENC_SIZE[suite] + KEY_SIZE + TAG_SIZE


def random_key() -> bytes:
    return os.urandom(KEY_SIZE)


def random_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


def hybrid_public_key(data: bytes) -> hpke.MLKEM768X25519PublicKey:
    """The hybrid public key in ``ML-KEM-768 public || X25519 public`` (1216 bytes)."""
    size = _PUBLIC_SIZE[MLKEM768_X25519]
    if len(data) != size:
        raise BadPublicKey(
            f"an ML-KEM-768 + X25519 sealing key has {size} bytes "
            f"(1184 of ML-KEM-768, then 32 of X25519), not {len(data)}"
        )
    try:
        kem = mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PUBLIC_SIZE])
    except (ValueError, UnsupportedAlgorithm) as e:
        raise BadPublicKey(f"the ML-KEM-768 half of the sealing key is not usable: {e}") from e
    dh = x25519.X25519PublicKey.from_public_bytes(data[_MLKEM768_PUBLIC_SIZE:])
    return hpke.MLKEM768X25519PublicKey(kem, dh)


def hybrid_key_from_seed(seed: bytes) -> tuple[hpke.MLKEM768X25519PrivateKey, bytes]:
    """The X-Wing private key ``seed`` (32 bytes), expanded, and its 1216-byte public key."""
    if len(seed) != HYBRID_SEED_SIZE:
        raise CryptoError(f"an X-Wing private key has {HYBRID_SEED_SIZE} bytes, not {len(seed)}")
    xof = hashes.Hash(hashes.SHAKE256(96))
    xof.update(seed)
    expanded = xof.finalize()
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    dh = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
    # the hybrid key object has no serialisation; its halves do
    public = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
    return hpke.MLKEM768X25519PrivateKey(kem, dh), public


@dataclass(frozen=True, slots=True)
class SealingSecret:
    """A node's private keys for every suite, all from its 32-byte sealing secret.

    Make it once (:meth:`from_secret` derives the ML-KEM-768 key, about 0.1 ms) and use
    it for every trial decryption.
    """

    classic: x25519.X25519PrivateKey
    hybrid: hpke.MLKEM768X25519PrivateKey
    hybrid_public: bytes

    def __repr__(self) -> str:  # never print key material
        return "SealingSecret(<secret>)"

    @classmethod
    def from_secret(cls, secret: bytes) -> SealingSecret:
        if len(secret) != SECRET_SIZE:
            raise CryptoError(f"a sealing secret has {SECRET_SIZE} bytes, not {len(secret)}")
        seed = HKDF(hashes.SHA256(), HYBRID_SEED_SIZE, None, PQ_SEALING_KEY).derive(secret)
        hybrid, public = hybrid_key_from_seed(seed)
        return cls(
            classic=x25519.X25519PrivateKey.from_private_bytes(secret),
            hybrid=hybrid,
            hybrid_public=public,
        )

    def public(self, suite: str) -> bytes:
        """This node's public key in ``suite``: what others seal to."""
        _suite(suite)
        if suite == X25519:
            return self.classic.public_key().public_bytes_raw()
        return self.hybrid_public


def seal_key(suite: str, content_key: bytes, recipient_public: bytes, info: bytes) -> bytes:
    """``content_key`` wrapped to one recipient: HPKE single-shot ``Seal`` with ``info``
    and empty associated data. Raises :class:`BadPublicKey` for an unusable key."""
    hpke_suite = _suite(suite)
    if len(content_key) != KEY_SIZE:
        raise CryptoError(f"a content key has {KEY_SIZE} bytes, not {len(content_key)}")
    public: x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
    if suite == X25519:
        if len(recipient_public) != _PUBLIC_SIZE[X25519]:
            raise BadPublicKey(f"an X25519 sealing key has 32 bytes, not {len(recipient_public)}")
        public = x25519.X25519PublicKey.from_public_bytes(recipient_public)
    else:
        public = hybrid_public_key(recipient_public)
    try:
        return hpke_suite.encrypt(content_key, public, info=info)
    except ValueError as e:  # X25519 of a small-order point gives the all-zero secret
        raise BadPublicKey(f"the {suite} sealing key is not usable: {e}") from e


def open_key(suite: str, blob: bytes, private: SealingSecret, info: bytes) -> bytes | None:
    """The content key in ``blob`` if it was sealed to ``private`` with ``info``; None
    otherwise. Never raises for a blob that is not ours or is damaged: trial decryption
    tries each blob of an event in turn."""
    hpke_suite = _suite(suite)
    if len(blob) != sealed_key_size(suite):
        return None
    key = private.classic if suite == X25519 else private.hybrid
    try:
        content_key = hpke_suite.decrypt(blob, key, info=info)
    except (InvalidTag, ValueError):
        return None
    return content_key if len(content_key) == KEY_SIZE else None


def box(key: bytes, nonce: bytes, inner: bytes, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 (RFC 8439): ``inner`` encrypted, followed by the 16-byte tag."""
    return ChaCha20Poly1305(key).encrypt(nonce, inner, aad)


def unbox(key: bytes, nonce: bytes, boxed: bytes, aad: bytes) -> bytes:
    """The inverse of :func:`box`; :class:`BoxFailed` if it does not open."""
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise BoxFailed("the content key or nonce has the wrong size")
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, boxed, aad)
    except InvalidTag:
        raise BoxFailed(
            "the sealed content does not open with its key (altered, or made for another "
            "author or network)"
        ) from None
