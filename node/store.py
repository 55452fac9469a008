"""The store: the log in SQLite (WAL mode), through sqlite-utils, encrypted at rest
with SQLCipher under the node's store key (node/cipherdb.py, crypto/atrest.py).

Rules it keeps (docs/PROTOCOL.md §7):

- an event and its author's new head are written in one transaction, and so is a whole
  batch of foreign events: a crash at any instant leaves the log as it was before the
  transaction or after it, never in between;
- (author, seq) is unique in ``events``; a second, different event at the same place is
  fork evidence and goes to ``forks``; nothing is ever deleted from either;
- ``synchronous=FULL``: an event acknowledged to a user or a peer survives a power cut,
  so a node can never reuse a seq it already published (that would fork its own feed).

Every sqlite3 error is translated into :class:`StoreError` here; nothing above this
module sees a sqlite3 type.

Why this module is long (about 650 lines): it is the one place where the node's SQL
lives (besides the projector's and the web view's read queries, and a test keeps it
so), as one small named method per query, so that nothing else in ``node/`` writes
SQL. The schema and its upgrades are node/schema.py; another store's file, read as
untrusted bytes, is node/storefile.py.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crypto.atrest import sqlcipher_key
from node import schema
from node.cipherdb import connect, encrypt_in_place, is_plaintext, sqlite3
from node.errors import StoreCorrupt, StoreError
from protocol.card import Card
from protocol.chain import Head
from protocol.envelope import Event, decode_event, strip_body
from protocol.kinds.member import ACTIONS
from protocol.placement import keeps_evidence

SCHEMA_VERSION = schema.VERSION
MS_PER_DAY = schema.MS_PER_DAY
#: the condition on ``events`` for an event found by its id alone (a parameter): each
#: part of the log asked through the index by part and id (node/schema.py, schema 6), as
#: an index by id alone took a random page for each event stored
BY_ID = (
    "part IN (WITH RECURSIVE parts(n) AS (SELECT coalesce(max(part), 0) FROM events "
    "UNION ALL SELECT n - 1 FROM parts WHERE n > 0) SELECT n FROM parts) AND id = ?"
)
#: SQLite's primary result codes for an I/O error and a full disk
SQLITE_IOERR = 10
SQLITE_FULL = 13
#: less free space than this, and an I/O error is taken for a full disk (SQLite reports
#: a disk with no room even for its WAL index as a "disk I/O error")
LOW_SPACE = 4 * 1024 * 1024
BUSY_TIMEOUT_MS = 15_000
#: SQLite's page cache per connection, in KiB. 16 MiB: a 64 MiB cache filled as a store
#: was read (the quick check at open, a sync of 100,000 events) and took `commune sync`
#: to 157-201 MiB, past the 150 MB its memory must stay under (docs/BENCHMARKS.md,
#: "Scale"); 16 MiB kept it at 112 MiB, at the same ingest rate within the noise
CACHE_KIB = 16 * 1024
#: how long the check of a store as it opens may take (SQLite's quick_check, stopped
#: when the time is up: a large store is checked whole by ``verify`` and ``doctor``)
QUICK_CHECK_SECONDS = 0.2
#: what to do about a damaged store, said wherever it stops something
DAMAGED_FIX = (
    "run `commune resync` to make a new store from what still checks and from the "
    "peers, or restore the node from a backup"
)


#: what SQLCipher's failure to decrypt a page means (it reports it as "out of memory")
ENCRYPTED_PAGE_FAILED = "a page does not decrypt and check under the store key"


def day_of(ts: int) -> int:
    """The UTC day (days since 1970) an event's timestamp names (§4.6)."""
    return (ts >> 16) // MS_PER_DAY


def _create_private(path: Path) -> None:
    """Make a new store file readable by this user only (mode 0600, whatever the umask):
    it holds the network's reports and plans. SQLite makes the -wal and -shm files
    with the database's own mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # SQLite says what is wrong, in its own words, just after
    os.close(fd)


#: the -shm files this process holds a descriptor of: real path → (descriptor, stores)
_INDEX_FDS: dict[str, tuple[int, int]] = {}
_INDEX_LOCK = threading.Lock()


def _hold_index(path: Path) -> str | None:
    """Give every page of SQLite's WAL index (the -shm file) real disk blocks, and keep
    the descriptor used for it open while any store of this process uses the file.

    SQLite makes the index by writing one byte per 4 KiB page and then uses it through a
    memory map: on a file system with smaller blocks (ext4 under 512 MB), the untouched
    blocks of a page are holes, and on a full disk the first store into one kills the
    process (SIGBUS) instead of failing a write. The descriptor must stay open: closing
    any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
    included, and another process would then reset the index under this one's map.
    The key to give :func:`_release_index`, or None."""
    key = os.path.realpath(path)
    with _INDEX_LOCK:
        held = _INDEX_FDS.get(key)
        if held is not None:
            _INDEX_FDS[key] = (held[0], held[1] + 1)
            return key
        try:
            fd = os.open(key, os.O_RDWR)
        except OSError:
            return None
        try:
            size = os.fstat(fd).st_size
            if size:
                os.posix_fallocate(fd, 0, size)
        except OSError:
            pass  # no room even for that: the next write fails cleanly, as SQLite reports
        _INDEX_FDS[key] = (fd, 1)
        return key


def _release_index(key: str) -> None:
    """After a store's connection closed: close the descriptor once no store of this
    process uses the file (SQLite's own connections to it are closed by then)."""
    with _INDEX_LOCK:
        fd, stores = _INDEX_FDS[key]
        if stores > 1:
            _INDEX_FDS[key] = (fd, stores - 1)
            return
        del _INDEX_FDS[key]
    os.close(fd)


class Store:
    def __init__(self, path: Path | str, key: bytes | None = None) -> None:
        """Open (or make) the store at ``path``, encrypted under the store key ``key``
        (crypto/atrest.py); a plaintext store there (written before stores were
        encrypted) is encrypted in place first. ``key=None`` keeps a plaintext store:
        for tests, the plaintext side of the benchmarks and ":memory:" (tests); a node
        always opens its store through :meth:`node.home.Home.open_store`."""
        self.path = path
        self.encrypted = key is not None
        #: why this store is damaged (SQLite's quick check), or None: then nothing is
        #: written to it any more, and what it serves is checked again first
        self.damaged: str | None = None
        #: ``data_version`` as read once in the write transaction under way (None: none
        #: under way, or not read yet in it): see :meth:`data_version`
        self._write_version: int | None = None
        self._writing = False
        cipher = None if key is None else sqlcipher_key(key)
        if str(path) != ":memory:":
            if cipher is not None and is_plaintext(Path(path)):
                encrypt_in_place(Path(path), cipher)
            _create_private(Path(path))
        with self._errors():
            self.conn = connect(path, cipher, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            # Erased bytes (redaction) are overwritten, not left in free pages.
            self.conn.execute("PRAGMA secure_delete = ON")
            # A page read from the cache is not decrypted again: a cache larger than
            # SQLite's 2 MiB (filled only as pages are used) took ingest of 50,000 events
            # from 2,700 to 3,300 a second on an encrypted store (docs/BENCHMARKS.md,
            # "Encryption at rest"); its size is bounded by memory (CACHE_KIB).
            self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._migrate()
        if str(path) != ":memory:":
            self.damaged = self._quick_check()
        self._index: str | None = None
        if str(path) != ":memory:":
            self._index = _hold_index(Path(f"{path}-shm"))

    def close(self) -> None:
        try:
            with self._errors():
                self.conn.close()
        finally:
            if self._index is not None:
                _release_index(self._index)
                self._index = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except MemoryError as e:
            # SQLCipher reports a page whose HMAC does not check as SQLITE_NOMEM, which
            # Python raises as MemoryError.
            raise StoreCorrupt(
                f"the store {self.path} is damaged ({ENCRYPTED_PAGE_FAILED}): {DAMAGED_FIX}"
            ) from e
        except sqlite3.DatabaseError as e:
            text = str(e)
            if "malformed" in text or "not a database" in text:
                raise StoreCorrupt(
                    f"the store {self.path} is damaged ({text}): {DAMAGED_FIX}"
                ) from e
            if "locked" in text or "busy" in text:
                raise StoreError(f"the store {self.path} is busy; try again ({text})") from e
            primary = getattr(e, "sqlite_errorcode", 0) & 0xFF
            if (
                primary == SQLITE_FULL
                or "full" in text
                or (primary == SQLITE_IOERR and self._disk_full())
            ):
                # A disk with no room even for the WAL index is "disk I/O error" to SQLite.
                raise StoreError(
                    f"the disk holding {self.path} is full; nothing was written: free some "
                    "space on that disk, then try again"
                ) from e
            if primary == SQLITE_IOERR:
                raise StoreError(
                    f"cannot read or write the store {self.path} ({text}): check the disk"
                ) from e
            raise StoreError(f"the store {self.path}: {text}") from e

    def _quick_check(self) -> str | None:
        """SQLite's quick_check for at most QUICK_CHECK_SECONDS: what it found wrong,
        or None (whole, or not checked to the end in time)."""
        deadline = time.monotonic() + QUICK_CHECK_SECONDS
        self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            rows = self.conn.execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.OperationalError as e:
            if "interrupt" in str(e):
                return None  # out of time: the part checked is whole
            return str(e)
        except sqlite3.DatabaseError as e:
            return str(e)
        except MemoryError:
            return ENCRYPTED_PAGE_FAILED
        finally:
            self.conn.set_progress_handler(None, 0)
        found = [str(r[0]) for r in rows]
        return None if found == ["ok"] else "; ".join(found)[:300]

    def _disk_full(self) -> bool:
        try:
            return shutil.disk_usage(Path(self.path).parent).free < LOW_SPACE
        except (OSError, TypeError):
            return False

    # --- schema ---------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.VERSION:
            raise StoreError(
                f"the store {self.path} was written by a newer Commune (schema {version}); "
                "upgrade this program"
            )
        if version < schema.VERSION:
            with self.write():
                schema.upgrade(self.conn, version)

    # --- transactions ---------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock at once, so a
        command and a running server never both read a head and then both append. A
        damaged store takes no more writes: writing to it could lose what it holds."""
        if self.damaged is not None:
            raise StoreCorrupt(
                f"the store {self.path} is damaged ({self.damaged}); nothing was written: "
                + DAMAGED_FIX
            )
        with self._errors():
            self.conn.execute("BEGIN IMMEDIATE")
            self._writing, self._write_version = True, None
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            finally:
                self._writing, self._write_version = False, None
            self.conn.execute("COMMIT")

    # --- reading --------------------------------------------------------------------

    def head(self, author: bytes) -> Head | None:
        with self._errors():
            row = self.conn.execute(
                "SELECT seq, id, ts, network FROM heads WHERE author = ?", (author,)
            ).fetchone()
        return None if row is None else Head(*row)

    def heads(self) -> dict[bytes, Head]:
        with self._errors():
            rows = self.conn.execute("SELECT author, seq, id, ts, network FROM heads").fetchall()
        return {row[0]: Head(*row[1:]) for row in rows}

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        with self._errors():
            row = self.conn.execute(
                "SELECT id FROM events WHERE author = ? AND seq = ?", (author, seq)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def event_at(self, author: bytes, seq: int) -> Event | None:
        """The log's event at (author, seq), or None: found by the (author, seq) index,
        where a lookup by id alone asks each part of the log (:data:`BY_ID`)."""
        with self._errors():
            row = self.conn.execute(
                "SELECT raw FROM events WHERE author = ? AND seq = ?", (author, seq)
            ).fetchone()
        return None if row is None else decode_event(bytes(row[0]))

    def rowid_at(self, author: bytes, seq: int) -> int | None:
        """Where the log's event at (author, seq) stands in arrival order, or None."""
        with self._errors():
            row = self.conn.execute(
                "SELECT rowid FROM events WHERE author = ? AND seq = ?", (author, seq)
            ).fetchone()
        return None if row is None else int(row[0])

    def rows_after(
        self, rowid: int, limit: int, max_bytes: int | None = None
    ) -> list[tuple[int, bytes, int, bytes]]:
        """(rowid, author, seq, raw) of up to ``limit`` events stored after ``rowid``, in
        arrival order: how a stream of what a peer lacks is read in chunks. With
        ``max_bytes``, the chunk ends once its events hold that many bytes (one event at
        least), and no more than that is read from the store."""
        out: list[tuple[int, bytes, int, bytes]] = []
        size = 0
        with self._errors():
            cursor = self.conn.execute(
                "SELECT rowid, author, seq, raw FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (rowid, limit),
            )
            while rows := cursor.fetchmany(64):
                for r in rows:
                    out.append((int(r[0]), bytes(r[1]), int(r[2]), bytes(r[3])))
                    size += len(r[3])
                    if max_bytes is not None and size >= max_bytes:
                        cursor.close()
                        return out
        return out

    def log_mark(self) -> tuple[int, int]:
        """(the last event's rowid, fork evidence kept): changes whenever the log grows."""
        with self._errors():
            row = self.conn.execute(
                "SELECT coalesce((SELECT max(rowid) FROM events), 0), (SELECT count(*) FROM forks)"
            ).fetchone()
        return int(row[0]), int(row[1])

    def get_fork(self, event_id: bytes) -> Event | None:
        with self._errors():
            row = self.conn.execute("SELECT raw FROM forks WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else decode_event(bytes(row[0]))

    def get(self, event_id: bytes) -> Event | None:
        with self._errors():
            row = self.conn.execute(
                f"SELECT raw FROM events WHERE {BY_ID}",  # noqa: S608 - a fixed condition
                (event_id,),
            ).fetchone()
        return None if row is None else decode_event(bytes(row[0]))

    def data_version(self) -> int:
        """SQLite's ``data_version``: it changes when another connection (another process,
        or another store object) commits to this file, and never for this connection's
        own commits. What a process caches from the store is stale when it changed.

        Inside a write transaction it is read once: this connection holds the write lock
        (BEGIN IMMEDIATE), so no other one can commit until it ends (ingest asked it
        three times an event: 29% of the storing thread's time, docs/BENCHMARKS.md)."""
        if self._writing and self._write_version is not None:
            return self._write_version
        with self._errors():
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        if self._writing:
            self._write_version = version
        return version

    def count(self) -> int:
        with self._errors():
            return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def rows(self, order: str = "author, seq") -> Iterator[tuple[bytes, bytes, int, bytes]]:
        """(stored id, author, seq, raw) of every event, streamed, never all in memory."""
        if order not in ("author, seq", "rowid"):
            raise ValueError(order)
        with self._errors():
            cursor = self.conn.execute(
                f"SELECT id, author, seq, raw FROM events ORDER BY {order}"  # noqa: S608
            )
            while batch := cursor.fetchmany(500):
                for row in batch:
                    yield bytes(row[0]), bytes(row[1]), row[2], bytes(row[3])

    def events(self, order: str = "author, seq") -> Iterator[Event]:
        for _, _, _, raw in self.rows(order):
            yield decode_event(raw)

    def forks(self) -> list[Event]:
        with self._errors():
            rows = self.conn.execute("SELECT raw FROM forks ORDER BY author, seq, id").fetchall()
        return [decode_event(bytes(r[0])) for r in rows]

    def get_meta(self, key: str) -> str | None:
        with self._errors():
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # --- writing (inside write()) ---------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        with self._errors():
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete_meta(self, key: str) -> None:
        with self._errors():
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def add(self, events: Sequence[Event]) -> None:
        """Append events whose chain the caller has checked, moving their authors' heads.
        Call inside :meth:`write`."""
        if not events:
            return
        heads: dict[bytes, Event] = {}
        for event in events:
            heads[event.author] = event
        with self._errors():
            # each event's part of the log by the row it will take (the next after the
            # last): the new ids land in one small part of the index by part and id
            (last,) = self.conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
            bits = schema.PART_BITS
            self.conn.executemany(
                "INSERT INTO events (id, author, seq, ts, kind, raw, part) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (e.id, e.author, e.seq, e.ts, e.kind, e.raw, (last + 1 + n) >> bits)
                    for n, e in enumerate(events)
                ],
            )
            self.conn.executemany(
                "INSERT INTO heads (author, seq, id, ts, network) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (author) DO UPDATE SET seq = excluded.seq, id = excluded.id, "
                "ts = excluded.ts, network = excluded.network WHERE excluded.seq > heads.seq",
                [(e.author, e.seq, e.id, e.ts, e.network) for e in heads.values()],
            )
            spent: dict[tuple[bytes, int], list[int]] = {}
            for e in events:
                tally = spent.setdefault((e.author, day_of(e.ts)), [0, 0])
                tally[0] += 1
                tally[1] += len(e.raw)
            self.conn.executemany(
                "INSERT INTO budget (author, day, events, bytes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (author, day) DO UPDATE SET events = events + excluded.events, "
                "bytes = bytes + excluded.bytes",
                [(a, d, n, b) for (a, d), (n, b) in spent.items()],
            )

    def erase_bodies(self, ids: Iterable[bytes]) -> int:
        """Erase the bodies of these events wherever they are kept (log, fork evidence),
        keeping their envelopes: how a redaction takes effect (docs/PROTOCOL.md §12). The
        store deletes securely, so the bytes are overwritten. Call inside :meth:`write`;
        the number of events whose body was erased here."""
        erased = 0
        with self._errors():
            for event_id in ids:
                for table, where in (("events", BY_ID), ("forks", "id = ?")):
                    row = self.conn.execute(
                        f"SELECT rowid, raw FROM {table} WHERE {where}",  # noqa: S608 - fixed
                        (event_id,),
                    ).fetchone()
                    if row is None:
                        continue
                    event = decode_event(bytes(row[1]))
                    if event.body is not None:
                        self.conn.execute(
                            f"UPDATE {table} SET raw = ? WHERE rowid = ?",  # noqa: S608
                            (strip_body(event).raw, row[0]),
                        )
                        erased += 1
        return erased

    def restore_body(self, event: Event) -> bool:
        """A full copy of a stored event whose body a relay had left out: keep the body
        (same id, so the same signed header). Call inside :meth:`write`."""
        with self._errors():
            row = self.conn.execute(
                "SELECT id, raw FROM events WHERE author = ? AND seq = ?", (event.author, event.seq)
            ).fetchone()
            if (
                row is None
                or bytes(row[0]) != event.id
                or event.body is None
                or decode_event(bytes(row[1])).body is not None
            ):
                return False
            self.conn.execute(
                "UPDATE events SET raw = ? WHERE author = ? AND seq = ?",
                (event.raw, event.author, event.seq),
            )
        return True

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file and empty it, so erased bytes
        do not linger in the WAL file. Outside a transaction."""
        with self._errors():
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add_fork(self, event: Event) -> bool:
        """Keep a second event at a taken (author, seq) as evidence; False if known, or
        if evidence at this seq or an earlier one is kept already: an author is cut off
        at its first fork (§5.5), so later evidence changes nothing, and a peer cannot
        fill the disk or the memory with it."""
        with self._errors():
            lowest = self.conn.execute(
                "SELECT min(seq) FROM forks WHERE author = ?", (event.author,)
            ).fetchone()[0]
            if not keeps_evidence(lowest, event.seq):
                return False
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO forks (id, author, seq, raw) VALUES (?, ?, ?, ?)",
                (event.id, event.author, event.seq, event.raw),
            )
        return bool(cursor.rowcount == 1)

    def hold(self, event: Event, reason: str) -> bool:
        """Keep a valid event that cannot be applied yet (a gap before it); False if known."""
        with self._errors():
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO held (id, author, seq, raw, reason, kind) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.id, event.author, event.seq, event.raw, reason, event.kind),
            )
        return bool(cursor.rowcount == 1)

    def spent(self, author: bytes, day: int) -> tuple[int, int]:
        """The events and bytes of ``author`` in the log dated on ``day`` (§4.6)."""
        with self._errors():
            row = self.conn.execute(
                "SELECT events, bytes FROM budget WHERE author = ? AND day = ?", (author, day)
            ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def held_count_of(self, *, author: bytes | None = None, reason: str | None = None) -> int:
        """Held events of one author, or held for one reason."""
        column, value = ("author", author) if author is not None else ("reason", reason)
        with self._errors():
            row = self.conn.execute(
                f"SELECT count(*) FROM held WHERE {column} = ?",  # noqa: S608 - fixed names
                (value,),
            ).fetchone()
        return int(row[0])

    def evict_held(
        self, *, keep: int, author: bytes | None = None, reason: str | None = None
    ) -> list[bytes]:
        """Remove the oldest held events of one author (or held for one reason) beyond
        the ``keep`` newest, admin actions excepted (they decide who is let in: §6.3);
        the ids removed. Call inside :meth:`write`."""
        column, value = ("author", author) if author is not None else ("reason", reason)
        marks = ", ".join("?" * len(ACTIONS))
        where = f"{column} = ? AND kind NOT IN ({marks})"
        with self._errors():
            count = int(
                self.conn.execute(
                    f"SELECT count(*) FROM held WHERE {where}",  # noqa: S608
                    (value, *ACTIONS),
                ).fetchone()[0]
            )
            if count <= keep:
                return []
            rows = self.conn.execute(
                f"SELECT rowid, id FROM held WHERE {where} ORDER BY rowid LIMIT ?",  # noqa: S608
                (value, *ACTIONS, count - keep),
            ).fetchall()
            self.conn.executemany("DELETE FROM held WHERE rowid = ?", [(r[0],) for r in rows])
        return [bytes(r[1]) for r in rows]

    def held_at(self, author: bytes, seq: int) -> list[Event]:
        with self._errors():
            rows = self.conn.execute(
                "SELECT raw FROM held WHERE author = ? AND seq = ? ORDER BY id", (author, seq)
            ).fetchall()
        return [decode_event(bytes(r[0])) for r in rows]

    def unhold(self, author: bytes, up_to_seq: int) -> None:
        with self._errors():
            self.conn.execute("DELETE FROM held WHERE author = ? AND seq <= ?", (author, up_to_seq))

    def take_held(self, authors: Sequence[bytes]) -> list[Event]:
        """Remove and return every held event of these authors (to place them again)."""
        taken: list[Event] = []
        with self._errors():
            for author in authors:
                rows = self.conn.execute(
                    "SELECT raw FROM held WHERE author = ? ORDER BY seq", (author,)
                ).fetchall()
                self.conn.execute("DELETE FROM held WHERE author = ?", (author,))
                taken.extend(decode_event(bytes(r[0])) for r in rows)
        return taken

    def events_of_kinds(self, kinds: Sequence[str]) -> list[Event]:
        marks = ", ".join("?" * len(kinds))
        with self._errors():
            rows = self.conn.execute(
                f"SELECT raw FROM events WHERE kind IN ({marks})",  # noqa: S608
                tuple(kinds),
            ).fetchall()
        return [decode_event(bytes(r[0])) for r in rows]

    def held_of_kinds(self, kinds: Sequence[str]) -> list[Event]:
        """Held events (waiting for a gap to fill, or for their author's admission) of
        these kinds: the admissions a node knows before its log holds them (§6.3)."""
        marks = ", ".join("?" * len(kinds))
        with self._errors():
            rows = self.conn.execute(
                f"SELECT raw FROM held WHERE kind IN ({marks}) ORDER BY author, seq, id",  # noqa: S608
                tuple(kinds),
            ).fetchall()
        return [decode_event(bytes(r[0])) for r in rows]

    def fork_seqs(self) -> dict[bytes, int]:
        """For each author with fork evidence, the lowest forked seq."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT author, min(seq) FROM forks GROUP BY author"
            ).fetchall()
        return {bytes(r[0]): int(r[1]) for r in rows}

    def held_count(self) -> int:
        with self._errors():
            return int(self.conn.execute("SELECT count(*) FROM held").fetchone()[0])

    def still_held(self, ids: Iterable[bytes]) -> int:
        """How many of ``ids`` are held right now."""
        with self._errors():
            return sum(
                1
                for event_id in ids
                if self.conn.execute("SELECT 1 FROM held WHERE id = ?", (event_id,)).fetchone()
            )

    def add_peer(self, card: Card, url: str | None = None) -> None:
        """Remember a node to sync with (its card pins its TLS certificate)."""
        with self._errors():
            self.conn.execute(
                "INSERT INTO peers (node_id, name, card, url) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, card = excluded.card, "
                "url = coalesce(excluded.url, peers.url)",
                (
                    card.node_id,
                    card.name,
                    card.to_text(),
                    url or (card.addresses[0] if card.addresses else None),
                ),
            )

    # --- named reads for the rest of the node (no SQL outside this module, the
    # projector and the web view's data module: tests/test_layers.py) ---------------

    def peer_rows(self) -> list[tuple[bytes, str, str, str | None]]:
        """(node id, name, card text, url) of every peer kept, by node id."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT node_id, name, card, url FROM peers ORDER BY node_id"
            ).fetchall()
        return [
            (bytes(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows
        ]

    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of every meta entry whose key starts with ``prefix``, by key."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    def find_by_prefix(self, hex_prefix: str, limit: int = 2) -> list[Event]:
        """Events in the log or kept as fork evidence whose id starts with these hex
        digits (at most ``limit``)."""
        pattern = hex_prefix.upper() + "%"
        with self._errors():
            rows = self.conn.execute(
                "SELECT raw FROM events WHERE hex(id) LIKE ?1 "
                "UNION SELECT raw FROM forks WHERE hex(id) LIKE ?1 LIMIT ?2",
                (pattern, limit),
            ).fetchall()
        return [decode_event(bytes(r[0])) for r in rows]

    def held_span(self, author: bytes) -> tuple[int, int] | None:
        """The lowest and highest seq of ``author``'s held events, or None."""
        with self._errors():
            low, high = self.conn.execute(
                "SELECT min(seq), max(seq) FROM held WHERE author = ?", (author,)
            ).fetchone()
        return None if high is None else (int(low), int(high))

    def item_ids_with_prefix(self, kind: str, hex_prefix: str) -> list[bytes]:
        """The ids of the public items of ``kind`` whose id starts with these hex digits."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT id FROM items WHERE kind = ? AND hex(id) LIKE ?",
                (kind, hex_prefix.upper() + "%"),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def fork_evidence_count(self) -> int:
        with self._errors():
            return int(self.conn.execute("SELECT count(*) FROM forks").fetchone()[0])

    def events_by_author(self) -> list[tuple[bytes, int]]:
        """(author, events in the log) for every author."""
        with self._errors():
            rows = self.conn.execute("SELECT author, count(*) FROM events GROUP BY author")
            return [(bytes(a), int(n)) for a, n in rows.fetchall()]

    def newest_ts(self) -> int | None:
        """The highest timestamp among the authors' heads."""
        with self._errors():
            row = self.conn.execute("SELECT max(ts) FROM heads").fetchone()
        return None if row[0] is None else int(row[0])

    def integrity_check(self) -> list[str]:
        """SQLite's whole-file check: ["ok"], or what it found wrong."""
        with self._errors():
            return [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchall()]

    def item_rowids(self, keys: Iterable[tuple[str, bytes]]) -> dict[tuple[str, bytes], int]:
        """Where these items (kind, id) are in ``items``: their rows in the search index
        (node/search.py). A query per kind and 500 ids."""
        by_kind: dict[str, list[bytes]] = {}
        for kind, item_id in sorted(keys):
            by_kind.setdefault(kind, []).append(item_id)
        found: dict[tuple[str, bytes], int] = {}
        with self._errors():
            for kind, ids in by_kind.items():
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    rows = self.conn.execute(
                        f"SELECT rowid, id FROM items WHERE kind = ? AND id IN ({marks})",  # noqa: S608
                        (kind, *chunk),
                    ).fetchall()
                    found.update({(kind, bytes(i)): int(r) for r, i in rows})
        return found

    def search_faults(self) -> tuple[list[tuple[bytes, bytes]], list[str]]:
        """Where the search index is not what the items make of it (node/schema.py
        :func:`~node.schema.search_faults`): (id, author) of each item whose words differ
        (an empty id: words of no item), and what else differs."""
        with self._errors():
            rowids, other = schema.search_faults(self.conn)
            items = []
            for rowid in rowids:
                row = self.conn.execute(
                    "SELECT id, author FROM items WHERE rowid = ?", (rowid,)
                ).fetchone()
                items.append((b"", b"") if row is None else (bytes(row[0]), bytes(row[1])))
        return items, other

    def rowids_lacking(self, lacks: Any) -> list[int]:
        """The rowids, in arrival order, of the events for which ``lacks(author, seq)``
        is true (what a bundle for a peer holds)."""
        with self._errors():
            rows = self.conn.execute("SELECT rowid, author, seq FROM events ORDER BY rowid")
            return [int(r) for r, a, q in rows.fetchall() if lacks(bytes(a), q)]

    def raws_at_rowids(self, rowids: Sequence[int]) -> list[bytes]:
        """The raw events at these rowids, in rowid order."""
        marks = ", ".join("?" * len(rowids))
        with self._errors():
            rows = self.conn.execute(
                f"SELECT raw FROM events WHERE rowid IN ({marks}) ORDER BY rowid",  # noqa: S608
                tuple(rowids),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def single_file(self) -> None:
        """Leave no write-ahead log beside the file (a store to move whole)."""
        with self._errors():
            rows = self.conn.execute("PRAGMA journal_mode = DELETE").fetchall()
        if not rows or str(rows[0][0]).lower() != "delete":
            raise StoreError(f"the store {self.path} could not be made into a single file")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; errors come back as StoreError."""
        with self._errors():
            rows: list[tuple[Any, ...]] = self.conn.execute(sql, params).fetchall()
        return rows

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._errors():
                self.conn.executemany(sql, rows)
