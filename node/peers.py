"""Whom this node trusts and where it finds them (docs/PROTOCOL.md §10.1).

Trust follows the membership in the log: the certificates of members that are admitted
(not revoked, not forked) are pinned, plus the first peer of a node that joined and
has not yet seen its admitter's admission of it (from the invite's card). Addresses come
from cards, from ``peer add``, and from members' ``node.address`` events in the log, so
a node that knows one peer comes to know the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography import x509

from crypto import tls
from crypto.errors import CommuneError
from node.service import Node
from protocol.card import Card
from protocol.kinds import member as member_kinds
from protocol.projections import read_payload

MANUAL = "peer_urls"


class BadPeerAddress(CommuneError):
    code = "bad-address"


def _tls_keys(node: Node) -> dict[bytes, bytes]:
    """node id → certificate signature, for every node this node trusts."""
    keys: dict[bytes, bytes] = {}
    membership = node.membership()
    excluded: set[bytes] = set()
    if membership is not None:
        for node_id, m in membership.members.items():
            if m.state == "admitted":
                keys[node_id] = m.tls
            else:
                excluded.add(node_id)
    for (card_text,) in node.store.execute("SELECT card FROM peers"):
        card = Card.from_text(card_text)
        if card.node_id not in excluded and card.node_id not in keys:
            keys[card.node_id] = card.tls
    keys.pop(node.node_id, None)
    return keys


def trusted_ids(node: Node) -> set[bytes]:
    return set(_tls_keys(node))


def trusted_certificates(node: Node) -> list[x509.Certificate]:
    certs = []
    for node_id, signature in sorted(_tls_keys(node).items()):
        try:
            certs.append(tls.rebuild_certificate(node_id, signature))
        except CommuneError:
            continue  # a member whose certificate signature is wrong cannot connect
    return certs


def check_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith("https://") or len(url) > 200 or any(c.isspace() for c in url):
        raise BadPeerAddress(
            f"{url!r} is not a peer address: give it as https://HOST:PORT (for example "
            "https://203.0.113.7:8470)"
        )
    return url


@dataclass(frozen=True, slots=True)
class Peer:
    url: str
    node_id: bytes | None
    name: str
    source: str


def add_manual(node: Node, url: str) -> str:
    url = check_url(url)
    urls = manual_urls(node)
    if url not in urls:
        with node.store.write():
            node.store.set_meta(MANUAL, json.dumps([*urls, url]))
    return url


def manual_urls(node: Node) -> list[str]:
    value = node.store.get_meta(MANUAL)
    return list(json.loads(value)) if value else []


def known_peers(node: Node) -> list[Peer]:
    """Every address this node can sync with, one per URL, without itself."""
    trusted = trusted_ids(node)
    membership = node.membership()
    names = {n: m.name for n, m in membership.members.items()} if membership else {}
    found: dict[str, Peer] = {}
    for url in manual_urls(node):
        found[url] = Peer(url, None, "", "peer add")
    for node_id, name, url in node.store.execute("SELECT node_id, name, url FROM peers"):
        if url and bytes(node_id) in trusted:
            found.setdefault(url, Peer(url, bytes(node_id), name, "invite"))
    latest: dict[bytes, tuple[int, list[str]]] = {}
    for event in node.store.events_of_kinds([member_kinds.ADDRESS]):
        if event.author not in trusted or not node.projector.counts(event.author, event.seq):
            continue
        payload = read_payload(event)
        addresses = payload.get("addresses") if payload else None
        if isinstance(addresses, list) and event.seq > latest.get(event.author, (0, []))[0]:
            latest[event.author] = (event.seq, [a for a in addresses if isinstance(a, str)])
    for author, (_, addresses) in latest.items():
        for address in addresses:
            try:
                url = check_url(address)
            except BadPeerAddress:
                continue
            found.setdefault(url, Peer(url, author, names.get(author, ""), "log"))
    return list(found.values())
