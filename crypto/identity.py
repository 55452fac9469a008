"""A node's secret keys: its Ed25519 identity key and its X25519 sealing key.

Serialised as ``0x01 || ed25519 seed (32) || x25519 private (32)`` for the key file.
The post-quantum sealing key (ML-KEM-768 + X25519) is derived from the X25519 private
key (``crypto/seal.py``), so the key file holds nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.errors import KeyfileError
from crypto.seal import MLKEM768_X25519, SealingSecret
from crypto.sign import SigningKey

_VERSION = 1
_SIZE = 1 + 32 + 32


@dataclass(frozen=True, slots=True)
class NodeKeys:
    signing: SigningKey
    sealing: bytes  # raw X25519 private key

    def __repr__(self) -> str:  # never print key material
        return "NodeKeys(<secret>)"

    @classmethod
    def generate(cls) -> NodeKeys:
        return cls(SigningKey.generate(), X25519PrivateKey.generate().private_bytes_raw())

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
        return bytes([_VERSION]) + self.signing.seed + self.sealing

    @classmethod
    def from_bytes(cls, data: bytes) -> NodeKeys:
        if len(data) != _SIZE or data[0] != _VERSION:
            raise KeyfileError("the key file opened but does not hold Commune node keys")
        return cls(SigningKey(data[1:33]), data[33:65])
