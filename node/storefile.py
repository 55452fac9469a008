"""Another store's file, read as untrusted bytes: a copy beside a backup, a damaged
store. Nothing of it is trusted: the caller takes its events in by the rules of any
ingest (node/backup.py, node/resync.py). Such a file is encrypted under the node's
store key, like the store; one written before stores were encrypted is plaintext, and
read as it is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from crypto.atrest import sqlcipher_key
from node.cipherdb import connect, is_plaintext, sqlite3
from node.errors import StoreCorrupt, StoreError


def snapshot(source: Path, target: Path, key: bytes | None) -> None:
    """A consistent copy of the store at ``source`` in ``target`` (SQLite's online
    backup: consistent even while another process writes), as one file, encrypted under
    the same store key ``key`` as the store (None: both plaintext, in tests). ``target``
    must exist (made private by the caller); StoreError when it cannot be made."""
    cipher = None if key is None else sqlcipher_key(key)
    try:
        src = connect(source, cipher)
        dest = connect(target, cipher)
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
            src.close()
    except sqlite3.Error as e:
        raise StoreError(f"cannot copy the store {source} to {target}: {e}") from None


@dataclass
class Foreign:
    """What could be read of another store's file (a copy beside a backup, a damaged
    store): its meta entries and peers, as they are, for the caller to check."""

    meta: dict[str, str] = field(default_factory=dict)
    peers: list[tuple[str, str | None]] = field(default_factory=list)
    #: rows of events that could not be read at all
    lost: int = 0


def foreign_events(
    path: Path, found: Foreign, key: bytes | None, *, chunk: int = 500
) -> Iterator[bytes]:
    """Every event's bytes that can be read from the store file at ``path`` (log, then
    fork evidence), read-only, a chunk of rows at a time, so a page that does not read
    loses only those rows (counted in ``found.lost``); its meta and peers go into
    ``found`` first. The file is read under the store key ``key`` unless it is plaintext
    (written before stores were encrypted). StoreCorrupt when the file does not open as
    a store at all (damaged, or under another key)."""
    cipher = None if key is None or is_plaintext(path) else sqlcipher_key(key)
    try:
        db = connect(f"file:{path}?mode=ro", cipher, uri=True)
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as e:
        raise StoreCorrupt(f"{path} cannot be read as a store ({e})") from None
    try:
        with contextlib.suppress(sqlite3.Error):
            found.meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
        with contextlib.suppress(sqlite3.Error):
            found.peers = [
                (str(card), None if url is None else str(url))
                for card, url in db.execute("SELECT card, url FROM peers")
            ]
        for table in ("events", "forks"):
            try:
                (top,) = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()  # noqa: S608
            except sqlite3.Error:
                continue
            for start in range(0, int(top or 0) + 1, chunk):
                try:
                    rows = db.execute(
                        f"SELECT raw FROM {table} WHERE rowid >= ? AND rowid < ?",  # noqa: S608
                        (start, start + chunk),
                    ).fetchall()
                except sqlite3.Error:
                    found.lost += chunk
                    continue
                for (raw,) in rows:
                    if isinstance(raw, bytes):
                        yield raw
    finally:
        db.close()
