"""The node folder: its keys, its public identity and its store.

::

    HOME/                 mode 0700
      node.key            the secret keys, under the passphrase (crypto/keyfile.py), 0600
      node.json           the public identity: name, node id, sealing key, signed card
      store.sqlite        the log and the projections (node/store.py), with -wal and -shm
      own-head            how far this node has written its own feed ("SEQ ID"), kept
                          beside the store: a store older than that is known to be one
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crypto import keyfile
from crypto.errors import KeyfileError, UnsafeKeyfile
from crypto.identity import NodeKeys
from node.errors import ConfigError, NotInitialised
from node.store import Store
from protocol.card import Card
from protocol.errors import BadCard


def default_home() -> Path:
    env = os.environ.get("COMMUNE_HOME")
    return Path(env) if env else Path.home() / ".commune"


def write_private(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write a file readable by its owner only, atomically: a crash leaves the old file
    or the new one, never half of one. ``data`` may come in pieces (streamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            for piece in [data] if isinstance(data, bytes) else data:
                out.write(piece)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def identity_document(card: Card) -> bytes:
    """The bytes of ``node.json`` for the node whose card this is."""
    doc = {
        "name": card.name,
        "node_id": card.node_id.hex(),
        "sealing_key": card.sealing_key.hex(),
        "card": card.to_text(),
    }
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Identity:
    """What anyone may know about this node."""

    name: str
    node_id: bytes
    sealing_key: bytes
    card: Card


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.key_path = path / "node.key"
        self.identity_path = path / "node.json"
        self.store_path = path / "store.sqlite"
        self.head_path = path / "own-head"

    def is_initialised(self) -> bool:
        return self.key_path.exists() or self.identity_path.exists()

    def require(self) -> None:
        if not self.identity_path.exists():
            raise NotInitialised(
                f"there is no node in {self.path}: "
                f"run `commune --home {self.path} init --name NAME`"
            )

    def init(self, name: str, passphrase: bytes | None) -> tuple[Identity, NodeKeys]:
        """Make this node's keys. Refuses to touch a folder that already has a node."""
        if self.is_initialised():
            raise ConfigError(f"{self.path} already holds a node; its keys were left as they are")
        keys = NodeKeys.generate()
        card = Card(name, keys.node_id, keys.sealing_public).sign(keys.signing)
        try:
            card.check()
        except BadCard as e:
            raise ConfigError(e.message) from None
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        write_private(self.key_path, keyfile.lock(keys.to_bytes(), passphrase))
        identity = Identity(name, keys.node_id, keys.sealing_public, card)
        write_private(self.identity_path, identity_document(card))
        # The store is born with the key: a store made later, or one whose file is not
        # this one, may lack part of this node's own feed (node/service.py).
        with Store(self.store_path) as store, store.write():
            stat = os.stat(self.store_path)
            store.set_meta("made_by_init", "1")
            store.set_meta("store_file", f"{stat.st_dev}:{stat.st_ino}")
        return identity, keys

    def identity(self) -> Identity:
        self.require()
        try:
            doc = json.loads(self.identity_path.read_text(encoding="utf-8"))
            card = Card.from_text(doc["card"])
        except (OSError, ValueError, KeyError, TypeError, BadCard) as e:
            raise ConfigError(
                f"{self.identity_path} is damaged ({e}); restore it from a backup"
            ) from None
        return Identity(card.name, card.node_id, card.sealing_key, card)

    def update_card(self, card: Card) -> None:
        """Keep a newer card of this node (signed again, with its addresses)."""
        if card.node_id != self.identity().node_id:
            raise ConfigError("that card is not this node's")
        write_private(self.identity_path, identity_document(card))

    def recorded_head(self) -> int:
        """The highest seq this node has written of its own feed, as recorded beside the
        store (0 when nothing is recorded, or the record is unreadable)."""
        try:
            text = self.head_path.read_text(encoding="ascii")
            return max(0, int(text.split()[0]))
        except (OSError, ValueError, IndexError, UnicodeDecodeError):
            return 0

    def record_head(self, seq: int, event_id: bytes) -> None:
        """Record that this node has written its own feed up to ``seq`` (outside the
        store, so that an older store put in its place is seen to be older)."""
        write_private(self.head_path, f"{seq} {event_id.hex()}\n".encode())

    def check_key_permissions(self) -> None:
        mode = self.key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UnsafeKeyfile(
                f"{self.key_path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {self.key_path}` and consider the key exposed"
            )

    def key_is_encrypted(self) -> bool:
        self.require()
        return keyfile.is_encrypted(self._read_key())

    def read_key_file(self) -> bytes:
        """The key file's bytes as they are (encrypted under the passphrase, if any)."""
        self.require()
        return self._read_key()

    def _read_key(self) -> bytes:
        try:
            return self.key_path.read_bytes()
        except FileNotFoundError:
            raise KeyfileError(f"{self.key_path} is missing: restore it from a backup") from None
        except OSError as e:
            raise KeyfileError(f"{self.key_path} cannot be read: {e.strerror}") from None

    def unlock(self, passphrase: bytes | None) -> NodeKeys:
        self.require()
        self.check_key_permissions()
        keys = NodeKeys.from_bytes(keyfile.unlock(self._read_key(), passphrase))
        if keys.node_id != self.identity().node_id:
            raise KeyfileError(
                f"{self.key_path} does not belong to the node in {self.identity_path}"
            )
        return keys

    def change_passphrase(self, current: bytes | None, new: bytes) -> NodeKeys:
        """Put this node's keys under ``new``. A wrong ``current`` changes nothing (it
        raises :class:`WrongPassphrase`); it is None for a key stored without one."""
        keys = self.unlock(current)
        self.relock(keys, new)
        return keys

    def relock(self, keys: NodeKeys, new: bytes) -> None:
        """Rewrite the key file with ``keys`` (opened already) under ``new``: atomically,
        and only once the new file is known to open to the same keys."""
        if not new:
            raise KeyfileError("the new passphrase is empty; the key file was left as it was")
        if keys.node_id != self.identity().node_id:
            raise KeyfileError(f"these keys are not those of the node in {self.path}")
        data = keyfile.lock(keys.to_bytes(), new)
        if keyfile.unlock(data, new) != keys.to_bytes():  # never lock anyone out
            raise KeyfileError("the new key file did not open again; the old one was kept")
        write_private(self.key_path, data)
