"""A node card (docs/PROTOCOL.md §6.1): what another node needs to admit this one.

It holds the node's name, its Ed25519 identity key (which is also its node id and
what its TLS certificate is rebuilt from), its X25519 sealing key and any addresses,
all signed by the identity key, so a card proves possession of the key it names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crypto.errors import BadPublicKey, CommuneError
from crypto.sign import SigningKey, check_public_key
from crypto.tls import certificate_signature, rebuild_certificate
from protocol import encoding, signed
from protocol.armor import armor, dearmor
from protocol.errors import BadCard, EncodingError
from protocol.kinds.base import control_char, is_int

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
    #: the signature of the node's TLS certificate, from which any node rebuilds it
    #: (crypto/tls.py, docs/PROTOCOL.md §10.1)
    tls: bytes = b""

    def _signed_part(self) -> bytes:
        return encoding.encode(
            [_VERSION, self.name, self.node_id, self.sealing_key, self.tls, list(self.addresses)]
        )

    def sign(self, key: SigningKey) -> Card:
        if key.public != self.node_id:
            raise BadCard("a card must be signed by the node it names")
        card = self if self.tls else replace(self, tls=certificate_signature(key))
        card._check_contents()  # a node never hands out a card that others would refuse
        return replace(card, signature=signed.sign_card(key, card._signed_part()))

    def to_text(self) -> str:
        return armor(PREFIX, encoding.encode([self._signed_part(), self.signature]))

    @classmethod
    def from_text(cls, text: str) -> Card:
        """The card ``text`` holds; :class:`BadCard` says what is wrong with it, whatever
        its bytes decode to."""
        data = dearmor(PREFIX, text, "node card")
        damaged = "the node card is damaged: its contents are not in Commune's form"
        try:
            outer = encoding.decode(data)
            if not (isinstance(outer, list) and len(outer) == 2):
                raise BadCard(f"{damaged} (not a signed part and a signature)")
            inner_raw, signature = outer
            if not isinstance(inner_raw, bytes) or not isinstance(signature, bytes):
                raise BadCard(f"{damaged} (its signed part and signature must be bytes)")
            inner = encoding.decode(inner_raw)
        except EncodingError as e:
            raise BadCard(f"{damaged} ({e.message})") from None
        if not (isinstance(inner, list) and len(inner) == 6):
            raise BadCard(f"{damaged} (its signed part is not a list of six elements)")
        version, name, node_id, sealing_key, tls, addresses = inner
        if not is_int(version):
            raise BadCard(f"the node card's version must be an integer, not {_kind(version)}")
        if version != _VERSION:
            raise BadCard(f"the node card is of version {version}, which this code does not read")
        if not isinstance(addresses, list):
            raise BadCard(f"the card's addresses must be a list, not {_kind(addresses)}")
        card = cls(name, node_id, sealing_key, tuple(addresses), signature, tls)
        card.check()
        if not signed.verify_card(node_id, inner_raw, signature):
            raise BadCard("the node card's signature does not verify: it was altered")
        try:
            rebuild_certificate(node_id, card.tls)
        except CommuneError:
            raise BadCard(
                "the node card's certificate signature is wrong: the node could not be "
                "reached with it"
            ) from None
        return card

    def check(self) -> None:
        """:class:`BadCard` naming the first field that is of the wrong type or value."""
        self._check_contents()
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise BadCard("the card's signature must be 64 bytes")

    def _check_contents(self) -> None:
        """Everything but the signature."""
        if not isinstance(self.name, str):
            raise BadCard(f"a node's name must be text, not {_kind(self.name)}")
        if not 0 < len(self.name) <= MAX_NAME:
            raise BadCard(f"a node's name has 1 to {MAX_NAME} characters")
        problem = control_char(self.name)
        if problem is not None:
            raise BadCard(f"the node's name {problem}")
        for key, what in ((self.node_id, "node id"), (self.sealing_key, "sealing key")):
            if not isinstance(key, bytes) or len(key) != 32:
                raise BadCard(f"the card's {what} must be 32 bytes, not {_kind(key)}")
        try:
            check_public_key(self.node_id)
        except BadPublicKey as e:
            raise BadCard(f"the card's node id is refused: {e.message}") from None
        if not isinstance(self.addresses, tuple | list):
            raise BadCard(f"the card's addresses must be a list, not {_kind(self.addresses)}")
        if len(self.addresses) > MAX_ADDRESSES:
            raise BadCard(f"a card has at most {MAX_ADDRESSES} addresses")
        for address in self.addresses:
            if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_LEN:
                raise BadCard(
                    f"each of the card's addresses is text of 1 to {MAX_ADDRESS_LEN} "
                    f"characters, not {_kind(address)}"
                )
            problem = control_char(address)
            if problem is not None:
                raise BadCard(f"the card's address {address[:40]!r} {problem}")

        if not isinstance(self.tls, bytes) or len(self.tls) != 64:
            raise BadCard(
                f"the card's certificate signature must be 64 bytes, not {_kind(self.tls)}"
            )


def _kind(value: object) -> str:
    """How a wrong value is named in a message: its type and size, never its whole
    contents (which could be long, or hold anything)."""
    if isinstance(value, str | bytes | list | tuple | dict):
        return (
            f"{'text' if isinstance(value, str) else type(value).__name__} of length {len(value)}"
        )
    return "nothing" if value is None else type(value).__name__
