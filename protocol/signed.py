"""Everything Commune signs, hashes or seals, in one place (docs/PROTOCOL.md §1).

Every signature, every hash and every sealing starts with its own context string, so
bytes signed, hashed or sealed for one purpose can never be taken for another. A new
purpose gets a new string here, and nowhere else.
"""

from __future__ import annotations

import hashlib

from crypto.sign import SigningKey, verify

#: Signature over an event's header (its first eight fields, §3.6).
EVENT_SIGNATURE = b"commune/v1/event-signature\x00"
#: An event's id: hash of its header (§3.7).
EVENT_ID = b"commune/v1/event-id\x00"
#: Hash of an event's body, which the header carries (§3.5).
EVENT_BODY = b"commune/v1/event-body\x00"
#: A node card's self-signature (§6).
CARD_SIGNATURE = b"commune/v1/card-signature\x00"
#: A card's or invite's typing checksum (§6).
CHECKSUM = b"commune/v1/checksum\x00"
#: The state hash over all projections (§5).
STATE_HASH = b"commune/v1/state-hash\x00"
#: the checksum of a sneakernet bundle (§9)
BUNDLE = b"commune/v1/bundle\x00"
#: A node backup's signature by the node's key, over its canonical JSON (node/backup.py).
BACKUP_SIGNATURE = b"commune/v1/backup-signature\x00"
#: HPKE info of a sealed event's wrapped content keys, before network and author (§11.3).
SEAL_KEY = b"commune/v1/seal-key\x00"
#: Associated data of a sealed event's box, before network and author (§11.4).
SEAL_BOX = b"commune/v1/seal-box\x00"
#: The checksum of a sealed bundle's header, a SHA-256 started with it (§9.4).
SEALED_BUNDLE_HEADER = b"commune/v1/sealed-bundle-header\x00"
#: HPKE info of a sealed bundle's wrapped file keys (§9.4).
SEALED_BUNDLE_KEY = b"commune/v1/sealed-bundle-key\x00"
#: HKDF info of a sealed bundle's payload key, before its header's checksum (§9.4).
SEALED_BUNDLE_PAYLOAD = b"commune/v1/sealed-bundle-payload\x00"


def _sha256(context: bytes, data: bytes) -> bytes:
    return hashlib.sha256(context + data).digest()


def event_id(header: bytes) -> bytes:
    return _sha256(EVENT_ID, header)


def body_hash(body: bytes) -> bytes:
    return _sha256(EVENT_BODY, body)


def checksum(data: bytes) -> bytes:
    return _sha256(CHECKSUM, data)[:5]


def state_hash(data: bytes) -> bytes:
    return _sha256(STATE_HASH, data)


def seal_key_info(network: bytes, author: bytes) -> bytes:
    """HPKE ``info`` of every wrapped content key of a sealed event (§11.3)."""
    return SEAL_KEY + network + author


def seal_box_aad(network: bytes, author: bytes) -> bytes:
    """Associated data of a sealed event's box (§11.4)."""
    return SEAL_BOX + network + author


def sign_event(key: SigningKey, header: bytes) -> bytes:
    return key.sign(EVENT_SIGNATURE + header)


def verify_event(author: bytes, header: bytes, signature: bytes) -> bool:
    return verify(author, EVENT_SIGNATURE + header, signature)


def sign_card(key: SigningKey, card: bytes) -> bytes:
    return key.sign(CARD_SIGNATURE + card)


def verify_card(node_id: bytes, card: bytes, signature: bytes) -> bool:
    return verify(node_id, CARD_SIGNATURE + card, signature)


def sign_backup(key: SigningKey, content: bytes) -> bytes:
    return key.sign(BACKUP_SIGNATURE + content)


def verify_backup(node_id: bytes, content: bytes, signature: bytes) -> bool:
    return verify(node_id, BACKUP_SIGNATURE + content, signature)
