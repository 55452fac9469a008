"""A node card (docs/PROTOCOL.md §6.1): what another node needs to admit this one.

It holds the node's name, its Ed25519 identity key (which is also its node id and
what its TLS certificate is rebuilt from), its X25519 sealing key and any addresses,
all signed by the identity key, so a card proves possession of the key it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.errors import BadPublicKey
from crypto.sign import SigningKey, check_public_key
from protocol import encoding, signed
from protocol.armor import armor, dearmor
from protocol.errors import BadCard, EncodingError

PREFIX = "commune-card"
_VERSION = 1
MAX_NAME = 100
MAX_ADDRESSES = 8
MAX_ADDRESS_LEN = 200


@dataclass(frozen=True, slots=True)
class Card:
    name: str
    node_id: bytes
    sealing_key: bytes
    addresses: tuple[str, ...] = ()
    signature: bytes = b""

    def _signed_part(self) -> bytes:
        return encoding.encode(
            [_VERSION, self.name, self.node_id, self.sealing_key, list(self.addresses)]
        )

    def sign(self, key: SigningKey) -> Card:
        if key.public != self.node_id:
            raise BadCard("a card must be signed by the node it names")
        return Card(
            self.name,
            self.node_id,
            self.sealing_key,
            self.addresses,
            signed.sign_card(key, self._signed_part()),
        )

    def to_text(self) -> str:
        return armor(PREFIX, encoding.encode([self._signed_part(), self.signature]))

    @classmethod
    def from_text(cls, text: str) -> Card:
        data = dearmor(PREFIX, text, "node card")
        try:
            outer = encoding.decode(data)
            inner_raw, signature = outer
            inner = encoding.decode(inner_raw)
            version, name, node_id, sealing_key, addresses = inner
        except (EncodingError, ValueError, TypeError):
            raise BadCard(
                "the node card is damaged: its contents are not in Commune's form"
            ) from None
        if version != _VERSION:
            raise BadCard(f"the node card is of version {version}, which this code does not read")
        card = cls(name, node_id, sealing_key, tuple(addresses), signature)
        card.check()
        if not signed.verify_card(node_id, inner_raw, signature):
            raise BadCard("the node card's signature does not verify: it was altered")
        return card

    def check(self) -> None:
        if not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_NAME:
            raise BadCard(f"a node's name has 1 to {MAX_NAME} characters")
        for key, what in ((self.node_id, "node id"), (self.sealing_key, "sealing key")):
            if not isinstance(key, bytes) or len(key) != 32:
                raise BadCard(f"the card's {what} must be 32 bytes")
        try:
            check_public_key(self.node_id)
        except BadPublicKey as e:
            raise BadCard(f"the card's node id is refused: {e.message}") from None
        if len(self.addresses) > MAX_ADDRESSES or not all(
            isinstance(a, str) and 0 < len(a) <= MAX_ADDRESS_LEN for a in self.addresses
        ):
            raise BadCard(f"a card has at most {MAX_ADDRESSES} addresses of text")
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise BadCard("the card's signature must be 64 bytes")
