"""Backing a node up and bringing it back on a new machine (scenario 9: a lost node).

A backup is one JSON file holding what a fresh machine needs and cannot get from peers:

- the key file exactly as it is on disk, so still locked by the passphrase
  (crypto/keyfile.py); a key stored without a passphrase is backed up only on request;
- the node's identity (name, node id, sealing key, signed card);
- how to find its network again: the network id, the founding (genesis) event, the
  peers table (node id, name, card, URL) and the addresses given with ``peer add``;
- how far its own feed went when the backup was made.

Nothing else: the log, and this node's own feed in it, come back from the peers, and
its contacts with them (they are sealed to its key).

Everything but the key file is sealed under the node's store key (crypto/atrest.py),
which is inside the key file, so the passphrase opens the whole backup and nothing in
it is readable without it (version 3)::

    {"type": "commune-node-backup", "version": 3, "key_file": "<the key file's text>",
     "key_encrypted": true, "sealed": "<base64>", "sha256": "<hex>"}

``sha256`` is the SHA-256 of every other field, as JSON with sorted keys and no spaces,
so a damaged file (one byte changed, truncated) is refused before the passphrase is
asked for. ``sealed`` opens to a backup of version 2, which names the same key file::

    {"type": "commune-node-backup", "version": 2, "written": "...Z",
     "node": {...identity...}, "key_file": "<the key file's text>", "key_encrypted": true,
     "network": "<hex>" | null, "genesis": "<hex>" | null,
     "peers": [{"node_id", "name", "card", "url"}], "peer_urls": [...], "own_seq": 12,
     "sha256": "<hex>", "signature": "<hex>"}

``signature`` is the node's own Ed25519 signature (protocol/signed.py) over every other
field but the checksum: checked once the passphrase has opened the key, it refuses a
backup that anyone altered, checksum and all. Backups of version 2 (written before
backups were sealed) are still read as they are; a backup of version 1 has no
signature: it is restored only when asked to (``restore --unsigned``).

A copy of the store beside the backup (``backup --with-store``) is encrypted under the
same store key, as the store is.

A restore fills a folder that holds no node: it writes the key file, the identity, and
a new store that knows the network, its genesis and the peers' addresses (never trust:
who is a member is what the log says), marked ``feed_unconfirmed = "restored"``, so the
node writes nothing before a peer has told it how far its own feed goes (docs/PROTOCOL.md
§10.5): it never forks its own feed. A copy of the store beside the backup is not taken
as it is: every event in it is checked and taken in by the rules of any ingest, so an
event that a redaction in the log erased comes back erased.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto import atrest, keyfile
from crypto.errors import BoxFailed, CommuneError
from crypto.identity import NodeKeys
from crypto.sign import SigningKey
from node import peers as peer_list
from node.errors import BadBackup, ConfigError, StoreError, UnsignedBackup
from node.home import Home, identity_document, write_private
from node.storefile import snapshot
from protocol import signed
from protocol.card import Card
from protocol.envelope import Event
from protocol.invite import check_genesis
from protocol.kinds import member
from protocol.projections import read_payload
from protocol.validate import check_event

TYPE = "commune-node-backup"
#: the version written: the content sealed under the store key
SEALED_VERSION = 3
#: the version of the sealed content (and of backups written before they were sealed)
VERSION = 2
#: what a sealed backup's content is (associated data, crypto/atrest.py)
SEALED_PURPOSE = b"backup"
#: the first version, without a signature: restored only with ``restore --unsigned``
UNSIGNED_VERSION = 1
CHECKSUM = "sha256"
SIGNATURE = "signature"
#: Events taken from a store copy per batch.
COPY_BATCH = 2000
#: Far more than any real backup (a key, a card, a few hundred peers).
MAX_SIZE = 16 * 1024 * 1024
#: Where a restore builds the node before moving it into place.
STAGING = ".restoring"


@dataclass(frozen=True, slots=True)
class PeerRow:
    card: Card
    url: str | None


@dataclass(frozen=True, slots=True)
class Backup:
    key_file: bytes
    card: Card
    network: bytes | None
    genesis: Event | None
    peers: tuple[PeerRow, ...]
    peer_urls: tuple[str, ...]
    own_seq: int
    written: str
    version: int = VERSION
    #: the node's signature over :attr:`signed_part` (None in a version 1 backup)
    signature: bytes | None = None
    #: the bytes the checksum and the signature are over, as read from the file
    signed_part: bytes = b""

    @property
    def key_encrypted(self) -> bool:
        return keyfile.is_encrypted(self.key_file)

    @property
    def network_name(self) -> str | None:
        if self.genesis is None:
            return None
        payload = read_payload(self.genesis)
        return member.parse_genesis(payload).name if payload is not None else None

    def content(self) -> dict[str, Any]:
        """Every field but the checksum."""
        return {
            "type": TYPE,
            "version": self.version,
            "written": self.written,
            "node": json.loads(identity_document(self.card)),
            "key_file": self.key_file.decode("utf-8"),
            "key_encrypted": self.key_encrypted,
            "network": self.network.hex() if self.network is not None else None,
            "genesis": self.genesis.raw.hex() if self.genesis is not None else None,
            "peers": [
                {
                    "node_id": p.card.node_id.hex(),
                    "name": p.card.name,
                    "card": p.card.to_text(),
                    "url": p.url,
                }
                for p in self.peers
            ],
            "peer_urls": list(self.peer_urls),
            "own_seq": self.own_seq,
        }

    def to_bytes(self, key: SigningKey) -> bytes:
        """The backup file, signed by the node's key (which must be this node's)."""
        if key.public != self.card.node_id:
            raise BadBackup("a backup is signed by the key of the node it holds")
        content = dict(self.content(), version=VERSION)
        doc = dict(content, **{SIGNATURE: signed.sign_backup(key, _canonical(content)).hex()})
        doc[CHECKSUM] = checksum(doc)
        return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()

    def open(self, passphrase: bytes | None, *, unsigned_ok: bool = False) -> NodeKeys:
        """The node's keys; :class:`WrongPassphrase` when the passphrase does not open
        them, :class:`BadBackup` when they are not the keys of the node in the backup or
        the backup was altered since that node signed it, :class:`UnsignedBackup` for an
        unsigned (version 1) backup unless ``unsigned_ok``."""
        keys = NodeKeys.from_bytes(keyfile.unlock(self.key_file, passphrase))
        if keys.node_id != self.card.node_id or keys.sealing_public != self.card.sealing_key:
            raise BadBackup("the key in this backup is not the key of the node it names")
        if self.signature is None:
            if not unsigned_ok:
                raise UnsignedBackup(
                    "this backup was written by an older Commune and carries no signature, so "
                    "an alteration (another network, other peers) could not be told; nothing "
                    "was written. If the file never left your hands, restore it with "
                    "`commune restore --unsigned FILE`"
                )
        elif not signed.verify_backup(keys.node_id, self.signed_part, self.signature):
            raise BadBackup(
                "this backup was altered after its node signed it (its signature does not "
                "match its contents); nothing was written"
            )
        return keys


@dataclass(frozen=True, slots=True)
class SealedBackup:
    """A backup of version 3 as read from its file: the key file, and the rest sealed
    under the store key inside it (:meth:`unseal` opens it)."""

    key_file: bytes
    sealed: bytes
    source: str = "the backup"

    @property
    def key_encrypted(self) -> bool:
        return keyfile.is_encrypted(self.key_file)

    def unseal(self, passphrase: bytes | None) -> Backup:
        """The backup inside; :class:`WrongPassphrase` when the passphrase does not open
        the key file, :class:`BadBackup` when the content does not open with the key in
        it, or names another key file."""
        keys = NodeKeys.from_bytes(keyfile.unlock(self.key_file, passphrase))
        if keys.store_key is None:
            raise BadBackup(f"{self.source} is damaged: its key file holds no store key")
        try:
            inner = atrest.open_file(keys.store_key, SEALED_PURPOSE, self.sealed)
        except BoxFailed as e:
            raise BadBackup(f"{self.source} is damaged or altered: {e.message}") from None
        backup = parse(inner, self.source)
        if isinstance(backup, SealedBackup) or backup.key_file != self.key_file:
            raise BadBackup(f"{self.source} was altered: its sealed content names another key")
        return backup


def unsealed(taken: Backup | SealedBackup, passphrase: bytes | None) -> Backup:
    """The backup ``taken``, opened when it is sealed."""
    return taken.unseal(passphrase) if isinstance(taken, SealedBackup) else taken


def _canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checksum(content: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(content)).hexdigest()


# --- taking a backup -------------------------------------------------------------------


def take(home: Home, *, now: datetime.datetime | None = None) -> Backup:
    """What a fresh machine needs to bring this node back, read from its folder."""
    card = home.identity().card
    key_file = home.read_key_file()
    keyfile.is_encrypted(key_file)  # a damaged key file is refused here, not at restore
    network = genesis = None
    peers: list[PeerRow] = []
    urls: list[str] = []
    own_seq = 0
    if home.store_path.exists():
        with home.open_store() as store:
            network_hex = store.get_meta("network")
            genesis_hex = store.get_meta("genesis")
            network = bytes.fromhex(network_hex) if network_hex else None
            genesis = _genesis(genesis_hex, network, "this node's store") if genesis_hex else None
            for _, _, card_text, url in store.peer_rows():
                peers.append(PeerRow(Card.from_text(card_text), url))
            manual = store.get_meta(peer_list.MANUAL)
            urls = [str(u) for u in json.loads(manual)] if manual else []
            head = store.head(card.node_id)
            own_seq = head.seq if head else 0
    moment = now or datetime.datetime.now(tz=datetime.UTC)
    written = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return Backup(key_file, card, network, genesis, tuple(peers), tuple(urls), own_seq, written)


def sealed_bytes(backup: Backup, keys: NodeKeys) -> bytes:
    """The backup file (version 3): signed by the node's key, its content sealed under
    the node's store key, both in ``keys``."""
    if keys.store_key is None:
        raise BadBackup("these keys have no store key to seal the backup with")
    sealed = atrest.seal_file(keys.store_key, SEALED_PURPOSE, backup.to_bytes(keys.signing))
    doc: dict[str, Any] = {
        "type": TYPE,
        "version": SEALED_VERSION,
        "key_file": backup.key_file.decode("utf-8"),
        "key_encrypted": backup.key_encrypted,
        "sealed": base64.b64encode(sealed).decode("ascii"),
    }
    doc[CHECKSUM] = checksum(doc)
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def write(backup: Backup, path: Path, keys: NodeKeys) -> None:
    """Write the backup, signed and sealed with ``keys`` (the node's), to ``path``,
    atomically, readable by its owner only."""
    try:
        write_private(path, sealed_bytes(backup, keys))
    except OSError as e:
        raise ConfigError(f"cannot write the backup to {path}: {e.strerror}") from None


# --- reading one -----------------------------------------------------------------------


def read(path: Path) -> Backup | SealedBackup:
    """The backup in ``path``, checked whole; :class:`BadBackup` says what is wrong."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SIZE + 1)
    except OSError as e:
        raise BadBackup(f"cannot read the backup {path}: {e.strerror}") from None
    if len(data) > MAX_SIZE:
        raise BadBackup(f"{path} is too large to be a Commune backup")
    return parse(data, str(path))


def parse(data: bytes, source: str = "the backup") -> Backup | SealedBackup:
    damaged = f"{source} is damaged (truncated or altered)"
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadBackup(
            f"{source} is not a Commune backup, or it is damaged (truncated or altered): it "
            "is not valid JSON; nothing was written"
        ) from None
    if not isinstance(doc, dict) or not (CHECKSUM in doc or "type" in doc):
        raise BadBackup(f"{source} is not a Commune backup")
    given = doc.pop(CHECKSUM, None)
    if not isinstance(given, str) or given != checksum(doc):
        raise BadBackup(f"{damaged}: its checksum does not match; nothing was written")
    signature_hex = doc.pop(SIGNATURE, None)
    if doc.get("type") != TYPE:
        raise BadBackup(f"{source} is not a Commune node backup (type {doc.get('type')!r})")
    version = doc.get("version")
    signature = None
    if version == SEALED_VERSION:
        try:
            key_file = str(doc["key_file"]).encode("utf-8")
            keyfile.is_encrypted(key_file)
            sealed = base64.b64decode(str(doc["sealed"]), validate=True)
        except (KeyError, ValueError) as e:
            raise BadBackup(f"{source} is not a valid backup ({type(e).__name__})") from None
        except CommuneError as e:
            raise BadBackup(f"{source} is not a valid backup: {e.message}") from None
        return SealedBackup(key_file, sealed, source)
    if version == VERSION:
        try:
            signature = bytes.fromhex(str(signature_hex))
        except ValueError:
            signature = b""
        if len(signature) != 64:
            raise BadBackup(f"{damaged}: its signature is missing or malformed")
    elif version != UNSIGNED_VERSION:
        raise BadBackup(
            f"{source} is a backup of version {version!r}; this program reads versions "
            f"{UNSIGNED_VERSION} to {SEALED_VERSION}: use the Commune that wrote it, or a "
            "newer one"
        )
    try:
        return dataclasses.replace(
            _backup(doc, source), version=version, signature=signature, signed_part=_canonical(doc)
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadBackup(f"{source} is not a valid backup ({type(e).__name__}: {e})") from None
    except BadBackup:
        raise
    except CommuneError as e:  # a bad card, event, key file or address
        raise BadBackup(f"{source} is not a valid backup: {e.message}") from None


def _backup(doc: dict[str, Any], source: str) -> Backup:
    node = doc["node"]
    card = Card.from_text(node["card"])
    expected = json.loads(identity_document(card))
    if {k: node.get(k) for k in expected} != expected:
        raise BadBackup(f"{source}: the node's name or keys differ from its signed card")
    key_file = str(doc["key_file"]).encode("utf-8")
    keyfile.is_encrypted(key_file)
    network = bytes.fromhex(doc["network"]) if doc["network"] is not None else None
    genesis = _genesis(doc["genesis"], network, source) if doc["genesis"] is not None else None
    if (network is None) != (genesis is None):
        raise BadBackup(f"{source}: it names a network without its founding event")
    peers = []
    for row in doc["peers"]:
        peer_card = Card.from_text(row["card"])
        if peer_card.node_id.hex() != row["node_id"]:
            raise BadBackup(f"{source}: a peer's node id differs from its card")
        url = row["url"]
        peers.append(PeerRow(peer_card, None if url is None else str(url)))
    urls = tuple(peer_list.check_url(str(u)) for u in doc["peer_urls"])
    own_seq = doc["own_seq"]
    if not isinstance(own_seq, int) or own_seq < 0:
        raise BadBackup(f"{source}: own_seq is not a count")
    return Backup(
        key_file, card, network, genesis, tuple(peers), urls, own_seq, str(doc["written"])
    )


def _genesis(raw_hex: str, network: bytes | None, source: str) -> Event:
    event = check_event(bytes.fromhex(raw_hex))
    check_genesis(event)
    if event.id != network:
        raise BadBackup(f"{source}: the network id is not the id of its founding event")
    return event


# --- restoring -------------------------------------------------------------------------


STORE_SUFFIX = ".store.sqlite"


def store_copy_path(path: Path) -> Path:
    """Where ``backup --with-store`` puts the copy of the store, beside the backup."""
    return path.with_name(path.name + STORE_SUFFIX)


def copy_store(home: Home, target: Path) -> int:
    """An online copy of the node's store (SQLite's backup API: consistent even while
    ``serve`` writes), mode 0600, written atomically, encrypted under the node's store
    key as the store is; its size in bytes."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        snapshot(home.store_path, tmp, home.store_key)
        os.replace(tmp, target)
    except (OSError, StoreError) as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot copy the store to {target}: {e}") from None
    return target.stat().st_size
