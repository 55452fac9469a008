"""What the tests of search read of a store: the words its search index holds, item by
item, and a store of schema 5 taken back to what schema 4 or 3 left (tests/test_search.py,
tests/test_upgrade.py, tests/test_dated_lists.py)."""

from __future__ import annotations

from typing import Any

from node.search import ROWIDS
from node.store import Store


def indexed_words(store: Store) -> set[tuple[str, bytes, str, int]]:
    """(kind, item id, word, position) of every word the search index holds: what a
    rebuild must make again, whatever rowids the items get."""
    store.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.words USING fts5vocab(main, item_text, 'instance')"
    )
    try:
        rows = store.execute("SELECT term, doc, offset FROM temp.words")
    finally:
        store.execute("DROP TABLE temp.words")
    items = {
        int(rowid): (str(kind), bytes(item_id))
        for rowid, kind, item_id in store.execute("SELECT rowid, kind, id FROM items")
    }
    return {(*items[int(doc) % ROWIDS], str(term), int(offset)) for term, doc, offset in rows}


def has_word(store: Store, word: str) -> bool:
    """Whether the search index holds ``word`` (as its tokenizer folded it)."""
    store.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(main, item_text, 'row')"
    )
    try:
        return bool(store.execute("SELECT 1 FROM temp.terms WHERE term = ?", (word,)))
    finally:
        store.execute("DROP TABLE temp.terms")


def unparted(db: Any) -> None:
    """Take a store of schema 6 (a connection to it) back to what schema 5 left: the
    events found by an index by id alone, no part of the log beside each, the unreadable
    events without their author and seq."""
    db.execute("DROP INDEX idx_events_part_id")
    db.execute("ALTER TABLE events DROP COLUMN part")
    db.execute("CREATE UNIQUE INDEX idx_events_id ON events (id)")
    db.execute("ALTER TABLE unreadable DROP COLUMN author")
    db.execute("ALTER TABLE unreadable DROP COLUMN seq")


def undated(db: Any) -> None:
    """Take a store of schema 6 (a connection to it) back to what schema 4 left: no
    list keys beside the items, no index of the dated items (and none of schema 6's
    parts of the log)."""
    unparted(db)
    db.execute("DROP INDEX idx_items_dated")
    db.execute("ALTER TABLE items DROP COLUMN dated_key")
    db.execute("ALTER TABLE items DROP COLUMN open")


def unsearched(db: Any) -> None:
    """Take a store of schema 6 (a connection to it) back to what schema 3 left: no
    search index, no counts of visible items, the lists' index of before (and none of
    schema 5's list keys or schema 6's parts)."""
    undated(db)
    db.execute("DROP TABLE item_text")
    db.execute("DROP TABLE item_counts")
    db.execute("DROP INDEX idx_items_list")
    db.execute("CREATE INDEX idx_items_kind_visible_ts ON items (kind, visible, ts)")
