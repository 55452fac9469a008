"""An invite (docs/PROTOCOL.md §6.2): what a new member needs to join a network.

It names the network (its genesis event, whole, so the joiner can check the network
id), the node it was made for, and the admitting node: its card and its addresses,
so the joiner can trust and reach its first peer. It is armored like a card (a
checksum catches a mistyped one) and is useless to anyone but the node it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import encoding
from protocol.armor import armor, dearmor
from protocol.card import Card
from protocol.envelope import NO_NETWORK, Event
from protocol.errors import BadCard, BadPayload, EncodingError, InvalidEvent
from protocol.kinds import member
from protocol.kinds.base import is_int
from protocol.projections import read_payload
from protocol.validate import check_event

PREFIX = "commune-invite"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Invite:
    genesis: Event
    invitee: bytes
    admitter: Card

    @property
    def network_id(self) -> bytes:
        return self.genesis.id

    @property
    def network_name(self) -> str:
        payload = read_payload(self.genesis)
        assert payload is not None  # checked when made or read
        return member.parse_genesis(payload).name

    def to_text(self) -> str:
        data = encoding.encode([_VERSION, self.genesis.raw, self.invitee, self.admitter.to_text()])
        return armor(PREFIX, data)

    @classmethod
    def from_text(cls, text: str) -> Invite:
        data = dearmor(PREFIX, text, "invite")
        damaged = "the invite is damaged: its contents are not in Commune's form"
        try:
            value = encoding.decode(data)
        except EncodingError as e:
            raise BadCard(f"{damaged} ({e.message})") from None
        if not (isinstance(value, list) and len(value) == 4):
            raise BadCard(f"{damaged} (not a list of four elements)")
        version, genesis_raw, invitee, card_text = value
        if not is_int(version):
            raise BadCard(f"{damaged} (its version is not an integer)")
        if version != _VERSION:
            raise BadCard(f"the invite is of version {version}, which this code does not read")
        if not isinstance(genesis_raw, bytes):
            raise BadCard(f"{damaged} (its genesis event is not bytes)")
        if not isinstance(card_text, str):
            raise BadCard(f"{damaged} (the admitter's card is not text)")
        if not isinstance(invitee, bytes) or len(invitee) != 32:
            raise BadCard("the invite is damaged: it does not name a node")
        try:
            genesis = check_event(genesis_raw)
        except InvalidEvent as e:
            raise BadCard(f"the invite's genesis event is refused: {e.message}") from None
        check_genesis(genesis)
        return cls(genesis, invitee, Card.from_text(card_text))


def check_genesis(genesis: Event) -> None:
    """A genesis event: kind ``network``, written outside any network, well formed."""
    payload = read_payload(genesis)
    if genesis.kind != member.GENESIS or genesis.network != NO_NETWORK or payload is None:
        raise BadCard("the invite's first event is not the founding event of a network")
    try:
        member.parse_genesis(payload)
    except BadPayload as e:
        raise BadCard(f"the network's founding event is malformed: {e.message}") from None
