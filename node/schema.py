"""The store's tables (docs/PROTOCOL.md §7), and how a store of an older schema is
brought up to date on first open, with nothing lost. node/store.py calls
:func:`upgrade` inside a write transaction.

Versions: 1, the first schema; 2, ``held`` keeps each event's kind (admissions waiting
to be placed are found by it: §6.3); 3, ``held`` is indexed by reason, and ``budget``
counts each author's events and bytes per day (§4.6).
"""

from __future__ import annotations

import sqlite_utils

from node.cipherdb import sqlite3
from protocol.envelope import decode_event

VERSION = 3
MS_PER_DAY = 86_400_000


def upgrade(conn: sqlite3.Connection, db: sqlite_utils.Database, version: int) -> None:
    """Bring a store of schema ``version`` (0: a new file) to :data:`VERSION`."""
    if version == 0:
        create(db, conn)
    else:
        if version == 1:
            _held_kinds(conn)
        if version <= 2:
            _budget(conn)
    conn.execute(f"PRAGMA user_version = {VERSION}")


def create(db: sqlite_utils.Database, conn: sqlite3.Connection) -> None:
    """Every table of a new store."""
    db.table("events").create(
        {"id": bytes, "author": bytes, "seq": int, "ts": int, "kind": str, "raw": bytes},
        not_null={"id", "author", "seq", "ts", "kind", "raw"},
    )
    db.table("events").create_index(["id"], unique=True)
    db.table("events").create_index(["author", "seq"], unique=True)
    db.table("events").create_index(["kind"])
    db.table("heads").create(
        {"author": bytes, "seq": int, "id": bytes, "ts": int, "network": bytes},
        pk="author",
        not_null={"seq", "id", "ts", "network"},
    )
    db.table("forks").create(
        {"id": bytes, "author": bytes, "seq": int, "raw": bytes},
        pk="id",
        not_null={"author", "seq", "raw"},
    )
    db.table("held").create(
        {"id": bytes, "author": bytes, "seq": int, "raw": bytes, "reason": str, "kind": str},
        pk="id",
        not_null={"author", "seq", "raw", "reason", "kind"},
    )
    db.table("held").create_index(["author", "seq"])
    db.table("held").create_index(["kind"])
    db.table("held").create_index(["reason"])
    _create_budget(conn)
    # Projections (node/projector.py): rebuildable from the log at any time.
    db.table("items").create(
        {"kind": str, "id": bytes, "author": bytes, "ts": int, "visible": int, "state": bytes},
        pk=("kind", "id"),
        not_null={"ts", "visible", "state"},
    )
    db.table("items").create_index(["kind", "visible", "ts"])
    db.table("unreadable").create({"id": bytes, "kind": str}, pk="id")
    db.table("peers").create(
        {"node_id": bytes, "name": str, "card": str, "url": str},
        pk="node_id",
        not_null={"name", "card"},
    )
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _held_kinds(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: the kind of every held event, read from the event itself."""
    conn.execute("ALTER TABLE held ADD COLUMN kind TEXT NOT NULL DEFAULT ''")
    rows = conn.execute("SELECT id, raw FROM held").fetchall()
    conn.executemany(
        "UPDATE held SET kind = ? WHERE id = ?",
        [(decode_event(bytes(raw)).kind, held_id) for held_id, raw in rows],
    )
    conn.execute("CREATE INDEX IF NOT EXISTS idx_held_kind ON held (kind)")


def _budget(conn: sqlite3.Connection) -> None:
    """Schema 2 to 3: held events by reason; each author's daily budget, counted from
    the log."""
    conn.execute("CREATE INDEX IF NOT EXISTS idx_held_reason ON held (reason)")
    _create_budget(conn)
    conn.execute(
        "INSERT INTO budget (author, day, events, bytes) "
        "SELECT author, (ts >> 16) / ?, count(*), sum(length(raw)) FROM events GROUP BY 1, 2",
        (MS_PER_DAY,),
    )


def _create_budget(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS budget (author BLOB NOT NULL, day INTEGER NOT NULL, "
        "events INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (author, day))"
    )
