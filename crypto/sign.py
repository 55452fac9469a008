"""Ed25519 identity keys: bytes in, bytes out.

Signing uses pyca ``cryptography``; verification uses libsodium through PyNaCl, which is
about twice as fast here and releases the GIL, so a batch verifies on every core
(docs/BENCHMARKS.md). Every public key that enters the system passes
:func:`check_public_key` first: ``cryptography`` loads small-order Ed25519 keys, and for
some of them a trivial signature verifies for any message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.errors import BadPublicKey

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64


def check_public_key(public: bytes) -> None:
    """Refuse anything but a canonical point of the main subgroup, not of small order.

    libsodium's ``crypto_core_ed25519_is_valid_point`` checks exactly that.
    """
    if len(public) != PUBLIC_KEY_SIZE:
        raise BadPublicKey(f"an Ed25519 public key has 32 bytes, not {len(public)}")
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(public):
        raise BadPublicKey("the Ed25519 public key is not a valid point of prime order")


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public``.

    The caller has checked ``public`` with :func:`check_public_key`. libsodium refuses
    non-canonical signatures (S >= L) and small-order R, so signatures are not malleable.
    """
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key, kept as its 32-byte seed."""

    seed: bytes
    #: the loaded key and its public half, made once: loading costs more than signing
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    _public: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_SIZE:
            raise BadPublicKey("an Ed25519 seed has 32 bytes")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_public", key.public_key().public_bytes_raw())

    def __repr__(self) -> str:  # never print key material
        return "SigningKey(<secret>)"

    @classmethod
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(key.private_bytes_raw())

    @property
    def public(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_key(self) -> Ed25519PrivateKey:
        return self._key
