"""Whom this node trusts and where it finds them (docs/PROTOCOL.md §10.1).

Trust follows the membership: the certificates of members that are admitted (not
revoked, not forked) by the log and by the admissions this node holds before its log
does (an invite's proof, an introduction: docs/PROTOCOL.md §6.3) are pinned, and
nothing else is: a card, a peers table or a backup gives addresses, never trust.
Addresses come
from cards, from ``peer add``, and from members' ``node.address`` events in the log, so
a node that knows one peer comes to know the others. ``peer remove`` forgets an address
however it was learnt: one given by hand leaves the list; one learnt from an invite or
the log is kept in a list of removed addresses that are never dialled, until ``peer
add`` gives it again (the log cannot be changed, and the member's next address, a new
URL, is used: docs/CLI.md).
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from crypto import tls
from crypto.errors import CommuneError
from node import records
from node.errors import BadPeerAddress
from node.service import Node
from protocol.card import Card
from protocol.kinds import member as member_kinds
from protocol.projections import read_payload

if TYPE_CHECKING:
    from cryptography import x509

MANUAL = "peer_urls"
#: addresses learnt from an invite or the log that ``peer remove`` took off the list
REMOVED = "peer_urls_removed"
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


def check_new_url(text: str) -> tuple[str, str]:
    """A peer's address as ``peer add`` takes it: ``https://HOST:PORT`` and nothing else
    (a scheme and host in lower case, no trailing ``/``), and a warning ("" for none)
    when it names no port, so that it would be dialled on HTTPS's 443 rather than where
    ``serve`` listens. Anything else is refused with one line naming it."""
    from node.config import SYNC_PORT  # noqa: PLC0415 - node.config imports this module

    given = text.strip()
    example = f"give it as https://HOST:PORT (for example https://203.0.113.7:{SYNC_PORT})"
    try:
        parts = urlsplit(given.rstrip("/"))
        port = parts.port
    except ValueError:
        raise BadPeerAddress(f"{given!r} has no valid port (1 to 65535): {example}") from None
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise BadPeerAddress(
            f"{given!r} is not a peer address: members sync over HTTPS only; {example}"
        )
    if scheme != "https" or not parts.hostname:
        raise BadPeerAddress(f"{given!r} is not a peer address: {example}")
    if parts.username is not None:
        raise BadPeerAddress(
            f"{given!r} is not a peer address: it holds no user name or password; {example}"
        )
    if parts.path or parts.query or parts.fragment:
        raise BadPeerAddress(
            f"{given!r} is not a peer address: nothing may follow HOST:PORT; {example}"
        )
    if port == 0:
        raise BadPeerAddress(f"{given!r} has no valid port (1 to 65535): {example}")
    host = parts.netloc.rpartition("@")[2]
    host = host.rpartition(":")[0] if port is not None else host
    url = check_url(f"https://{host.lower()}" + (f":{port}" if port is not None else ""))
    warning = ""
    if port is None:
        warning = (
            f"{url} names no port, so it is dialled on 443 (HTTPS's), not on "
            f"{SYNC_PORT} where `commune serve` listens by default; if that is wrong: "
            f"`commune peer remove {url}` and `commune peer add {url}:{SYNC_PORT}`"
        )
    return url, warning


def add_manual(node: Node, url: str) -> str:
    """Add ``url`` to the addresses given by hand (and take it off the removed ones)."""
    url = check_url(url)
    urls = manual_urls(node)
    removed = removed_urls(node)
    if url not in urls or url in removed:
        with node.store.write():
            if url not in urls:
                node.store.set_meta(MANUAL, json.dumps([*urls, url]))
            if url in removed:
                node.store.set_meta(REMOVED, json.dumps([u for u in removed if u != url]))
    return url


def remove(node: Node, url: str) -> Peer:
    """Stop syncing with ``url``: off the addresses given by hand, and, when an invite or
    the log gave it, onto the removed ones; its sync record goes too. The peer as it was
    listed; :class:`BadPeerAddress` when no address of the list is ``url``, and then
    nothing changes."""
    url = check_url(url)
    peers = {p.url: p for p in known_peers(node)}
    if url not in peers:
        with contextlib.suppress(BadPeerAddress):  # as `peer add` writes it
            url = check_new_url(url)[0]
    listed = peers.get(url)
    if listed is None:
        raise BadPeerAddress(
            f"{url} is not in this node's peer list (`commune peer list` shows it); nothing changed"
        )
    learnt = [p for p in _learnt(node) if p.url == url]
    with node.store.write():
        node.store.set_meta(MANUAL, json.dumps([u for u in manual_urls(node) if u != url]))
        removed = removed_urls(node)
        if learnt and url not in removed:
            node.store.set_meta(REMOVED, json.dumps([*removed, url]))
        records.forget_sync(node.store, url)
    return listed


def _json_list(node: Node, key: str) -> list[str]:
    value = node.store.get_meta(key)
    try:
        loaded = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(u) for u in loaded] if isinstance(loaded, list) else []


def manual_urls(node: Node) -> list[str]:
    return _json_list(node, MANUAL)


def removed_peers(node: Node) -> list[Peer]:
    """The addresses an invite or the log gives that ``peer remove`` took off (and that
    are therefore not dialled)."""
    removed = set(removed_urls(node))
    return [p for p in _learnt(node) if p.url in removed]


def removed_urls(node: Node) -> list[str]:
    """The addresses learnt from an invite or the log that ``peer remove`` took off."""
    return _json_list(node, REMOVED)


def known_peers(node: Node) -> list[Peer]:
    """Every address this node can sync with, one per URL, without itself and without
    those ``peer remove`` took off."""
    found: dict[str, Peer] = {url: Peer(url, None, "", "peer add") for url in manual_urls(node)}
    removed = set(removed_urls(node))
    for peer in _learnt(node):
        if peer.url not in removed:
            found.setdefault(peer.url, peer)
    return list(found.values())


def _learnt(node: Node) -> list[Peer]:
    """The addresses an invite (its card) or the members' ``node.address`` events give."""
    trusted = trusted_ids(node)
    membership = node.membership()
    names = {n: m.name for n, m in membership.members.items()} if membership else {}
    found: dict[str, Peer] = {}
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
