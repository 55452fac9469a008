"""Short strings people copy between machines: cards and invites (docs/PROTOCOL.md §6).

``<prefix>:<base32 of (data || checksum)>``, lower case, no padding. Base32 survives
being read aloud, retyped or wrapped by a chat program (spaces and line breaks are
ignored); the 5-byte checksum catches a mistyped or cut-short string before any part
of it is used.
"""

from __future__ import annotations

import base64
import binascii

from protocol import signed
from protocol.errors import BadCard

_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def armor(prefix: str, data: bytes) -> str:
    text = base64.b32encode(data + signed.checksum(prefix.encode() + data)).decode("ascii")
    return f"{prefix}:{text.rstrip('=').lower()}"


def dearmor(prefix: str, text: str, what: str) -> bytes:
    compact = "".join(text.split())
    head, sep, body = compact.partition(":")
    if not sep or head.lower() != prefix:
        raise BadCard(f"this is not a {what}: it should start with '{prefix}:'")
    body = body.upper()
    stray = set(body) - _ALPHABET
    if stray:
        raise BadCard(
            f"the {what} is mistyped: it has characters base32 does not use "
            f"({''.join(sorted(stray))[:10]!r})"
        )
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise BadCard(f"the {what} is mistyped or cut short (its length is wrong)") from None
    data, check = raw[:-5], raw[-5:]
    if len(raw) < 6 or signed.checksum(prefix.encode() + data) != check:
        raise BadCard(f"the {what} is mistyped or cut short (its checksum does not match)")
    if armor(prefix, data).partition(":")[2] != body.lower():
        # The last character carries unused bits: a typo there decodes to the same bytes.
        raise BadCard(f"the {what} is mistyped (its last character is wrong)")
    return data
