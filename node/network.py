"""Founding a network, admitting, joining, revoking, and changing roles: each writes the
membership events of docs/PROTOCOL.md §5.5 through ``Node.post``."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import peers as peer_list
from node.errors import MembershipError, NotAdmin
from node.projector import admin_action_events
from node.service import IngestResult, Node
from protocol import admission
from protocol.card import MAX_ADDRESSES as MAX_CARD_ADDRESSES
from protocol.card import Card
from protocol.envelope import NO_NETWORK, Event
from protocol.errors import BadCard, BadPayload
from protocol.invite import Invite, check_genesis
from protocol.kinds import member
from protocol.kinds import redact as redact_kind
from protocol.membership import Member, Membership
from protocol.projections import read_payload

#: Addresses an invite names, at most (protocol/invite.py).
MAX_INVITE_ADDRESSES = 16


def _require_network(node: Node) -> Membership:
    membership = node.membership()
    if membership is None:
        raise MembershipError(
            "this node belongs to no network yet: found one with `commune found NAME`, "
            "or join one with `commune join INVITE`"
        )
    return membership


def _require_admin(node: Node, what: str) -> Membership:
    membership = _require_network(node)
    me = membership.get(node.node_id)
    if me is None or not me.is_admin:
        names = ", ".join(sorted(m.name for m in membership.admins())) or "none"
        raise NotAdmin(f"only an admin can {what}; this network's admins: {names}")
    return membership


def resolve(membership: Membership, text: str) -> Member:
    """A member by node id (or a prefix of at least 6 hex digits) or by exact name. A
    text that is both one member's name and the start of another's id is refused,
    naming both: a member could otherwise grind a key whose id starts with another
    collective's name and receive what was meant for it."""
    wanted = text.strip().lower()
    by_id = [
        m for n, m in membership.members.items() if len(wanted) >= 6 and n.hex().startswith(wanted)
    ]
    by_name = [m for m in membership.members.values() if m.name.lower() == wanted]
    found = {m.node_id: m for m in [*by_id, *by_name]}
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise MembershipError(f"no member of this network has the id or name {text!r}")
    if by_id and by_name:
        names = ", ".join(f"{m.name} ({m.node_id.hex()[:12]}…)" for m in by_name)
        ids = ", ".join(f"{m.name} ({m.node_id.hex()[:12]}…)" for m in by_id)
        raise MembershipError(
            f"{text!r} is the name of {names} and the start of the id of {ids}: give the "
            "full node id of the one you mean"
        )
    choices = ", ".join(f"{m.name} ({m.node_id.hex()[:12]}…)" for m in found.values())
    raise MembershipError(f"{text!r} matches several members: {choices}; give more of the id")


def found(node: Node, keys: NodeKeys, name: str, suite: str = member.CLASSIC_SUITE) -> Event:
    """§5.5: write the genesis; the network id is its id; this node is the first admin."""
    name = name.strip()
    if not 0 < len(name) <= member.MAX_NAME:
        raise MembershipError(f"a network's name has 1 to {member.MAX_NAME} characters")
    if node.network != NO_NETWORK:
        raise MembershipError("this node already belongs to a network; a node belongs to one only")
    identity = node.home.identity()
    payload = member.genesis_payload(
        member.Genesis(name, identity.name, identity.sealing_key, identity.card.tls, suite)
    )

    def record(events: list[Event]) -> None:
        node.store.set_meta("network", events[0].id.hex())
        node.store.set_meta("genesis", events[0].raw.hex())

    return node.post(keys, [(member.GENESIS, payload)], after=record)[0]


def advertised(node: Node, author: bytes) -> tuple[str, ...]:
    """The addresses ``author`` last published in this node's log (``node.address``)."""
    best: tuple[int, tuple[str, ...]] = (0, ())
    for event in node.store.events_of_kinds([member.ADDRESS]):
        if event.author != author or event.seq <= best[0]:
            continue
        payload = read_payload(event)
        try:
            best = (event.seq, member.parse_addresses(payload) if payload is not None else ())
        except BadPayload:
            continue
    return best[1]


def current_card(node: Node, keys: NodeKeys) -> Card:
    """This node's card with the addresses it publishes: signed again and kept in
    ``node.json`` when they changed, so ``card``, invites and backups carry them."""
    card = node.home.identity().card
    addresses = advertised(node, node.node_id)[:MAX_CARD_ADDRESSES]
    if addresses and card.addresses != addresses:
        card = dataclasses.replace(card, addresses=addresses, signature=b"").sign(keys.signing)
        node.home.update_card(card)
    return card


def invite_for(node: Node, node_id: bytes, card: Card | None = None) -> Invite:
    """The invite for a node this node admitted: the network's genesis, this node's card,
    the proof of the node's admission (and as many of the network's other admin actions
    as fit: revocations first, so the newcomer trusts no revoked node), and the
    addresses of the members that published some (docs/PROTOCOL.md §6.2, §6.3)."""
    genesis = node.projector.genesis()
    if genesis is None:
        raise MembershipError("this node belongs to no network")
    events = admin_action_events(node.store)
    chain = node.projector.proof_for(node_id)
    if not chain and node_id != genesis.author:
        raise MembershipError("that node is not an admitted member here; no invite for it")
    chosen = {e.id: e for e in chain}
    rest = sorted(
        (e for e in events if e.id not in chosen),
        key=lambda e: (e.kind != member.REVOKE, e.ts, e.author, e.seq),
    )
    for event in rest:
        if len(chosen) >= admission.MAX_PROOF_EVENTS:
            break
        chosen[event.id] = event
    proof = tuple(sorted(chosen.values(), key=lambda e: (e.ts, e.author, e.seq, e.id)))
    card = card or node.home.identity().card
    urls = list(card.addresses)
    membership = node.projector.trust()
    for member_id in sorted(membership.members if membership else ()):
        if member_id not in (node.node_id, node_id):
            urls.extend(a for a in advertised(node, member_id) if a not in urls)
    return Invite(genesis, node_id, card, proof, tuple(urls[:MAX_INVITE_ADDRESSES]))


def admit(node: Node, keys: NodeKeys, card_text: str, admin: bool) -> tuple[Event | None, Invite]:
    """Admit the node a card names; the event is None when it was admitted already (the
    invite is printed again, nothing is written)."""
    card = Card.from_text(card_text)
    membership = _require_admin(node, "admit a node")
    mine = current_card(node, keys)
    existing = membership.get(card.node_id)
    if existing is not None:
        if existing.state != "admitted":
            raise MembershipError(
                f"{existing.name} was {existing.state}; that key can never come back. "
                "Its collective must make a new node (`commune init`) and send its new card"
            )
        return None, invite_for(node, card.node_id, mine)
    action = member.Admit(card.node_id, card.name, card.sealing_key, admin, card.tls)
    event = node.post(keys, [(member.ADMIT, member.action_payload(action))])[0]
    return event, invite_for(node, card.node_id, mine)


def join(node: Node, invite_text: str) -> tuple[Invite, IngestResult | None]:
    """Store what the invite brings: the network's genesis, the proof of this node's
    admission (kept until it can be placed in the log, and trusted meanwhile: §6.3), and
    where to reach the admitter and the other members."""
    invite = Invite.from_text(invite_text)
    if invite.invitee != node.node_id:
        raise BadCard(
            f"this invite was made for node {invite.invitee.hex()[:12]}…, not for this node "
            f"({node.node_id.hex()[:12]}…): send this node's card (`commune card`) to an admin"
        )
    check_genesis(invite.genesis)
    if node.network == invite.network_id:
        return invite, None  # joined already: nothing to do
    if node.network != NO_NETWORK:
        raise MembershipError("this node already belongs to another network")
    with node.store.write():
        node.store.set_meta("network", invite.network_id.hex())
        node.store.set_meta("genesis", invite.genesis.raw.hex())
        # Before its own admission arrives, the node's feed no longer counts here (it
        # would not on any other node): the projections follow (§5.5).
        if not node.store.get_meta("feed_unconfirmed"):
            node.store.set_meta("feed_unconfirmed", "join")
        node.store.add_peer(invite.admitter)
        node.projector.rebuild()
    for url in invite.addresses:
        if url not in invite.admitter.addresses:
            with contextlib.suppress(CommuneError):
                peer_list.add_manual(node, url)
    result = node.ingest([invite.genesis.raw, *(e.raw for e in invite.proof)])
    return invite, result


def revoke(node: Node, keys: NodeKeys, who: str) -> tuple[Event, Member, int]:
    """§5.5: revoke a member; its events above the last seq this node has seen of it
    (the cutoff) stop counting everywhere."""
    membership = _require_admin(node, "revoke a node")
    target = resolve(membership, who)
    if target.node_id == node.node_id:
        raise MembershipError("a node cannot revoke itself; ask another admin")
    if target.state == "revoked":
        raise MembershipError(f"{target.name} is revoked already (cutoff {target.cutoff})")
    head = node.store.head(target.node_id)
    action = member.Revoke(target.node_id, head.seq if head else 0)
    event = node.post(keys, [(member.REVOKE, member.action_payload(action))])[0]
    return event, target, action.cutoff


def set_role(node: Node, keys: NodeKeys, who: str, admin: bool) -> tuple[Event, Member]:
    """§5.5: promote a member to admin, or demote an admin."""
    membership = _require_admin(node, "change roles")
    target = resolve(membership, who)
    if target.state != "admitted":
        raise MembershipError(f"{target.name} is {target.state}; its role cannot change")
    if target.is_admin == admin:
        raise MembershipError(f"{target.name} is {'an admin' if admin else 'not an admin'} already")
    if not admin and [m.node_id for m in membership.admins()] == [target.node_id]:
        raise MembershipError(f"{target.name} is the last admin; promote another member first")
    head = node.store.head(target.node_id)
    action = member.Role(target.node_id, admin, head.seq if head else 0)
    event = node.post(keys, [(member.ROLE, member.action_payload(action))])[0]
    return event, target


def set_limits(
    node: Node, keys: NodeKeys, events_per_day: int | None, bytes_per_day: int | None
) -> tuple[Event, member.Limits]:
    """§4.6: raise what one member may add to every node's store per day (admins only).
    A budget only rises: what nodes took in under it stays in every log."""
    _require_admin(node, "change the network's daily budget")
    now = node.projector.limits()
    wanted = member.Limits(
        now.events_per_day if events_per_day is None else events_per_day,
        now.bytes_per_day if bytes_per_day is None else bytes_per_day,
    )
    if wanted.events_per_day < now.events_per_day or wanted.bytes_per_day < now.bytes_per_day:
        raise MembershipError(
            f"the daily budget only rises: it is {now.events_per_day} events and "
            f"{now.bytes_per_day} bytes per member now"
        )
    if wanted == now:
        raise MembershipError("that is the daily budget already; give a higher one")
    payload = {
        "v": 1,
        "events_per_day": wanted.events_per_day,
        "bytes_per_day": wanted.bytes_per_day,
    }
    try:
        member.parse_limits(payload)
    except BadPayload as e:
        raise MembershipError(e.message) from None
    return node.post(keys, [(member.LIMITS, payload)])[0], wanted


def publish_addresses(node: Node, keys: NodeKeys, urls: list[str]) -> bool:
    """Write a ``node.address`` event when ``urls`` differ from the last one this node
    published (§5.5): members learn where to reach each other through the log."""
    _require_network(node)
    last: tuple[str, ...] | None = None
    for event in node.store.events_of_kinds([member.ADDRESS]):
        if event.author == node.node_id:
            payload = read_payload(event)
            try:
                last = member.parse_addresses(payload) if payload is not None else last
            except BadPayload:
                continue
    if last == tuple(urls):
        return False
    node.post(keys, [(member.ADDRESS, {"v": 1, "addresses": list(urls)})])
    return True


def find_event(node: Node, text: str) -> Event:
    """A stored event (in the log, or kept as fork evidence) by its id or a unique
    prefix of at least 6 hex digits."""
    wanted = text.strip().lower()
    if len(wanted) < 6 or any(c not in "0123456789abcdef" for c in wanted):
        raise MembershipError(f"{text!r} is not an event id: give the id (6+ hex digits)")
    rows = node.store.find_by_prefix(wanted)
    if len(rows) != 1:
        raise MembershipError(
            f"{'no' if not rows else 'more than one'} event has an id starting with {wanted}"
        )
    return rows[0]


def redact(
    node: Node,
    keys: NodeKeys,
    text: str,
    sealed_edits: Callable[[bytes], list[Event]] | None = None,
) -> Event:
    """§12: erase an event's body everywhere; its author or an admin. An item's public
    edits go with it by rule; its sealed edits (``sealed_edits``: those this node can
    open) are redacted too, each by its own redaction, when this node may (their
    author, or an admin)."""
    membership = _require_network(node)
    target = find_event(node, text)
    if not redact_kind.may_redact(target.kind):
        raise MembershipError(
            f"a {target.kind} event decides who is in the network; it cannot be redacted"
        )
    me = membership.get(node.node_id)
    admin = me is not None and me.is_admin
    if target.author != node.node_id and not admin:
        raise NotAdmin("only the event's author or an admin can redact it")
    erased = node.projector.redacted()
    if target.id in erased:
        raise MembershipError("that event is redacted already")
    also = [
        e.id
        for e in (sealed_edits(target.id) if sealed_edits is not None else [])
        if e.id not in erased and (admin or e.author == node.node_id)
    ]
    payloads = [(redact_kind.KIND, redact_kind.payload(i)) for i in [target.id, *also]]
    return node.post(keys, payloads)[0]
