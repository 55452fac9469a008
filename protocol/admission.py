"""Admission that travels with the node (docs/PROTOCOL.md §6.3): the signed membership
events that prove a node was admitted, so that any member can accept it before the
admin's feed has reached that member, with the admin offline.

A *proof* for a node is the genesis of its network and a handful of admin actions (the
admission of the node, and, for every admin on the way, the actions that made it an
admin), each a whole signed event of some admin's feed. They are checked by the same
rules as the log: each event on its own (encoding, signature, network), then the
membership fold of §5.5 over the actions the checker already holds *together with*
the proof's. So a proof can only add what its signed events say, and what the checker
knows already (a revocation, a demotion) still holds: a revoked node's old proof is
refused by any member that has seen the revocation.

What a proof changes is bounded: it lets a node in (its certificate is pinned, its
events enter the log); it never decides what *counts*, which the log alone decides
(§5.5), so two nodes with the same log have the same state whatever proofs they saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import encoding
from protocol.envelope import Event
from protocol.errors import BadPayload, EncodingError, InvalidEvent, ProofRefused
from protocol.kinds import member as member_kinds
from protocol.membership import ActionEvent, Membership, fold
from protocol.projections import read_payload
from protocol.validate import check_event

__all__ = [
    "INTRO_VERSION",
    "MAX_PROOF_BYTES",
    "MAX_PROOF_EVENTS",
    "Introduction",
    "Known",
    "ProofRefused",
    "action_of",
    "build",
    "check",
]

#: A proof names at most this many events (a chain of admins is short), in all at most
#: this many bytes: a peer that is not known yet controls them.
MAX_PROOF_EVENTS = 64
MAX_PROOF_BYTES = 64 * 1024
#: What an introduction says (§10.7): version, network, the node it is for, the proof.
INTRO_VERSION = 1


@dataclass(frozen=True, slots=True)
class Known:
    """What a checker already holds: its network's genesis and every admin action (with
    the fork evidence) it has, in its log or waiting to be placed."""

    genesis: Event
    info: member_kinds.Genesis
    actions: tuple[ActionEvent, ...]
    forks: tuple[tuple[bytes, int], ...] = ()

    def membership(self, extra: Iterable[ActionEvent] = ()) -> Membership:
        """The membership these actions, and ``extra``, give by the rules of §5.5."""
        known = {a.id for a in self.actions}
        actions = [*self.actions, *(a for a in extra if a.id not in known)]
        return fold(self.genesis, self.info, actions, dict(self.forks))


def action_of(event: Event) -> ActionEvent | None:
    """The admin action an event makes, or None (another kind, or a malformed payload,
    which changes nothing: §5.5)."""
    if event.kind not in member_kinds.ACTIONS:
        return None
    payload = read_payload(event)
    if payload is None:
        return None
    try:
        action = member_kinds.parse_action(event.kind, payload)
    except BadPayload:
        return None
    return ActionEvent(event.id, event.author, event.seq, event.ts, action)


def build(known: Known, events: Sequence[Event], subject: bytes) -> list[Event]:
    """The smallest proof this node can give that ``subject`` is admitted: the events
    among ``events`` (admin actions it holds) that admitted it and made admins of those
    who did, back to the founder; every action it holds when that is not enough. Empty
    when ``subject`` is not an admitted member as far as ``known`` goes."""
    membership = known.membership()
    member = membership.get(subject)
    if member is None or member.state != "admitted":
        return []
    if subject == known.genesis.author:
        return []  # the founder: the genesis proves it
    acting: dict[bytes, list[Event]] = {}
    for event in events:
        action = action_of(event)
        if action is not None and action.id not in membership.void:
            acting.setdefault(action.action.node, []).append(event)
    chosen: dict[bytes, Event] = {}
    todo, seen = [subject], set()
    while todo:
        node = todo.pop()
        if node in seen or node == known.genesis.author:
            continue
        seen.add(node)
        for event in acting.get(node, []):
            action = action_of(event)
            assert action is not None
            if isinstance(action.action, member_kinds.Revoke):
                continue
            chosen[event.id] = event
            todo.append(event.author)
    proof = sorted(chosen.values(), key=lambda e: (e.ts, e.author, e.seq, e.id))
    if _admits(known.genesis, known.info, proof, subject):
        return proof[:MAX_PROOF_EVENTS]
    everything = [e for e in events if action_of(e) is not None]
    return everything[:MAX_PROOF_EVENTS]


def _admits(
    genesis: Event, info: member_kinds.Genesis, proof: Iterable[Event], node: bytes
) -> bool:
    actions = [a for a in (action_of(e) for e in proof) if a is not None]
    member = fold(genesis, info, actions).get(node)
    return member is not None and member.state == "admitted"


def check(known: Known, raws: Sequence[bytes], subject: bytes) -> list[Event]:
    """The events of a proof that ``subject`` is admitted, checked (§6.3): each event on
    its own, of this network, an admin action; then the membership fold over what the
    checker holds and the proof must show ``subject`` admitted. :class:`ProofRefused`
    says what is wrong. Returns the proof's events (to keep until they can be placed)."""
    if len(raws) > MAX_PROOF_EVENTS:
        raise ProofRefused(f"a proof of admission has at most {MAX_PROOF_EVENTS} events")
    if sum(len(r) for r in raws) > MAX_PROOF_BYTES:
        raise ProofRefused(f"a proof of admission is at most {MAX_PROOF_BYTES} bytes")
    events: list[Event] = []
    actions: list[ActionEvent] = []
    for raw in raws:
        try:
            event = check_event(raw)
        except InvalidEvent as e:
            raise ProofRefused(
                f"an event of the proof is refused ({e.code}: {e.message})"
            ) from None
        if event.network != known.genesis.id:
            raise ProofRefused("an event of the proof belongs to another network")
        action = action_of(event)
        if action is None:
            raise ProofRefused(f"a proof holds admin actions only, not a {event.kind!r} event")
        events.append(event)
        actions.append(action)
    member = known.membership(actions).get(subject)
    if member is None:
        raise ProofRefused("the proof does not show this node admitted by an admin")
    if member.state != "admitted":
        raise ProofRefused(f"this node is {member.state} in this network")
    return events


# --- the introduction (§10.7) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Introduction:
    """What a node sends a member that does not know it yet: its network, its node id
    and the proof of its admission."""

    network: bytes
    node: bytes
    proof: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encoding.encode(
            {
                "v": INTRO_VERSION,
                "network": self.network,
                "node": self.node,
                "proof": list(self.proof),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Introduction:
        """:class:`ProofRefused` for anything but a well-formed introduction."""
        if len(data) > MAX_PROOF_BYTES + 1024:
            raise ProofRefused("the introduction is too large")
        try:
            doc = encoding.decode(data)
        except EncodingError as e:
            raise ProofRefused(f"the introduction is not canonical ({e.message})") from None
        if not isinstance(doc, dict) or doc.get("v") != INTRO_VERSION:
            raise ProofRefused("the introduction is not of a version this node reads")
        network, node, proof = doc.get("network"), doc.get("node"), doc.get("proof")
        if not (isinstance(network, bytes) and len(network) == 32):
            raise ProofRefused("the introduction names no network")
        if not (isinstance(node, bytes) and len(node) == 32):
            raise ProofRefused("the introduction names no node")
        if not (
            isinstance(proof, list)
            and len(proof) <= MAX_PROOF_EVENTS
            and all(isinstance(r, bytes) for r in proof)
        ):
            raise ProofRefused(
                f"the introduction's proof is not a list of at most {MAX_PROOF_EVENTS} events"
            )
        return cls(network, node, tuple(proof))
