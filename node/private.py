"""Private content (docs/PROTOCOL.md §11): sealing events for chosen members, and
reading what this node can open.

What a node opens is kept in memory only, for as long as a command or ``serve`` runs:
the store holds sealed events as ciphertext, and no plaintext of them is ever written
to disk. Opening needs the node's keys, so showing private content asks for the
passphrase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from crypto.errors import CryptoError
from crypto.identity import NodeKeys
from node import network
from node.errors import CannotAddress
from node.service import Node
from protocol import sealed
from protocol.envelope import SEALED, Event
from protocol.errors import BadPayload
from protocol.kinds import POSTABLE
from protocol.kinds import member as member_kinds
from protocol.projections import Change, ItemState, change_of, merge, read_payload


def suite(node: Node) -> str:
    """The network's sealing suite, chosen at its founding (§11.2)."""
    genesis = node.projector.genesis()
    payload = read_payload(genesis) if genesis is not None else None
    if payload is None:
        return member_kinds.CLASSIC_SUITE
    try:
        return member_kinds.parse_genesis(payload).suite
    except BadPayload:
        return member_kinds.CLASSIC_SUITE


def pq_keys(node: Node) -> dict[bytes, bytes]:
    """Members' published post-quantum sealing keys (their latest counted ``node.keys``)."""
    latest: dict[bytes, tuple[int, bytes]] = {}
    for event in node.store.events_of_kinds([member_kinds.SEALING_KEYS]):
        payload = read_payload(event)
        if payload is None or not node.projector.counts(event.author, event.seq):
            continue
        try:
            key = member_kinds.parse_sealing_keys(payload)
        except BadPayload:
            continue
        if event.seq > latest.get(event.author, (0, b""))[0]:
            latest[event.author] = (event.seq, key)
    return {author: key for author, (_, key) in latest.items()}


def publish_keys(node: Node, keys: NodeKeys) -> bool:
    """In a post-quantum network, publish this node's hybrid sealing key once (a card
    is too short for it), so that members can seal to it."""
    if suite(node) != member_kinds.PQ_SUITE or node.membership() is None:
        return False
    mine = keys.pq_sealing_public
    if pq_keys(node).get(node.node_id) == mine or _own_keys_event(node) == mine:
        return False
    node.post(keys, [(member_kinds.SEALING_KEYS, {"v": 1, member_kinds.PQ_SUITE: mine})])
    return True


def _own_keys_event(node: Node) -> bytes | None:
    """The key in this node's own latest ``node.keys`` event, counted or not yet."""
    found = None
    for event in node.store.events_of_kinds([member_kinds.SEALING_KEYS]):
        payload = read_payload(event) if event.author == node.node_id else None
        if payload is not None:
            try:
                found = member_kinds.parse_sealing_keys(payload)
            except BadPayload:
                continue
    return found


def recipients(node: Node, keys: NodeKeys, to: Iterable[str]) -> dict[bytes, bytes]:
    """Node id → public key in the network's suite, for this node and the members named
    in ``to`` (by id, id prefix or name). Only admitted members: a revoked or forked
    node is never sealed to again."""
    chosen = suite(node)
    own = keys.sealing_public if chosen == member_kinds.CLASSIC_SUITE else keys.pq_sealing_public
    out = {keys.node_id: own}
    to = list(to)
    if not to:
        return out
    membership = node.membership()
    if membership is None:
        raise CannotAddress("this node belongs to no network yet: there is no one to address")
    published = pq_keys(node) if chosen == member_kinds.PQ_SUITE else {}
    for text in to:
        member = network.resolve(membership, text)
        if member.state != "admitted":
            raise CannotAddress(
                f"{member.name} is {member.state}: new private events never include it"
            )
        if chosen == member_kinds.CLASSIC_SUITE:
            out[member.node_id] = member.sealing_key
        elif member.node_id in published:
            out[member.node_id] = published[member.node_id]
        elif member.node_id != keys.node_id:
            raise CannotAddress(
                f"{member.name} has not published its post-quantum sealing key yet (a node "
                "does when it first posts or serves); sync, then try again"
            )
    return out


def seal_item(
    node: Node, keys: NodeKeys, kind: str, payload: dict[str, Any], to: dict[bytes, bytes]
) -> tuple[str, bytes]:
    """The (kind, body) of the sealed event that carries ``kind`` and ``payload``."""
    body = sealed.seal(
        suite=suite(node),
        kind=kind,
        payload=payload,
        recipients=to,
        author=keys.node_id,
        network=node.network,
    )
    return SEALED, body


@dataclasses.dataclass(frozen=True, slots=True)
class Private:
    """A sealed event as this node opened it."""

    event: Event
    opened: sealed.Opened


def open_one(event: Event, keys: NodeKeys) -> sealed.Opened | None:
    """A sealed event opened in memory with this node's keys: None when it is not
    addressed to this node, is malformed (it changes nothing) or has no body (erased).
    The one place a node opens a sealed event (the web view's event page uses it too)."""
    if event.body is None:
        return None
    try:
        return sealed.open_sealed(
            event.body,
            author=event.author,
            network=event.network,
            node_id=keys.node_id,
            private=keys.sealing_secret(),
        )
    except (sealed.BadSealed, CryptoError):  # malformed, a newer suite, an odd key
        return None


def opened(node: Node, keys: NodeKeys) -> Iterator[Private]:
    """Every counted sealed event this node can open (redacted ones have no body)."""
    erased = node.projector.redacted()
    for event in node.projector.counted_events_of_kinds([SEALED]):
        if event.id in erased:
            continue
        content = open_one(event, keys)
        if content is not None:
            yield Private(event, content)


def sealed_edits_of(node: Node, keys: NodeKeys, item_id: bytes) -> list[Event]:
    """The sealed edits of a private item that this node can open: a redaction of the
    item names them too (docs/PROTOCOL.md §12), since relays cannot see which item a
    sealed edit changes."""
    found = []
    for private in opened(node, keys):
        if private.event.id == item_id:
            continue
        view = dataclasses.replace(private.event, kind=private.opened.kind)
        change = change_of(view, private.opened.payload)
        if change is not None and not change.create and change.item_id == item_id:
            found.append(private.event)
    return found


def item_latest(node: Node, keys: NodeKeys, kind: str, item_id: bytes) -> int:
    """The highest clock among a private item's values (0 when this node cannot read
    it): what a new edit of it names in ``after`` (§5.3)."""
    state = item_states(node, keys, kind)[0].get((kind, item_id))
    return 0 if state is None else state.latest()


def items(node: Node, keys: NodeKeys, kind: str) -> list[dict[str, Any]]:
    """The private items of one kind, folded in memory as public ones are (§5.3), with
    who can read each."""
    states, readers = item_states(node, keys, kind)
    names = _names(node)
    rows = []
    for state in sorted(states.values(), key=lambda s: (s.ts, s.id)):
        if not state.visible:
            continue
        row = state.as_row()
        row["private"] = True
        row["readers"] = [names.get(r, r.hex()[:12]) for r in readers.get(state.id, ())]
        rows.append(row)
    return rows


def item_states(
    node: Node, keys: NodeKeys, kind: str
) -> tuple[dict[tuple[str, bytes], ItemState], dict[bytes, tuple[bytes, ...]]]:
    """The states of the private items of one kind this node can read, and each one's
    readers. A change counts only when its author is one of the item's readers: a member
    who cannot read an item cannot change it (§11.9)."""
    changes: list[Change] = []
    readers: dict[bytes, tuple[bytes, ...]] = {}
    for private in opened(node, keys):
        view = dataclasses.replace(private.event, kind=private.opened.kind)
        change = change_of(view, private.opened.payload)
        if change is None or change.key[0] != kind:
            continue
        if change.create:
            readers[change.item_id] = private.opened.recipients
        changes.append(change)
    states: dict[tuple[str, bytes], ItemState] = {}
    for change in changes:
        allowed = readers.get(change.item_id)
        if allowed is None:
            continue  # a change of an item this node cannot read (or not yet)
        if not change.create and change.author not in allowed:
            continue
        states[change.key] = merge(states.get(change.key), change)
    return states, readers


def readers_of(node: Node, keys: NodeKeys, item_id: bytes) -> tuple[bytes, ...] | None:
    """Who can read a private item (from its creating event), or None if this node
    cannot open it."""
    for private in opened(node, keys):
        view = dataclasses.replace(private.event, kind=private.opened.kind)
        change = change_of(view, private.opened.payload)
        if change is not None and change.create and change.key[1] == item_id:
            return private.opened.recipients
    return None


def edit_recipients(
    node: Node,
    keys: NodeKeys,
    item_id: bytes,
    extra: Iterable[str],
    readers: tuple[bytes, ...] | None = None,
) -> dict[bytes, bytes]:
    """An edit of a private item goes to the item's readers who are still admitted
    members (and to ``extra``), never to a node revoked since. ``readers``: the item's,
    when the caller has them (:func:`item_states`); else they are looked for."""
    readers = readers_of(node, keys, item_id) if readers is None else readers
    if readers is None:
        raise CannotAddress("this node cannot read that item, so it cannot change it")
    membership = node.membership()
    current = [
        r.hex()
        for r in readers
        if r != keys.node_id
        and membership is not None
        and (m := membership.get(r)) is not None
        and m.state == "admitted"
    ]
    return recipients(node, keys, [*current, *extra])


def _names(node: Node) -> dict[bytes, str]:
    membership = node.membership()
    return {n: m.name for n, m in membership.members.items()} if membership else {}


def is_private_kind(kind: str) -> bool:
    spec = POSTABLE.get(kind)
    return spec is not None and spec.private
