"""The one SQLite library of the process: SQLCipher 4 (``sqlcipher3``), through which every
store file is opened, encrypted under a key from crypto/atrest.py.

One library, not two: SQLite keeps its POSIX locks per library, and a process that
opened one file through Python's own ``sqlite3`` and through SQLCipher would drop the
locks of one when the other closes the file. So nothing in ``node/`` imports
``sqlite3``; it imports :data:`sqlite3` from here (the same DB-API, SQLCipher's build).

A store made before the store was encrypted is plaintext SQLite. :func:`encrypt_in_place`
turns it into an encrypted one, nothing lost: SQLCipher's ``sqlcipher_export`` copies
every table, index and trigger into a new encrypted file beside it, under an exclusive
lock on the old one, and the new file takes the old one's place in one rename.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlcipher3 import dbapi2 as sqlite3  # SQLCipher's DB-API: sqlite3's, same names

from node.errors import StoreCorrupt, StoreError

__all__ = ["connect", "encrypt_in_place", "is_plaintext", "sqlite3"]

#: the first 16 bytes of every plaintext SQLite database file; an encrypted one starts
#: with its random salt instead
PLAINTEXT_HEADER = b"SQLite format 3\x00"

# SQLCipher reports a page that does not decrypt on stderr as well as in the error it
# raises: the error is what this program reports (node/store.py), once, in its words.
with contextlib.closing(sqlite3.connect(":memory:")) as _quiet:
    _quiet.execute("PRAGMA cipher_log_level = NONE")


def connect(path: Path | str, key: str | None, **kwargs: Any) -> Any:
    """A connection to the database at ``path``, under ``key`` (SQLCipher's raw-key
    form, crypto/atrest.py ``sqlcipher_key``); None opens a plaintext file (tests and
    the plaintext side of the benchmarks)."""
    conn = sqlite3.connect(path, **kwargs)
    if key is not None:
        conn.execute(f'PRAGMA key = "{key}"')
    return conn


def is_plaintext(path: Path) -> bool:
    """Whether the file at ``path`` is a plaintext SQLite database (a store written
    before stores were encrypted)."""
    try:
        with path.open("rb") as f:
            return f.read(len(PLAINTEXT_HEADER)) == PLAINTEXT_HEADER
    except OSError:
        return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encrypt_in_place(path: Path, key: str, *, store_file_meta: bool = True) -> None:
    """Turn the plaintext store at ``path`` into one encrypted under ``key``, in place.

    Crash-safe: the encrypted copy is written whole and synced beside the store before a
    rename puts it in the store's place, so a crash leaves the plaintext store (encrypted
    again at the next open) or the encrypted one. The copy keeps the schema version
    (``user_version``) and, when ``store_file_meta``, the store's record of its own file
    (``meta.store_file``, node/ownfeed.py) follows it to the new file, so the store is
    not taken for a copy. StoreError when it cannot be done (a ``serve`` of an older
    version holding the store, a full disk); the plaintext store is then as it was."""
    target = path.with_name(f".{path.name}.encrypting")
    for leftover in (target, Path(f"{target}-journal")):
        leftover.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        old = os.stat(path)
        new = os.stat(target)
        conn = sqlite3.connect(path, isolation_level=None, timeout=15)
        try:
            conn.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(target), key))
            conn.execute("BEGIN EXCLUSIVE")
            (version,) = conn.execute("PRAGMA main.user_version").fetchone()
            conn.execute("SELECT sqlcipher_export('encrypted')")
            conn.execute(f"PRAGMA encrypted.user_version = {int(version)}")
            if store_file_meta:
                with contextlib.suppress(sqlite3.OperationalError):  # no meta table yet
                    conn.execute(
                        "UPDATE encrypted.meta SET value = ? "
                        "WHERE key = 'store_file' AND value = ?",
                        (f"{new.st_dev}:{new.st_ino}", f"{old.st_dev}:{old.st_ino}"),
                    )
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE encrypted")
        finally:
            conn.close()
        _fsync(target)
        os.replace(target, path)
        for side in ("-wal", "-shm"):
            Path(f"{path}{side}").unlink(missing_ok=True)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except sqlite3.DatabaseError as e:
        target.unlink(missing_ok=True)
        text = str(e)
        if "malformed" in text or "not a database" in text:
            raise StoreCorrupt(f"the store {path} is damaged ({text})") from None
        raise StoreError(
            f"could not encrypt the store {path} ({text}); it was left as it was: stop any "
            "other program using it (an older `serve`), then try again"
        ) from None
    except OSError as e:
        target.unlink(missing_ok=True)
        raise StoreError(
            f"could not encrypt the store {path} ({e.strerror}); it was left as it was"
        ) from None
