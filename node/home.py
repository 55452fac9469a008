"""The node folder: its keys, its public identity and its store.

::

    HOME/                 mode 0700
      node.key            the secret keys and the store key, under the passphrase
                          (crypto/keyfile.py, crypto/identity.py), 0600
      node.json           the node's identity: name, node id, sealing key, signed card
      store.sqlite        the log and the projections (node/store.py), with -wal and -shm
      own-head            how far this node has written its own feed ("SEQ ID"), kept
                          beside the store: a store older than that is known to be one

Nothing in it is readable without the passphrase (docs/THREAT_MODEL.md): the store is
encrypted with SQLCipher under the store key, and ``node.json`` and ``own-head`` are
sealed under it (crypto/atrest.py), so :meth:`Home.unlock` comes first. A folder
written before that (a plaintext store, ``node.json`` and ``own-head`` in the clear, a
key file with no store key) is brought to it the first time its keys are opened,
nothing lost.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crypto import atrest, keyfile
from crypto.errors import BoxFailed, KeyfileError, UnsafeKeyfile
from crypto.identity import NodeKeys
from node.cipherdb import is_plaintext
from node.errors import ConfigError, NodeLocked, NotInitialised, StoreError
from node.servelock import serve_running
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


#: what the sealed files beside the store are (associated data, crypto/atrest.py)
IDENTITY_FILE = b"node.json"
HEAD_FILE = b"own-head"


def identity_document(card: Card) -> bytes:
    """The JSON of the node's identity, the node whose card this is (sealed in
    ``node.json``; a backup holds it too)."""
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
        #: the keys, once :meth:`unlock` (or :meth:`init`) has opened them
        self._keys: NodeKeys | None = None
        self._identity: Identity | None = None

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
        self._keys = keys
        identity = Identity(name, keys.node_id, keys.sealing_public, card)
        self.update_card(card)
        # The store is born with the key: a store made later, or one whose file is not
        # this one, may lack part of this node's own feed (node/service.py).
        with self.open_store() as store, store.write():
            stat = os.stat(self.store_path)
            store.set_meta("made_by_init", "1")
            store.set_meta("store_file", f"{stat.st_dev}:{stat.st_ino}")
        return identity, keys

    # --- the keys, and what they open -----------------------------------------------

    @property
    def unlocked(self) -> bool:
        return self._keys is not None

    @property
    def store_key(self) -> bytes:
        """The key of this node's files at rest; NodeLocked before :meth:`unlock`
        (a key file stored without a passphrase is opened here when needed)."""
        if self._keys is None and self.key_path.exists() and not self.key_is_encrypted():
            self.unlock(None)
        if self._keys is None or self._keys.store_key is None:
            raise NodeLocked(
                f"the node in {self.path} is encrypted under its passphrase: give it "
                "(at the prompt, or in $COMMUNE_PASSPHRASE)"
            )
        return self._keys.store_key

    def open_store(self) -> Store:
        """This node's store, encrypted under its store key. A plaintext store (written
        before stores were encrypted) is encrypted in place first, unless another
        program (an older ``serve``) has it open."""
        key = self.store_key
        if is_plaintext(self.store_path):
            running = serve_running(self.path)
            if running is not None and running.pid != os.getpid():
                raise StoreError(
                    f"the store {self.store_path} must be encrypted before this version "
                    f"uses it, and a `serve` (pid {running.pid}) has it open: stop it, "
                    "then run the command again"
                )
        return Store(self.store_path, key)

    def _seal(self, purpose: bytes, data: bytes) -> bytes:
        return atrest.seal_file(self.store_key, purpose, data)

    def _open_sealed(self, purpose: bytes, data: bytes) -> bytes:
        """A file beside the store, opened: sealed under the store key, or in the clear
        as a version before encryption wrote it."""
        return atrest.open_file(self.store_key, purpose, data) if atrest.is_sealed(data) else data

    def identity(self) -> Identity:
        self.require()
        if self._identity is not None:
            return self._identity
        try:
            doc = json.loads(self._open_sealed(IDENTITY_FILE, self.identity_path.read_bytes()))
            card = Card.from_text(doc["card"])
        except BoxFailed as e:
            raise ConfigError(
                f"{self.identity_path} does not open with this node's key ({e.message}); "
                "restore the node from a backup"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, BadCard) as e:
            raise ConfigError(
                f"{self.identity_path} is damaged ({e}); restore it from a backup"
            ) from None
        self._identity = Identity(card.name, card.node_id, card.sealing_key, card)
        return self._identity

    def update_card(self, card: Card) -> None:
        """Keep a newer card of this node (signed again, with its addresses)."""
        if self._identity is not None and card.node_id != self._identity.node_id:
            raise ConfigError("that card is not this node's")
        if self._keys is not None and card.node_id != self._keys.node_id:
            raise ConfigError("that card is not this node's")
        write_private(self.identity_path, self._seal(IDENTITY_FILE, identity_document(card)))
        self._identity = Identity(card.name, card.node_id, card.sealing_key, card)

    def recorded_head(self) -> int:
        """The highest seq this node has written of its own feed, as recorded beside the
        store (0 when nothing is recorded, or the record is unreadable)."""
        try:
            text = self._open_sealed(HEAD_FILE, self.head_path.read_bytes()).decode("ascii")
            return max(0, int(text.split()[0]))
        except (OSError, ValueError, IndexError, UnicodeDecodeError, BoxFailed):
            return 0

    def record_head(self, seq: int, event_id: bytes) -> None:
        """Record that this node has written its own feed up to ``seq`` (outside the
        store, so that an older store put in its place is seen to be older)."""
        write_private(self.head_path, self._seal(HEAD_FILE, f"{seq} {event_id.hex()}\n".encode()))

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
        """Open the key file with ``passphrase`` (None for a key stored without one),
        and with it this node's files. A folder written before the store was encrypted
        is brought up to date here: a store key is added to the key file (under the
        same passphrase), ``node.json`` and ``own-head`` are sealed; the store itself
        is encrypted when it is next opened (:meth:`open_store`)."""
        self.require()
        self.check_key_permissions()
        keys = NodeKeys.from_bytes(keyfile.unlock(self._read_key(), passphrase))
        fresh = keys.store_key is None
        if fresh:
            keys = keys.with_store_key()
        previous, self._keys, self._identity = self._keys, keys, None
        try:
            identity = self.identity()
        except ConfigError:
            self._keys = previous
            if self.identity_path.exists() and atrest.is_sealed(self.identity_path.read_bytes()):
                raise KeyfileError(
                    f"{self.key_path} does not belong to the node in {self.path}"
                ) from None
            raise
        if identity.node_id != keys.node_id:
            self._keys, self._identity = previous, None
            raise KeyfileError(
                f"{self.key_path} does not belong to the node in {self.identity_path}"
            )
        if fresh:
            self._write_keys(keys, passphrase)
        self._seal_plaintext_files()
        return keys

    def adopt(self, keys: NodeKeys) -> None:
        """Use ``keys``, opened already (by :meth:`unlock` on another Home of this
        folder, or a restore), for this node's files."""
        if keys.store_key is None:
            raise KeyfileError("these keys have no store key: open them with unlock()")
        self._keys, self._identity = keys, None

    def _seal_plaintext_files(self) -> None:
        """Seal ``node.json`` and ``own-head`` if a version before encryption left them
        in the clear."""
        for path, purpose in ((self.identity_path, IDENTITY_FILE), (self.head_path, HEAD_FILE)):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if not atrest.is_sealed(data):
                write_private(path, self._seal(purpose, data))

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
        self._write_keys(keys, new)

    def _write_keys(self, keys: NodeKeys, passphrase: bytes | None) -> None:
        """Write the key file with ``keys`` under ``passphrase``: atomically, and only
        once the new file is known to open to the same keys (never lock anyone out)."""
        data = keyfile.lock(keys.to_bytes(), passphrase)
        if keyfile.unlock(data, passphrase) != keys.to_bytes():
            raise KeyfileError("the new key file did not open again; the old one was kept")
        write_private(self.key_path, data)
