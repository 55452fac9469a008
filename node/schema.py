"""The store's tables (docs/PROTOCOL.md §7), and how a store of an older schema is
brought up to date on first open, with nothing lost. node/store.py calls
:func:`upgrade` inside a write transaction.

Versions: 1, the first schema; 2, ``held`` keeps each event's kind (admissions waiting
to be placed are found by it: §6.3); 3, ``held`` is indexed by reason, and ``budget``
counts each author's events and bytes per day (§4.6); 4, the search index of the items
(``item_text``, node/search.py), the number of visible items of each kind
(``item_counts``), and the items listed from an index that holds their order (the web
view pages through it without reading the items it skips); 5, beside each item of a
dated kind (a plan, a shift: ``Listing.dated_by``) what its list sorts and filters by,
its date key and whether it is still to be done (``dated_key``, ``open``:
protocol/projections.py ``list_keys``), with an index in the order of that date, so
that a list by due date or of the overdue plans reads its page and its count without
reading every item; 6, the log's events found by id through an index by part of the log
and id (``events.part``: the event's row number divided by :data:`PART_ROWS`), instead of
an index by id alone: an id is a hash, so each new one landed on a random page of that
index, which cost most of storing an event once the log was large
(docs/BENCHMARKS.md, "Storing as the log grows"); the new ones now land in the part being
written, and a lookup by id alone asks each part.
"""

from __future__ import annotations

from node.cipherdb import sqlite3
from node.search import ROWIDS, TOKENIZE, kind_base, stored_text
from protocol.envelope import decode_event
from protocol.kinds import POSTABLE
from protocol.projections import ItemState, list_keys

VERSION = 6
#: events a part of the log holds (schema 6: ``events.part`` is the row number shifted
#: right by :data:`PART_BITS`)
PART_BITS = 14
PART_ROWS = 1 << PART_BITS
MS_PER_DAY = 86_400_000
#: items read at a time when the search index is filled from them
FILL_BATCH = 2000


def upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store of schema ``version`` (0: a new file) to :data:`VERSION`."""
    if version == 0:
        create(conn)
    else:
        if version == 1:
            _held_kinds(conn)
        if version <= 2:
            _budget(conn)
        if version <= 3:
            _search(conn)
        if version <= 4:
            _dated(conn)
        if version <= 5:
            _parted_ids(conn)
    conn.execute(f"PRAGMA user_version = {VERSION}")


def create(conn: sqlite3.Connection) -> None:
    """Every table of a new store."""
    # sqlite-utils (and the date parser it brings) takes as long to import as a whole
    # command takes to run: only a new store needs it, not every command's start.
    import sqlite_utils  # noqa: PLC0415

    db = sqlite_utils.Database(conn)
    db.table("events").create(
        {
            "id": bytes,
            "author": bytes,
            "seq": int,
            "ts": int,
            "kind": str,
            "raw": bytes,
            "part": int,
        },
        not_null={"id", "author", "seq", "ts", "kind", "raw", "part"},
        defaults={"part": 0},
    )
    db.table("events").create_index(["part", "id"])
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
        {
            "kind": str,
            "id": bytes,
            "author": bytes,
            "ts": int,
            "visible": int,
            "state": bytes,
            "dated_key": str,
            "open": int,
        },
        pk=("kind", "id"),
        not_null={"ts", "visible", "state"},
    )
    _create_search(conn)
    _create_dated(conn)
    db.table("unreadable").create({"id": bytes, "kind": str, "author": bytes, "seq": int}, pk="id")
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


def _parted_ids(conn: sqlite3.Connection) -> None:
    """Schema 5 to 6: events found by part of the log and id. The events stored so far
    are all in part 0 (the column's default: no row is rewritten); an id is unique
    without its own index, as the (author, seq) an id's header holds is. The unreadable
    events keep their author and seq beside their id."""
    conn.execute("ALTER TABLE events ADD COLUMN part INTEGER NOT NULL DEFAULT 0")
    # the unreadable events' author and seq beside them (the web view counts them by
    # the membership), read while the index by id is still there
    conn.execute("ALTER TABLE unreadable ADD COLUMN author BLOB")
    conn.execute("ALTER TABLE unreadable ADD COLUMN seq INTEGER")
    conn.execute(
        "UPDATE unreadable SET (author, seq) = "
        "(SELECT author, seq FROM events WHERE events.id = unreadable.id)"
    )
    conn.execute("CREATE INDEX idx_events_part_id ON events (part, id)")
    conn.execute("DROP INDEX IF EXISTS idx_events_id")


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


def _search(conn: sqlite3.Connection) -> None:
    """Schema 3 to 4: the lists' index in their order, the search index and the counts
    of visible items, filled from the items as they stand."""
    conn.execute("DROP INDEX IF EXISTS idx_items_kind_visible_ts")
    _create_search(conn)
    fill_search(conn)
    conn.execute(
        "INSERT INTO item_counts (kind, visible) "
        "SELECT kind, count(*) FROM items WHERE visible = 1 GROUP BY kind"
    )


def _dated(conn: sqlite3.Connection) -> None:
    """Schema 4 to 5: each dated item's list keys, filled from the items as they stand,
    and the index in the order of their date."""
    conn.execute("ALTER TABLE items ADD COLUMN dated_key TEXT")
    conn.execute("ALTER TABLE items ADD COLUMN open INTEGER")
    conn.executemany(
        "UPDATE items SET dated_key = ?, open = ? WHERE rowid = ?",
        [(key, still, rowid) for rowid, key, still, _, _ in dated_rows(conn, kept=False)],
    )
    _create_dated(conn)


def _create_dated(conn: sqlite3.Connection) -> None:
    """The dated kinds' items in the order of their date, then newest first (as their
    lists show them), with whether each is still to be done: a page of a list by date,
    of the overdue ones, and their count, read from the index alone but for the page's
    own items. Only the items of dated kinds (the others have no date key)."""
    conn.execute(
        "CREATE INDEX idx_items_dated ON items (kind, visible, dated_key, ts DESC, id, open) "
        "WHERE dated_key IS NOT NULL"
    )


def dated_kinds() -> list[str]:
    """The kinds whose listing is dated (``Listing.dated_by``)."""
    return sorted(name for name, spec in POSTABLE.items() if spec.listing.dated_by)


def dated_rows(
    conn: sqlite3.Connection, *, kept: bool = True
) -> list[tuple[int, str | None, int | None, str | None, int | None]]:
    """(rowid, date key, still to do) as the item's state makes them, then as kept, of
    every item of a dated kind (protocol/projections.py ``list_keys``); ``kept``: and
    of every other item that has either kept (every item is read)."""
    kinds = dated_kinds()
    marks = ", ".join("?" * len(kinds))
    also = " OR dated_key IS NOT NULL OR open IS NOT NULL" if kept else ""
    rows = conn.execute(
        f"SELECT rowid, state, dated_key, open FROM items WHERE kind IN ({marks}){also}",  # noqa: S608
        kinds,
    )
    out = []
    for rowid, state, key, still in rows.fetchall():
        made = list_keys(ItemState.decode(bytes(state)))
        out.append((int(rowid), *made, key, still))
    return out


def fill_search(conn: sqlite3.Connection, into: str = "main") -> None:
    """Index the words of every visible item (node/search.py) in the search index of
    the database ``into`` (attached to ``conn``; its ``item_text`` empty before)."""
    rows = conn.execute("SELECT rowid, kind, state FROM main.items WHERE visible = 1")
    while batch := rows.fetchmany(FILL_BATCH):
        conn.executemany(
            f"INSERT INTO {into}.item_text (rowid, text) VALUES (?, ?)",  # noqa: S608
            [(kind_base(k) + r, stored_text(bytes(s))) for r, k, s in batch],
        )


def search_faults(conn: sqlite3.Connection) -> tuple[list[int], list[str]]:
    """Where the search index and the counts of visible items are not what the items
    make of them: the rowids (in ``items``) of the items whose words differ, and what
    else differs. The index is compared with one made afresh from the items in memory:
    the number of words of each row, and of each word the rows and the occurrences.
    Outside a transaction (it attaches a database)."""
    conn.execute("ATTACH DATABASE ':memory:' AS search_check KEY ''")
    try:
        _create_index_table(conn, "search_check")
        conn.execute("BEGIN")  # one segment of the index, rather than one per statement
        try:
            fill_search(conn, "search_check")
        finally:
            conn.execute("COMMIT")
        sizes = [
            dict(conn.execute(f"SELECT id, sz FROM {db}.item_text_docsize").fetchall())  # noqa: S608
            for db in ("main", "search_check")
        ]
        words = []
        for db in ("main", "search_check"):
            conn.execute(
                f"CREATE VIRTUAL TABLE temp.search_words USING fts5vocab({db}, item_text, 'row')"
            )
            words.append(set(conn.execute("SELECT * FROM temp.search_words").fetchall()))
            conn.execute("DROP TABLE temp.search_words")
        counts = [
            set(conn.execute("SELECT kind, visible FROM item_counts WHERE visible != 0")),
            set(conn.execute("SELECT kind, count(*) FROM items WHERE visible = 1 GROUP BY kind")),
        ]
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.search_words")
        conn.execute("DETACH DATABASE search_check")
    dated = [r for r in dated_rows(conn) if r[1:3] != r[3:5]]
    kept, made = sizes
    differ = {r % ROWIDS for r in kept.keys() | made.keys() if kept.get(r) != made.get(r)}
    other = []
    if words[0] != words[1]:
        other.append(f"{len(words[0] ^ words[1])} word(s) indexed other than the items hold")
    other += [
        f"the count of visible {k} items" for k in sorted({k for k, _ in counts[0] ^ counts[1]})
    ]
    if dated:
        other.append(f"the date or status kept beside {len(dated)} item(s) for their list")
    return sorted(differ), other


def _create_search(conn: sqlite3.Connection) -> None:
    """What the web view reads the items through (node/projector.py keeps them): their
    order as the lists show them (newest first, then by id), the search index
    (node/search.py) and how many items of each kind are visible."""
    conn.execute("CREATE INDEX idx_items_list ON items (kind, visible, ts DESC, id)")
    _create_index_table(conn, "main")
    conn.execute("CREATE TABLE item_counts (kind TEXT PRIMARY KEY, visible INTEGER NOT NULL)")


def _create_index_table(conn: sqlite3.Connection, schema: str) -> None:
    """The search index (node/search.py), empty, in the database ``schema``: words and
    where they are, without the text (contentless), rows deleted by rowid, and an
    erased item's words removed at once (``secure-delete``)."""
    conn.execute(
        f"CREATE VIRTUAL TABLE {schema}.item_text USING fts5(text, content='', "
        f'contentless_delete=1, tokenize="{TOKENIZE}")'
    )
    conn.execute(
        f"INSERT INTO {schema}.item_text (item_text, rank) VALUES ('secure-delete', 1)"  # noqa: S608
    )
