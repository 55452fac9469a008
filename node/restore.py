"""Bringing a node back from a backup into a folder that holds no node (scenario 9: a
lost node): the key file, ``node.json``, and a new store that knows the network and
the peers' addresses, every event of a store copy beside the backup taken in by the
rules of any ingest. The backup's format and its checks are node/backup.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from crypto import keyfile
from crypto.identity import NodeKeys
from node import peers as peer_list
from node.backup import COPY_BATCH, STAGING, Backup
from node.errors import BadBackup, ConfigError, StoreCorrupt
from node.home import Home, write_private
from node.service import IngestResult, Node
from node.storefile import Foreign, foreign_events


def check_free(home: Home) -> None:
    """Refuse a folder that holds a node, or anything of one."""
    for path in (home.key_path, home.identity_path, home.store_path):
        if path.exists():
            raise ConfigError(
                f"{home.path} already holds a node ({path.name} is there); a restore "
                "never overwrites one: restore into a new folder with "
                "`commune --home NEW_FOLDER restore FILE`"
            )


def restore(
    home: Home,
    backup: Backup,
    passphrase: bytes | None,
    store_copy: Path | None = None,
    *,
    unsigned_ok: bool = False,
) -> tuple[NodeKeys, IngestResult | None]:
    """Bring the node of ``backup`` back into ``home``, which must hold no node; the
    keys, and what came of the events of ``store_copy`` when one was given.

    The passphrase and the backup's signature are checked before anything is written.
    The node is built in a staging folder inside ``home`` and moved into place file by
    file (store, identity, key last), so the key is never there without the rest; a
    restore that fails leaves the folder as it found it."""
    check_free(home)
    keys = backup.open(passphrase, unsigned_ok=unsigned_ok)
    # A key file written before stores were encrypted gets its store key now, under the
    # same passphrase (the restored folder is encrypted from the start).
    key_file = backup.key_file
    if keys.store_key is None:
        keys = keys.with_store_key()
        key_file = keyfile.lock(keys.to_bytes(), passphrase)
    staging = Home(home.path / STAGING)
    staging.adopt(keys)
    created = not home.path.exists()
    done = False
    try:
        home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home.path, 0o700)
        shutil.rmtree(staging.path, ignore_errors=True)
        staging.path.mkdir(mode=0o700)
        write_private(staging.key_path, key_file)
        staging.update_card(backup.card)
        taken = _build_store(staging, backup, store_copy, keys)
        check_free(home)  # nothing appeared meanwhile
        for name in (home.store_path.name, home.identity_path.name, home.key_path.name):
            os.replace(staging.path / name, home.path / name)
        home.adopt(keys)
        if backup.signature is not None and backup.own_seq:
            # Signed by the node: it had written its feed this far, so a store holding
            # less must not write before the rest is back (docs/PROTOCOL.md §10.5).
            home.record_head(backup.own_seq, bytes(32))
        dir_fd = os.open(home.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        done = True
    except OSError as e:
        raise ConfigError(f"cannot restore into {home.path}: {e.strerror}") from None
    finally:
        shutil.rmtree(staging.path, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):
                home.path.rmdir()
    return keys, taken


def _build_store(
    staging: Home, backup: Backup, store_copy: Path | None, keys: NodeKeys
) -> IngestResult | None:
    """A new store for the restored node: its network and genesis from the (signed)
    backup, its peers' addresses, then every event of the store copy, if any, checked
    and taken in by the rules of any ingest (so a forged or altered event, one of
    another network or one a redaction erased stays out, whatever the copy holds)."""
    with Node(staging, staging.open_store()) as node:
        store = node.store
        stat = os.stat(staging.store_path)
        with store.write():
            # The file keeps its inode when moved into place: Node.open sees the store
            # it expects and leaves the "restored" mark alone (node/service.py).
            store.set_meta("store_file", f"{stat.st_dev}:{stat.st_ino}")
            store.set_meta("feed_unconfirmed", "restored")
            if backup.network is not None and backup.genesis is not None:
                store.set_meta("network", backup.network.hex())
                store.set_meta("genesis", backup.genesis.raw.hex())
            for peer in backup.peers:
                store.add_peer(peer.card, peer.url)
            if backup.peer_urls:
                store.set_meta(peer_list.MANUAL, json.dumps(list(backup.peer_urls)))
            node.projector.rebuild()
        if backup.genesis is not None:
            result = node.ingest([backup.genesis.raw])
            if result.refused_total:
                raise BadBackup(f"the network's founding event was refused: {result.summary()}")
        taken = None
        if store_copy is not None:
            if backup.network is None:
                raise BadBackup("a store copy lies beside a backup of a node in no network")
            taken = IngestResult()
            for batch in node.ingest_batches(_copied_events(store_copy, keys.store_key)):
                taken.new += batch.new
                taken.known += batch.known
                taken.held += batch.held
                taken.forks += batch.forks
                taken.refused.update(batch.refused)
                taken.errors.extend(batch.errors[: max(0, 20 - len(taken.errors))])
            if taken.new == 0 and taken.refused_total:
                raise BadBackup(
                    "the store copy beside the backup holds no event of this node's network "
                    f"that checks ({taken.summary()}); nothing was written"
                )
        # One file, no write-ahead log beside it, so that moving it moves all of it.
        store.single_file()
        return taken


def _copied_events(path: Path, key: bytes | None) -> Iterator[list[bytes]]:
    """The raw events of a store copy (its log, then its fork evidence), in batches,
    read-only, as untrusted bytes: nothing else of the copy is used. The copy is
    encrypted under the node's store key ``key`` (or plaintext, written before stores
    were encrypted)."""
    batch: list[bytes] = []
    try:
        for raw in foreign_events(path, Foreign(), key):
            batch.append(raw)
            if len(batch) >= COPY_BATCH:
                yield batch
                batch = []
    except StoreCorrupt as e:
        raise BadBackup(f"the store copy {path} is damaged or not a store ({e.message})") from None
    if batch:
        yield batch
