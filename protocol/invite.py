"""An invite (docs/PROTOCOL.md §6.2): what a new member needs to join a network.

It names the network (its genesis event, whole, so the joiner can check the network
id), the node it was made for, the admitting node's card, the *proof* of the new node's
admission (the signed admin actions that admitted it and made admins of those who did,
and the network's other admin actions as far as they fit: protocol/admission.py), and
the addresses members can be reached at. With it the new node can reach, and be let in
by, any member: not only its admitter, and with the admitter offline (§6.3). It is
armored like a card (a checksum catches a mistyped one) and is useless to anyone but
the node it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import admission, encoding
from protocol.armor import armor, dearmor
from protocol.card import MAX_ADDRESS_LEN, Card
from protocol.envelope import NO_NETWORK, Event
from protocol.errors import BadCard, BadPayload, EncodingError, InvalidEvent, ProofRefused
from protocol.kinds import member
from protocol.kinds.base import control_char, is_int
from protocol.projections import read_payload
from protocol.validate import check_event

PREFIX = "commune-invite"
_VERSION = 2
#: Addresses of members an invite names, at most.
MAX_ADDRESSES = 16


@dataclass(frozen=True, slots=True)
class Invite:
    genesis: Event
    invitee: bytes
    admitter: Card
    #: signed admin actions that admit ``invitee`` (and more of the network's, as fit)
    proof: tuple[Event, ...] = ()
    #: where members can be reached (https://HOST:PORT), the admitter's first
    addresses: tuple[str, ...] = field(default=())

    @property
    def network_id(self) -> bytes:
        return self.genesis.id

    @property
    def network_name(self) -> str:
        payload = read_payload(self.genesis)
        assert payload is not None  # checked when made or read
        return member.parse_genesis(payload).name

    def to_text(self) -> str:
        data = encoding.encode(
            [
                _VERSION,
                self.genesis.raw,
                self.invitee,
                self.admitter.to_text(),
                [e.raw for e in self.proof],
                list(self.addresses),
            ]
        )
        return armor(PREFIX, data)

    @classmethod
    def from_text(cls, text: str) -> Invite:
        data = dearmor(PREFIX, text, "invite")
        damaged = "the invite is damaged: its contents are not in Commune's form"
        try:
            value = encoding.decode(data)
        except EncodingError as e:
            raise BadCard(f"{damaged} ({e.message})") from None
        if not isinstance(value, list) or not value:
            raise BadCard(f"{damaged} (not a list)")
        version = value[0]
        if not is_int(version):
            raise BadCard(f"{damaged} (its version is not an integer)")
        if version == 1:
            raise BadCard(
                "this invite was made by an older Commune (invite version 1), which does not "
                "carry the proof of admission: ask the admin to update Commune and run "
                "`commune admit CARD` again for a new invite"
            )
        if version != _VERSION:
            raise BadCard(f"the invite is of version {version}, which this code does not read")
        if len(value) != 6:
            raise BadCard(f"{damaged} (not a list of six elements)")
        _, genesis_raw, invitee, card_text, proof_raws, addresses = value
        if not isinstance(genesis_raw, bytes):
            raise BadCard(f"{damaged} (its genesis event is not bytes)")
        if not isinstance(card_text, str):
            raise BadCard(f"{damaged} (the admitter's card is not text)")
        if not isinstance(invitee, bytes) or len(invitee) != 32:
            raise BadCard("the invite is damaged: it does not name a node")
        if not isinstance(proof_raws, list) or not all(isinstance(r, bytes) for r in proof_raws):
            raise BadCard(f"{damaged} (its proof of admission is not a list of events)")
        try:
            genesis = check_event(genesis_raw)
        except InvalidEvent as e:
            raise BadCard(f"the invite's genesis event is refused: {e.message}") from None
        info = check_genesis(genesis)
        try:
            proof = admission.check(admission.Known(genesis, info, ()), proof_raws, invitee)
        except ProofRefused as e:
            raise BadCard(f"the invite's proof of admission is refused: {e.message}") from None
        admitter = Card.from_text(card_text)
        actions = [a for a in (admission.action_of(e) for e in proof) if a is not None]
        if admitter.node_id != genesis.author and admitter.node_id not in {
            a.action.node for a in actions
        }:
            raise BadCard("the invite's admitter is not a member its proof names")
        return cls(genesis, invitee, admitter, tuple(proof), check_addresses(addresses))


def check_addresses(addresses: object) -> tuple[str, ...]:
    if not isinstance(addresses, list) or len(addresses) > MAX_ADDRESSES:
        raise BadCard(f"the invite's addresses must be a list of at most {MAX_ADDRESSES}")
    for address in addresses:
        if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_LEN:
            raise BadCard(f"each of the invite's addresses is text of 1 to {MAX_ADDRESS_LEN}")
        problem = control_char(address)
        if problem is not None:
            raise BadCard(f"the invite's address {address[:40]!r} {problem}")
    return tuple(addresses)


def check_genesis(genesis: Event) -> member.Genesis:
    """A genesis event: kind ``network``, written outside any network, well formed."""
    payload = read_payload(genesis)
    if genesis.kind != member.GENESIS or genesis.network != NO_NETWORK or payload is None:
        raise BadCard("the invite's first event is not the founding event of a network")
    try:
        return member.parse_genesis(payload)
    except BadPayload as e:
        raise BadCard(f"the network's founding event is malformed: {e.message}") from None
