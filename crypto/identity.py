"""A node's secret keys: its Ed25519 identity key and its X25519 sealing key.

Serialised for the key file as
``0x02 || ed25519 seed (32) || x25519 private (32) || store key (32)``: the store key is
the random key the node's files at rest are encrypted under (``crypto/atrest.py``), so
changing the passphrase rewraps it and re-encrypts nothing. Key files written before
the store was encrypted hold ``0x01 || seed || x25519`` (no store key); they still open,
and the node adds a store key the first time it opens them (node/home.py).
The post-quantum sealing key (ML-KEM-768 + X25519) is derived from the X25519 private
key (``crypto/seal.py``), so the key file holds nothing more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.errors import KeyfileError
from crypto.seal import MLKEM768_X25519, SealingSecret
from crypto.sign import SigningKey

_VERSION_NO_STORE_KEY = 1
_VERSION = 2
_SIZE_NO_STORE_KEY = 1 + 32 + 32
_SIZE = 1 + 32 + 32 + 32
STORE_KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class NodeKeys:
    signing: SigningKey
    sealing: bytes  # raw X25519 private key
    #: the key of this node's files at rest (crypto/atrest.py); None in a key file
    #: written before the store was encrypted, until the node adds one
    store_key: bytes | None = None

    def __repr__(self) -> str:  # never print key material
        return "NodeKeys(<secret>)"

    @classmethod
    def generate(cls) -> NodeKeys:
        return cls(
            SigningKey.generate(),
            X25519PrivateKey.generate().private_bytes_raw(),
            os.urandom(STORE_KEY_SIZE),
        )

    def with_store_key(self) -> NodeKeys:
        """These keys with a new random store key (for keys that have none yet)."""
        return NodeKeys(self.signing, self.sealing, os.urandom(STORE_KEY_SIZE))

    @property
    def node_id(self) -> bytes:
        """The node's id is its Ed25519 public key."""
        return self.signing.public

    @property
    def sealing_public(self) -> bytes:
        return X25519PrivateKey.from_private_bytes(self.sealing).public_key().public_bytes_raw()

    def sealing_secret(self) -> SealingSecret:
        """The private keys that open sealed events, for every suite (derive it once)."""
        return SealingSecret.from_secret(self.sealing)

    @property
    def pq_sealing_public(self) -> bytes:
        """The post-quantum sealing key others seal to with suite ``mlkem768-x25519``:
        ``ML-KEM-768 public (1184) || X25519 public (32)``."""
        return self.sealing_secret().public(MLKEM768_X25519)

    def to_bytes(self) -> bytes:
        if self.store_key is None:
            return bytes([_VERSION_NO_STORE_KEY]) + self.signing.seed + self.sealing
        return bytes([_VERSION]) + self.signing.seed + self.sealing + self.store_key

    @classmethod
    def from_bytes(cls, data: bytes) -> NodeKeys:
        if len(data) == _SIZE and data[0] == _VERSION:
            return cls(SigningKey(data[1:33]), data[33:65], data[65:97])
        if len(data) == _SIZE_NO_STORE_KEY and data[0] == _VERSION_NO_STORE_KEY:
            return cls(SigningKey(data[1:33]), data[33:65])
        raise KeyfileError("the key file opened but does not hold Commune node keys")
