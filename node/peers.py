"""Whom this node trusts and where it finds them (docs/PROTOCOL.md §10.1).

Trust follows the membership: the certificates of members that are admitted (not
revoked, not forked) by the log and by the admissions this node holds before its log
does (an invite's proof, an introduction: docs/PROTOCOL.md §6.3) are pinned, and
nothing else is: a card, a peers table or a backup gives addresses, never trust.
Addresses come
from cards, from ``peer add``, and from members' ``node.address`` events in the log, so
a node that knows one peer comes to know the others.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from crypto import tls
from crypto.errors import CommuneError
from node.errors import BadPeerAddress
from node.service import Node
from protocol.card import Card
from protocol.kinds import member as member_kinds
from protocol.projections import read_payload

if TYPE_CHECKING:
    from cryptography import x509

MANUAL = "peer_urls"
#: pinned certificates kept in memory, at most (about 1 KiB each)
MEMBER_CACHE = 4096


def _tls_keys(node: Node) -> dict[bytes, bytes]:
    """node id → certificate signature, for every node this node trusts: the admitted
    members that its log and the admissions it holds give (docs/PROTOCOL.md §6.3),
    nothing else. The peers table and ``peer add`` give addresses, never trust."""
    trust = node.projector.trust()
    if trust is None:
        return {}
    keys = {n: m.tls for n, m in trust.members.items() if m.state == "admitted"}
    keys.pop(node.node_id, None)
    return keys


@functools.lru_cache(maxsize=MEMBER_CACHE)
def _card(text: str) -> Card:
    return Card.from_text(text)


def trusted_ids(node: Node) -> set[bytes]:
    return set(_tls_keys(node))


@functools.lru_cache(maxsize=MEMBER_CACHE)
def _certificate(node_id: bytes, signature: bytes) -> tuple[x509.Certificate, bytes] | None:
    """A member's pinned certificate and its DER bytes, rebuilt from its id and signature
    (deterministic, so kept: rebuilding costs about 2 ms, and every new connection needs
    every member's), or None when the signature is wrong."""
    try:
        cert = tls.rebuild_certificate(node_id, signature)
    except CommuneError:
        return None
    return cert, cert.public_bytes(serialization.Encoding.DER)


def trusted_certificates(node: Node) -> list[x509.Certificate]:
    return [pinned[0] for pinned in _pinned(node).values()]


def pinned_certificates(node: Node) -> dict[bytes, bytes]:
    """DER bytes of each trusted member's pinned certificate → its node id."""
    return {der: node_id for node_id, (_, der) in _pinned(node).items()}


def _pinned(node: Node) -> dict[bytes, tuple[x509.Certificate, bytes]]:
    out = {}
    for node_id, signature in sorted(_tls_keys(node).items()):
        pinned = _certificate(node_id, signature)
        if pinned is not None:  # a member whose certificate signature is wrong cannot connect
            out[node_id] = pinned
    return out


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
    for node_id, name, _, address in node.store.peer_rows():
        if address and node_id in trusted:
            found.setdefault(address, Peer(address, node_id, name, "invite"))
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
