"""What the web view reads from the store: paged, searched and filtered in SQL.

The web view reads through its own connection to the store file, so a page never sees
a write half done, and it never writes. Item fields live inside the encoded item
state (node/projector.py), so SQL functions read them where the query runs:
``web_field(state, name)`` (a field's current value) and ``web_coming`` (a
listing's own rule); what the lists of a dated kind (plans) sort and filter by most,
the date and whether the item is still to be done, is kept beside the item
(``dated_key``, ``open``: node/projector.py) with an index in that order. A search
asks the search index (``item_text``, node/search.py). What a page needs besides its
rows is read without reading every row: a kind's count of visible items is kept with the items
(``item_counts``), a list's page is found through the index of its order (it steps
over the rows before the page without reading them), the log's page by its rowid, the
activity's weeks from each author's count of events per day (``budget``), the log's
kinds along the kind index. So a page of 50 costs about the same with 100 events as
with 100,000; a search costs what the index holds of its words.

Why this module is long: every query of the web view is here (SQL lives in four modules
only, tests/test_layers.py), one method per kind of read, with what makes each fast at
100,000 events (the counts kept, the lists' index, the search index and its walk).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.search import (
    EXACT_TERMS,
    ROWIDS,
    TOKENIZE,
    exact_expression,
    fold,
    kind_base,
    match_expression,
    query_words,
)
from node.service import Node
from node.store import BY_ID, Store
from node.web.lists import PAGE_SIZE, WEEK_SHIFT_DAYS, Filters, Page
from protocol import calendar
from protocol.envelope import Event, decode_event
from protocol.kinds import KNOWN, POSTABLE
from protocol.kinds.base import COMING, LAST_KEY, NEWEST, OVERDUE, KindSpec
from protocol.projections import ItemState

#: unknown kinds looked up one by one on the kind index, at most (past them, the log is
#: read whole: a list of parameters has a limit)
MANY_KINDS = 100
#: a search that finds at most this many items reads each of them and sorts them; one
#: that finds more reads the index of the lists' order until its page is full (at
#: 100,000 reports: 58 matches 8 ms against 25, 758 matches 12 ms against 9)
FEW_MATCHES = 500
#: a search whose page lies within this many matches of either end of the list (its
#: first pages, its last ones) walks the list from that end, a chunk of items at a time,
#: asking the index which of each chunk match (:meth:`WebData._walk`), instead of
#: gathering every match first (about 35 ms for a word in all of 100,000 reports)
WALK_MATCHES = 2500
#: searches whose pages (and counts) are kept as read while the store is unchanged
#: (:meth:`Reader.items_page`)
KEPT_SEARCHES = 16
#: items of the list per step of that walk
WALK_CHUNK = 500
#: items of the list per step of a leap to a search's page further than that from
#: either end (:meth:`Reader._leap`)
LEAP_CHUNK = 2048
#: a chunk whose items' rowids spread over more than this many rows (items that arrived
#: far out of the order of their times) makes the index read too much: the walk gives up
WALK_SPREAD = 20 * WALK_CHUNK


#: items whose values (and next dates) are kept decoded between queries: more than a
#: large store's plans, meetings and shifts together, which the calendar reads each time
DECODED = 16384


@functools.lru_cache(maxsize=DECODED)
def _values(state: bytes) -> dict[str, str]:
    """An item's current field values, read straight from its stored state (written by
    :meth:`ItemState.encode`: ``[kind, id, author, ts, [[name, [value, ts, author]]],
    ...]``). The projection is this node's own, so the plain decoder is enough here and
    several times faster than the canonical one, which a search over 100,000 items
    notices."""
    try:
        fields = msgpack.unpackb(state, raw=False)[4]
        return {str(name): str(register[0]) for name, register in fields}
    except (ValueError, TypeError, IndexError, msgpack.UnpackException):
        return {}


def _field(state: bytes | None, name: str) -> str:
    return "" if state is None else _values(bytes(state)).get(name, "")


def _fold_field(state: bytes | None, name: str) -> str:
    return fold(_field(state, name))


def _text(state: bytes | None) -> str:
    return "" if state is None else fold("\n".join(_values(bytes(state)).values()))


def _row(state: bytes) -> dict[str, Any]:
    """An item as a row (:meth:`ItemState.as_row`) from its stored state, read with the
    plain decoder as :func:`_values` is (the canonical one took most of the time of a
    page that reads a few thousand items)."""
    kind, item_id, author, ts, fields, retracted_by, deleted = msgpack.unpackb(
        bytes(state), raw=False
    )
    registers = tuple((str(name), (r[0], r[1], r[2])) for name, r in fields)
    return ItemState(
        kind, item_id, author, ts, registers, tuple(retracted_by), bool(deleted)
    ).as_row()


#: items kept as rows between queries (:func:`_kept_row`): a list's page and the
#: shifts whose coming slots a list shows (node/web/pages.py, at most 500)
KEPT_ROWS = 1024


@functools.lru_cache(maxsize=KEPT_ROWS)
def _decoded_row(state: bytes) -> dict[str, Any]:
    return _row(state)


def _kept_row(state: bytes) -> dict[str, Any]:
    """:func:`_row`, decoded once for the same state (the same items are asked for on
    every page until they change); a copy, which the caller may change."""
    return dict(_decoded_row(bytes(state)))


def _in_calendar(state: bytes | None, kind: str, first: str, last: str) -> bool:
    return state is not None and calendar.might_show(kind, _values(bytes(state)), first, last)


@functools.lru_cache(maxsize=DECODED)
def _coming(state: bytes | None, kind: str, day: str) -> str:
    """When an item next takes place from ``day`` on (its listing's ``coming``), or ""."""
    spec = POSTABLE.get(kind)
    if state is None or spec is None or spec.listing.coming is None:
        return ""
    return spec.listing.coming(_values(bytes(state)), day)


@dataclass
class _Where:
    parts: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1"


class Reader:
    """The web view's read-only queries, on its own connection."""

    def __init__(self, node: Node) -> None:
        self.node = node
        path = node.store.path
        self._own = str(path) != ":memory:"
        key = node.home.store_key if node.store.encrypted else None  # as the node's
        self.store = Store(path, key) if self._own else node.store
        conn = self.store.conn
        conn.create_function("web_field", 2, _field, deterministic=True)
        conn.create_function("web_fold", 2, _fold_field, deterministic=True)
        conn.create_function("web_text", 1, _text, deterministic=True)
        conn.create_function("web_coming", 3, _coming, deterministic=True)
        conn.create_function("web_calendar", 4, _in_calendar, deterministic=True)
        #: searches' pages and counts as last read, by the store's state and what was
        #: asked (:meth:`items_page`, :meth:`_matches`), the most recent last
        self._searched: dict[tuple[Any, ...], Page] = {}
        self._counted: dict[tuple[Any, ...], int] = {}
        #: whether this connection's tables for splitting a search into the index's
        #: words are made (:meth:`_word_tables`)
        self._tokenizer = False

    def close(self) -> None:
        if self._own:
            self.store.close()

    # --- the log --------------------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        """Grows whenever the log does: (last event row, fork evidence kept)."""
        row = self.store.execute(
            "SELECT coalesce((SELECT max(rowid) FROM events), 0), (SELECT count(*) FROM forks)"
        )[0]
        return int(row[0]), int(row[1])

    def count_events(self) -> int:
        return self.store.count()

    def held(self) -> int:
        return self.store.held_count()

    def heads(self) -> dict[bytes, tuple[int, int]]:
        """author -> (last seq, its timestamp)."""
        return {a: (h.seq, h.ts) for a, h in self.store.heads().items()}

    def unknown(self, counts: Callable[[bytes, int], bool]) -> int:
        """Counted events this version cannot show: of a kind it does not know, or with
        a payload it cannot read (as ``Projector.unknown``, found on the kind index)."""
        unknown = [k for k in self.kinds() if k not in KNOWN]
        # a peer may write many kinds: past a few, every event's kind is read instead
        kinds, test = (unknown, "IN") if len(unknown) <= MANY_KINDS else (sorted(KNOWN), "NOT IN")
        marks = ", ".join("?" * len(kinds))
        rows = self.store.execute(
            f"SELECT author, seq FROM events WHERE kind {test} ({marks}) "  # noqa: S608
            "UNION ALL SELECT author, seq FROM unreadable WHERE author IS NOT NULL",
            kinds,
        )
        return sum(1 for author, seq in rows if counts(bytes(author), int(seq)))

    def kinds(self) -> list[str]:
        """The kinds of the stored events: one step along the kind index each (a log
        holds a few kinds, and reading each event's would read the whole log)."""
        found: list[str] = []
        while True:
            after = found[-1] if found else ""
            row = self.store.execute("SELECT min(kind) FROM events WHERE kind > ?", (after,))
            if row[0][0] is None:
                return found
            found.append(str(row[0][0]))

    def event(self, event_id: bytes) -> tuple[Event | None, bool]:
        """The event with this id, and whether it is fork evidence (not in the log)."""
        rows = self.store.execute(f"SELECT raw FROM events WHERE {BY_ID}", (event_id,))  # noqa: S608
        if rows:
            return decode_event(bytes(rows[0][0])), False
        rows = self.store.execute("SELECT raw FROM forks WHERE id = ?", (event_id,))
        return (decode_event(bytes(rows[0][0])), True) if rows else (None, False)

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        return self.store.id_at(author, seq)

    def events_page(self, filters: Filters) -> Page:
        """Stored events, the last received first."""
        where = _Where()
        if filters.kind:
            where.add("kind = ?", filters.kind)
        self._common(where, filters)
        total = self._count("events", where)
        offset = (filters.page - 1) * PAGE_SIZE
        if not where.parts:
            # The whole log: nothing is deleted from it, so its rowids run without a gap
            # and a page begins at a rowid known from its number, rather than after
            # stepping over every event before it.
            low, high = self.store.execute(
                "SELECT (SELECT min(rowid) FROM events), (SELECT max(rowid) FROM events)"
            )[0]
            if high is not None and high - low + 1 == total:
                where.add("rowid <= ?", high - offset)
                offset = 0
        rows = self.store.execute(
            f"SELECT raw FROM events WHERE {where.sql} ORDER BY rowid DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*where.params, PAGE_SIZE, offset),
        )
        return Page([decode_event(bytes(r[0])) for r in rows], total, filters.page)

    def weekly(self, first_week: int) -> dict[tuple[bytes, int], int]:
        """(author, week) -> events, for the weeks from ``first_week`` on: the sums of
        the days of the ``budget`` table, which counts each author's events in the log
        per day of their timestamps (docs/PROTOCOL.md §4.6), rather than every event."""
        rows = self.store.execute(
            "SELECT author, (day + ?) / 7 AS week, sum(events) FROM budget "
            "WHERE day >= ? GROUP BY author, week",
            (WEEK_SHIFT_DAYS, first_week * 7 - WEEK_SHIFT_DAYS),
        )
        return {(bytes(a), int(w)): int(n) for a, w, n in rows}

    # --- items ----------------------------------------------------------------------

    def items_page(self, spec: KindSpec, filters: Filters, today: str) -> Page:
        """Visible public items of one kind, narrowed and ordered as its listing says
        (protocol/kinds/base.py, :class:`Listing`). Each row is the item's fields plus
        ``id``, ``author``, ``ts`` and, for a listing with :data:`OVERDUE`,
        ``overdue``.

        A search's page is kept as read (the last :data:`KEPT_SEARCHES`) until another
        connection writes to the store (:meth:`_store_version`): asked again, as a
        reload, a way back or a language switch does, it costs no query."""
        if filters.q and match_expression(filters.q) is not None:
            key = (self._store_version(), spec.name, filters, today)
            page = self._searched.pop(key, None) if key[0] is not None else None
            if page is None:
                page = self._items_page(spec, filters, today)
            if key[0] is not None:
                self._searched[key] = page
                while len(self._searched) > KEPT_SEARCHES:
                    del self._searched[next(iter(self._searched))]
            # rows the caller may change: a copy of each
            return Page([dict(r) for r in page.rows], page.total, page.page)
        return self._items_page(spec, filters, today)

    def _items_page(self, spec: KindSpec, filters: Filters, today: str) -> Page:
        """:meth:`items_page`, read from the store.

        A search asks the search index (node/search.py) for the items holding its
        words; counting them costs the index alone, and the page is read through the
        index of the lists' order (newest first) when they are many, or by looking
        each one up and sorting them when they are few."""
        where = _Where()
        where.add("kind = ?", spec.name)
        where.add("visible = 1")
        self._common(where, filters)
        self._fields(where, spec, filters, today)
        narrowed = len(where.parts) > 2
        expression = self._expression(filters.q) if filters.q else None
        total: int | None = None
        offset = (filters.page - 1) * PAGE_SIZE
        if expression is not None:
            base = kind_base(spec.name)
            top: list[int] | None = None
            if not narrowed:
                counted = self._count_key(expression, base)
                total = self._kept_count(counted)
                if total is None and offset < FEW_MATCHES:
                    # A first look at the newest matches: when they are few, that is
                    # every one of them, counted and looked up by rowid without asking
                    # the index again (a word's start costs it its merged list each
                    # time, 15 ms for a word in every report); when they are many, the
                    # walk from the newest end reads them rather than the index.
                    top = self._top(expression, base)
                    if len(top) <= FEW_MATCHES:
                        total = self._keep_count(counted, len(top))
                if total is None:
                    total = self._keep_count(counted, self._matches(expression, base))
                if filters.sort in ("", NEWEST):
                    walked = self._search_page(spec.name, expression, base, total, offset, top=top)
                    if walked is not None:
                        return self._page(spec, walked, total, filters.page, today)
            if top is not None and len(top) == total:  # every match at hand
                where.add(f"rowid IN ({', '.join('?' * len(top))})", *top)
            else:
                where.add(
                    "rowid IN (SELECT rowid - ? FROM item_text "
                    "WHERE item_text MATCH ? AND rowid BETWEEN ? AND ?)",
                    base,
                    expression,
                    base,
                    base + ROWIDS - 1,
                )
        elif filters.q:  # no word to look for: as a substring, item by item
            where.add("instr(web_text(state), ?) > 0", fold(filters.q))
        elif not narrowed:
            total = self.count_items(spec.name)
        order, order_params, index = _order(spec, filters.sort, today)
        if index == DATED_INDEX:
            # the dated items' index holds only items with a date key: every item of a
            # dated kind has one (node/projector.py), and saying so lets it be used
            where.add("dated_key IS NOT NULL")
        if order_params and total is not None and not filters.q:
            # An order worked out item by item (a meeting's next date, a shift's title)
            # of a kind's every item, whose count is kept: the items sorted by their
            # rowids alone (a window counting them would work the order out twice, and
            # the sorter would carry every state), then the page's states.
            rowids = [
                r[0]
                for r in self.store.execute(
                    f"SELECT rowid FROM items WHERE {where.sql} "  # noqa: S608
                    f"ORDER BY {order} LIMIT ? OFFSET ?",
                    (*where.params, *order_params, PAGE_SIZE, offset),
                )
            ]
            return self._page(spec, self._states(rowids), total, filters.page, today)
        if order_params or (filters.q and expression is None):
            # Every item is read anyway (an order by a field, or a search item by item):
            # count in the same pass, with a window over every match before LIMIT cuts
            # the page out (a page past the end has no row to carry the count: counted
            # again).
            rows = self.store.execute(
                f"SELECT state, count(*) OVER () FROM items WHERE {where.sql} "  # noqa: S608
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                (*where.params, *order_params, PAGE_SIZE, offset),
            )
            total = int(rows[0][1]) if rows else self._count("items", where)
        else:
            if total is None:
                total = self._count("items", where)
            # newest first, or by a dated kind's date: through the index in that order
            # (it skips the rows before the page without reading them), unless a
            # search found few items
            few = expression is not None and total <= FEW_MATCHES
            through = "NOT INDEXED" if few else f"INDEXED BY {index}"
            rows = self.store.execute(
                f"SELECT state, 0 FROM items {through} "  # noqa: S608
                f"WHERE {where.sql} ORDER BY {order} LIMIT ? OFFSET ?",
                (*where.params, PAGE_SIZE, offset),
            )
        return self._page(spec, [state for state, _ in rows], total, filters.page, today)

    def _page(self, spec: KindSpec, states: list[bytes], total: int, page: int, today: str) -> Page:
        listing = spec.listing
        dates_late = OVERDUE in listing.filters
        items = []
        for state in states:
            row = _kept_row(state)
            if dates_late:
                row["overdue"] = listing.is_overdue(row, today)
            items.append(row)
        return Page(items, total, page)

    def _states(self, rowids: list[int]) -> list[bytes]:
        """The states of the items at these rowids, in their order."""
        if not rowids:
            return []
        marks = ", ".join("?" * len(rowids))
        found = dict(
            self.store.execute(
                f"SELECT rowid, state FROM items WHERE rowid IN ({marks})",  # noqa: S608
                rowids,
            )
        )
        return [found[r] for r in rowids if r in found]

    def _search_page(
        self,
        kind: str,
        expression: str,
        base: int,
        total: int,
        offset: int,
        *,
        top: list[int] | None = None,
    ) -> list[bytes] | None:
        """A page of a search newest first, with nothing else narrowing it, that finds
        ``total`` items of ``kind`` (its rows in the index from ``base``; ``top``, when
        read already, the rowids of its matches with the highest rowids, as
        :meth:`_top` gives them), when they are many and the page is near either end of
        the list: the states of its items; None when another way is cheaper."""
        if total <= FEW_MATCHES or offset >= total:
            return None
        if offset <= total - offset - PAGE_SIZE:  # nearer the newest end
            skip, want, newest = offset, PAGE_SIZE, True
        else:  # nearer the oldest: the page read backwards from there
            skip = max(0, total - offset - PAGE_SIZE)
            want, newest = min(PAGE_SIZE, total - offset), False
        start: tuple[Any, ...] | None = None
        if skip > WALK_MATCHES:
            leapt = self._leap(kind, expression, base=base, skip=skip, newest=newest)
            if leapt is None:
                return None
            start, skip = leapt
        rowids = self._walk(
            kind,
            expression,
            base=base,
            skip=skip,
            want=want,
            newest=newest,
            top=top if newest else None,
            cursor=start,
        )
        if rowids is None:
            return None
        if not newest:
            rowids.reverse()
        return self._states(rowids)

    def _leap(
        self, kind: str, expression: str, *, base: int, skip: int, newest: bool
    ) -> tuple[tuple[Any, ...] | None, int] | None:
        """Where a walk to the page ``skip`` matches from an end of the list (its newest
        or its oldest) may begin, and how many matches it has left to skip: past steps
        of :data:`LEAP_CHUNK` items of the list whose matches are fewer than those to
        skip, each counted by the index over its range of rowids, with no row read in
        Python. That count is the step's only when no other item of the kind has a rowid
        in that range: the index holds a row for each visible item of the kind, so its
        rows in the range are counted too (its table of rows, by rowid). None when they
        are more (items that arrived far out of the order of their times)."""
        order, after = _list_order(newest)
        upto = "ts >= ? AND (ts > ? OR id <= ?)" if newest else "ts <= ? AND (ts < ? OR id >= ?)"
        cursor: tuple[Any, ...] | None = None
        while True:
            where = f"kind = ? AND visible = 1 {'AND ' + after if cursor else ''}"
            params = (kind, *(cursor or ()))
            # the step's last item, then its count and range of rowids up to it
            rows = self.store.execute(
                f"SELECT ts, id FROM items INDEXED BY idx_items_list WHERE {where} "  # noqa: S608
                f"ORDER BY {order} LIMIT 1 OFFSET ?",
                (*params, LEAP_CHUNK - 1),
            )
            if not rows:  # the list's end: the walk reads the rest
                return cursor, skip
            ts, item_id = rows[0]
            n, low, high = self.store.execute(
                "SELECT count(*), min(rowid), max(rowid) FROM items "  # noqa: S608
                f"INDEXED BY idx_items_list WHERE {where} AND {upto}",
                (*params, ts, ts, item_id),
            )[0]
            rows = self.store.execute(
                "SELECT count(*) FROM item_text_docsize WHERE id BETWEEN ? AND ?",
                (base + low, base + high),
            )
            if n != LEAP_CHUNK or rows[0][0] != n:
                return None
            matches = self._matches(expression, base + low, base + high)
            if matches > skip:
                return cursor, skip
            cursor = (ts, ts, item_id)
            skip -= matches

    def _walk(
        self,
        kind: str,
        expression: str,
        *,
        base: int,
        skip: int,
        want: int,
        newest: bool,
        top: list[int] | None = None,
        cursor: tuple[Any, ...] | None = None,
    ) -> list[int] | None:
        """The rowids of the visible items of ``kind`` that the search index finds for
        ``expression``, in the lists' order from its newest end (or its oldest), past the
        first ``skip`` of them, at most ``want``: the list is read along its index a
        chunk at a time (its rowids only), and the index asked which of the chunk's
        range of rowids it holds, unless ``top`` (the matches of the highest rowids,
        highest first: every match from its last one up) holds that range already;
        from ``cursor`` on (as :meth:`_leap` gives it), or from the end. None when a
        chunk's rowids spread too far apart."""
        order, after = _list_order(newest)
        found: list[int] = []
        while len(found) < want:
            rows = self.store.execute(
                "SELECT rowid, ts, id FROM items INDEXED BY idx_items_list "  # noqa: S608
                f"WHERE kind = ? AND visible = 1 {'AND ' + after if cursor else ''} "
                f"ORDER BY {order} LIMIT ?",
                (kind, *(cursor or ()), WALK_CHUNK),
            )
            if not rows:
                break
            low, high = min(r[0] for r in rows), max(r[0] for r in rows)
            if high - low > WALK_SPREAD:
                return None
            if top and low >= top[-1]:
                held = {r for r in top if low <= r <= high}
            else:
                held = {
                    int(r[0]) - base
                    for r in self.store.execute(
                        "SELECT rowid FROM item_text WHERE item_text MATCH ? "
                        "AND rowid BETWEEN ? AND ?",
                        (expression, base + low, base + high),
                    )
                }
            for rowid, _, _ in rows:
                if rowid in held:
                    if skip:
                        skip -= 1
                    else:
                        found.append(int(rowid))
                        if len(found) == want:
                            break
            last = rows[-1]
            cursor = (last[1], last[1], last[2])
        return found

    def _fields(self, where: _Where, spec: KindSpec, filters: Filters, today: str) -> None:
        """The filters of a kind's listing by its fields and by its date field."""
        for name, value in filters.fields:
            f = spec.field_named(name)
            if f is None or not value:
                continue
            if f.choices:
                where.add("web_field(state, ?) = ?", name, value)
            elif f.many:  # one of its words: a tag, whole
                where.add(
                    "instr(' ' || web_fold(state, ?) || ' ', ?) > 0", name, f" {fold(value)} "
                )
            else:
                where.add("instr(web_fold(state, ?), ?) > 0", name, fold(value))
        listing = spec.listing
        dated = listing.dated_by
        if dated:
            # by the date key and the "still to do" kept beside each item of a dated
            # kind (node/projector.py): an item without a date has LAST_KEY, after
            # every day
            if filters.overdue:
                where.add("dated_key < ? AND open = 1", today)
            if filters.dated_from:
                where.add("dated_key >= ? AND dated_key < ?", filters.dated_from, LAST_KEY)
            if filters.dated_to:
                where.add("dated_key BETWEEN '0' AND ?", filters.dated_to)

    def _matches(self, expression: str, base: int, last: int | None = None) -> int:
        """How many items of the kind whose rows begin at ``base`` the search index finds
        for ``expression`` (node/search.py); with ``last``, of its rows from ``base`` to
        ``last`` only."""
        rows = self.store.execute(
            "SELECT count(*) FROM item_text WHERE item_text MATCH ? AND rowid BETWEEN ? AND ?",
            (expression, base, base + ROWIDS - 1 if last is None else last),
        )
        return int(rows[0][0])

    def _expression(self, query: str) -> str | None:
        """The index query for a search (node/search.py :func:`exact_expression`): each
        of its words that the index's tokenizer keeps whole asked as the index's words
        it begins, when they are at most :data:`EXACT_TERMS`; None when it holds no
        word. On an in-memory store (the node's own connection) as it is typed."""
        words = query_words(query)
        if not words or not self._own:
            return match_expression(query)
        tokens = self._tokens(words)
        return exact_expression(words, [self._begun(t[0]) if len(t) == 1 else None for t in tokens])

    def _tokens(self, words: list[str]) -> list[list[str]]:
        """Each word as the index's tokenizer splits it (a word in a table of this
        connection's own temporary database, with the index's tokenizer, and read back
        from its words)."""
        self._word_tables()
        self.store.execute_many(
            "INSERT INTO temp.search_words (rowid, text) VALUES (?, ?)", list(enumerate(words))
        )
        try:
            tokens: list[list[str]] = [[] for _ in words]
            for doc, term in self.store.execute(
                "SELECT doc, term FROM temp.search_word_terms ORDER BY doc, offset"
            ):
                tokens[int(doc)].append(str(term))
        finally:
            self.store.execute("DELETE FROM temp.search_words")
        return tokens

    def _word_tables(self) -> None:
        """This connection's own tables (in its temporary database, in memory: nothing
        of a search is written to the store or to a file) for reading a search as the
        index's words: a table with the index's tokenizer to split it, its words, and
        the index's words (made once)."""
        if self._tokenizer:
            return
        for sql in (
            "PRAGMA temp_store = MEMORY",
            f'CREATE VIRTUAL TABLE temp.search_words USING fts5(text, tokenize="{TOKENIZE}")',
            "CREATE VIRTUAL TABLE temp.search_word_terms "
            "USING fts5vocab(temp, search_words, 'instance')",
            "CREATE VIRTUAL TABLE temp.index_terms USING fts5vocab(main, item_text, 'instance')",
        ):
            self.store.execute(sql)
        self._tokenizer = True

    def _begun(self, token: str) -> list[str] | None:
        """The index's words that begin with ``token``, in order; None when they are more
        than :data:`EXACT_TERMS`. Each is a step along the index's words (the next one
        from a place: FTS5 seeks it), not a read of its list."""
        self._word_tables()
        terms: list[str] = []
        after = token
        for _ in range(EXACT_TERMS + 1):
            rows = self.store.execute(
                "SELECT term FROM temp.index_terms WHERE term >= ? LIMIT 1", (after,)
            )
            if not rows or not str(rows[0][0]).startswith(token):
                return terms
            terms.append(str(rows[0][0]))
            after = terms[-1] + "\x01"  # just after it: no word of the index holds \x01
        return None

    def _top(self, expression: str, base: int) -> list[int]:
        """The rowids (in ``items``) of the :data:`FEW_MATCHES` + 1 items of the kind
        whose rows begin at ``base`` that the search index finds for ``expression``
        with the highest rowids, highest first: every match from the last one up."""
        rows = self.store.execute(
            "SELECT rowid FROM item_text WHERE item_text MATCH ? AND rowid BETWEEN ? AND ? "
            "ORDER BY rowid DESC LIMIT ?",
            (expression, base, base + ROWIDS - 1, FEW_MATCHES + 1),
        )
        return [int(r[0]) - base for r in rows]

    # A search's count is kept, as :meth:`items_page` keeps its pages, while the store
    # is unchanged: every page of a search shows it, and a word in most items costs the
    # index tens of ms to count (it reads each match). The key is taken before the
    # count is read: a write in between makes it one the next request does not ask.

    def _count_key(self, expression: str, base: int) -> tuple[Any, ...] | None:
        version = self._store_version()
        return None if version is None else (version, expression, base)

    def _kept_count(self, key: tuple[Any, ...] | None) -> int | None:
        return None if key is None else self._counted.get(key)

    def _keep_count(self, key: tuple[Any, ...] | None, total: int) -> int:
        if key is not None:
            self._counted.pop(key, None)
            self._counted[key] = total
            while len(self._counted) > KEPT_SEARCHES:
                del self._counted[next(iter(self._counted))]
        return total

    def _store_version(self) -> int | None:
        """What the kept searches are keyed by: SQLite's ``data_version`` of this
        connection, which changes whenever another one commits to the file (the node
        storing events, the items catching up, a rebuild, another process); None when
        this reader shares the node's own connection (an in-memory store), whose
        writes it would not see change."""
        return self.store.data_version() if self._own else None

    def count_items(self, kind: str) -> int:
        """A kind's visible items, as the projector counts them with the items."""
        rows = self.store.execute("SELECT visible FROM item_counts WHERE kind = ?", (kind,))
        return int(rows[0][0]) if rows else 0

    def count_overdue(self, spec: KindSpec, today: str) -> int:
        """How many of a kind's visible items are overdue (0 unless it is dated)."""
        if not spec.listing.dated_by:
            return 0
        where = _Where()
        where.add("kind = ?", spec.name)
        where.add("visible = 1")
        where.add("dated_key < ? AND open = 1", today)  # the dated items' index alone
        return self._count("items", where)

    def latest_items(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` visible public items of one kind written, as rows (a kind
        with slots: each with its ``taken``)."""
        rows = self.store.execute(
            "SELECT state FROM items WHERE kind = ? AND visible = 1 ORDER BY ts DESC, id LIMIT ?",
            (kind, limit),
        )
        return [_kept_row(r[0]) for r in rows]

    def item(self, kind: str, item_id: bytes, *, visible: bool = False) -> dict[str, Any] | None:
        """One item as a row, or None; ``visible``: only if it is visible (not retracted
        by its author, not deleted)."""
        rows = self.store.execute(
            "SELECT state FROM items WHERE kind = ? AND id = ? AND visible >= ?",
            (kind, item_id, int(visible)),
        )
        return _row(rows[0][0]) if rows else None

    def calendar_rows(self, first: str, last: str) -> dict[str, list[dict[str, Any]]]:
        """The public items of each calendar kind that can have an entry on days
        ``first`` to ``last`` (protocol/calendar.py :func:`might_show`), as rows."""
        out: dict[str, list[dict[str, Any]]] = {}
        for kind in calendar.KINDS:
            rows = self.store.execute(
                "SELECT state FROM items WHERE kind = ? AND visible = 1 "
                "AND web_calendar(state, ?, ?, ?) ORDER BY ts, author, id",
                (kind, kind, first, last),
            )
            out[kind] = [_row(r[0]) for r in rows]
        return out

    # --- helpers --------------------------------------------------------------------

    def _common(self, where: _Where, filters: Filters) -> None:
        if filters.by is not None:
            where.add("author = ?", filters.by)
        if filters.since is not None:
            where.add("ts >= ?", filters.since)
        if filters.until is not None:
            where.add("ts < ?", filters.until)

    def _count(self, table: str, where: _Where) -> int:
        rows = self.store.execute(
            f"SELECT count(*) FROM {table} WHERE {where.sql}",  # noqa: S608 - fixed names
            where.params,
        )
        return int(rows[0][0])


def _list_order(newest: bool) -> tuple[str, str]:
    """The lists' order from their newest end (or their oldest), and the test of an item
    after a cursor (ts, ts, id) in it: its time first on its own, which the index of the
    lists' order seeks to (with only ``ts < ? OR (ts = ? AND id > ?))`` it read the
    list from its end each time: 28 ms a step of 500 in the middle of 93,600)."""
    if newest:
        return "ts DESC, id", "ts <= ? AND (ts < ? OR id > ?)"
    return "ts, id DESC", "ts >= ? AND (ts > ? OR id < ?)"


#: a key after every text: the last code point
_LAST = "char(1114111)"


#: the index of the lists newest first, and of the dated kinds' items by date
#: (node/schema.py)
LIST_INDEX = "idx_items_list"
DATED_INDEX = "idx_items_dated"


def _order(spec: KindSpec, sort: str, today: str = "") -> tuple[str, tuple[Any, ...], str]:
    """The ORDER BY of a list, its parameters, and the index that holds the items in
    that order ("" for none: each item is read): by a field with choices in the
    choices' order, by another field's folded text; empty values last; then by the
    listing's date field, then newest first. :data:`NEWEST` (or a key the listing does
    not offer) is newest first, which the index gives without reading each item, and
    so is the listing's date field (its key kept beside the item, empty last:
    ``Listing.date_key``); :data:`COMING`, by when each item next takes place from
    ``today`` on."""
    listing = spec.listing
    if sort == COMING and listing.coming is not None:
        # one call an item: "~" sorts after every date, so those not coming are last
        return (
            "coalesce(nullif(web_coming(state, ?, ?), ''), '~'), ts DESC, id",
            (spec.name, today),
            "",
        )
    f = spec.field_named(sort) if sort in {k for k, _ in listing.sorts} else None
    if f is None:
        return "ts DESC, id", (), LIST_INDEX
    if f.name == listing.dated_by and f.date:
        return "dated_key, ts DESC, id", (), DATED_INDEX
    # one call of a field an item (each costs a few µs in Python, for every item): an
    # empty value is given a key after every other
    params: list[Any] = [f.name]
    if f.choices:
        cases = " ".join("WHEN ? THEN ?" for _ in f.choices)
        parts = [f"CASE web_field(state, ?) {cases} WHEN '' THEN ? ELSE ? END"]
        for i, choice in enumerate(f.choices):
            params += [choice, i]
        params += [len(f.choices) + 1, len(f.choices)]
    else:  # a date sorts as it is written; other text, folded
        read = "web_field" if f.date else "web_fold"
        parts = [f"coalesce(nullif({read}(state, ?), ''), {_LAST})"]
    if listing.dated_by:  # kept beside the item as coalesce(nullif(date, ''), LAST)
        parts.append("dated_key")
    parts += ["ts DESC", "id"]
    return ", ".join(parts), tuple(params), ""
