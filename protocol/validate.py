"""Checks of one event on its own: everything but its place in the author's feed
(docs/PROTOCOL.md §3). Pure functions; each broken rule raises its own error.

The chain rules, which need the author's previous event, are in ``protocol.chain``.
Nothing here reads a clock: an event valid on one node is valid on every node.
"""

from __future__ import annotations

from functools import lru_cache

from crypto.errors import BadPublicKey
from crypto.sign import check_public_key
from protocol import signed
from protocol.envelope import Event, decode_event
from protocol.errors import BadAuthor, BadBodyHash, BadSignature, BadText, MissingBody
from protocol.kinds import member, text_problem


@lru_cache(maxsize=4096)
def _author_error(author: bytes) -> str | None:
    try:
        check_public_key(author)
    except BadPublicKey as e:
        return e.message
    return None


def check_author(author: bytes) -> None:
    """§3.3: the author is a valid Ed25519 key of prime order (small-order keys let a
    trivial signature verify for any message)."""
    error = _author_error(author)
    if error is not None:
        raise BadAuthor(f"the author key is refused: {error}")


def check_body(event: Event) -> None:
    """§3.5: a body that is present matches the header's hash. What the body holds (a
    canonical map, for a public kind) is the reader's business, not validity's: a relay
    may erase the body, and an event must be valid with or without it (§5.4). Except
    for the membership kinds, which decide who is in the log: without its body such an
    event would decide differently, so it never travels without it."""
    if event.body is None:
        if event.kind in member.KINDS:
            raise MissingBody(f"a {event.kind} event always carries its body")
        return
    if signed.body_hash(event.body) != event.body_hash:
        raise BadBodyHash("the body does not match the body hash the author signed")


def check_signature(event: Event) -> None:
    """§3.6: the author's Ed25519 signature over the header."""
    if not signed.verify_event(event.author, event.header, event.signature):
        raise BadSignature("the signature does not verify against the author's key")


def check_event(raw: bytes) -> Event:
    """Decode one event and check every rule that needs nothing but the event."""
    event = decode_event(raw)
    check_author(event.author)
    check_body(event)
    check_signature(event)
    check_text(event)
    return event


def check_text(event: Event) -> None:
    """§3.8: the text of a known kind holds nothing a post could not (a peer's terminal
    escapes, bidi overrides): refused on every node alike."""
    problem = text_problem(event.kind, event.body)
    if problem is not None:
        raise BadText(f"a {event.kind} event whose text a post would refuse: {problem}")
