"""What the web view reads from the store: paged, searched and filtered in SQL.

The web view reads through its own connection to the store file, so a page never sees
a write half done, and it never writes. Item fields live inside the encoded item
state (node/projector.py), so two SQL functions read them where the query runs:
``web_field(state, name)`` (a field's current value) and ``web_text(state)`` (all of
an item's text, case-folded, for search). Every list is one ``LIMIT``/``OFFSET``
query and one ``count(*)`` over the same conditions, so a page of 50 costs the same
with 100 events as with 100,000, apart from a search, which reads each item once.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from node.service import Node
from node.store import Store
from protocol import hlc
from protocol.envelope import Event, decode_event
from protocol.kinds import KNOWN, POSTABLE
from protocol.kinds.base import COMING, NEWEST, OVERDUE, KindSpec, Listing
from protocol.projections import ItemState

PAGE_SIZE = 50
MS_PER_DAY = 86_400_000
#: 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday
_WEEK_SHIFT_DAYS = 3


@functools.lru_cache(maxsize=4096)
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


def _coming(state: bytes | None, kind: str, day: str) -> str:
    """When an item next takes place from ``day`` on (its listing's ``coming``), or ""."""
    spec = POSTABLE.get(kind)
    if state is None or spec is None or spec.listing.coming is None:
        return ""
    return spec.listing.coming(_values(bytes(state)), day)


def fold(text: str) -> str:
    """Text as search compares it: NFC (as stored) and case-folded."""
    return unicodedata.normalize("NFC", text).casefold()


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list is narrowed to; every field optional."""

    q: str = ""
    #: the author (a collective's node id)
    by: bytes | None = None
    #: event timestamps (docs/PROTOCOL.md §3.2) from ``since``, before ``until``
    since: int | None = None
    until: int | None = None
    kind: str = ""
    #: (field, value): a field with choices holds the value; another contains it
    fields: tuple[tuple[str, str], ...] = ()
    overdue: bool = False
    #: a list dated by a field (``Listing.dated_by``: a plan's due date): its dates
    #: (YYYY-MM-DD) from ``dated_from``, up to ``dated_to``
    dated_from: str = ""
    dated_to: str = ""
    sort: str = NEWEST
    page: int = 1

    def value(self, name: str) -> str:
        """What the list's field ``name`` is filtered to ("" for not at all)."""
        return next((v for k, v in self.fields if k == name), "")


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))


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


def day_start(day_ms: int) -> int:
    """The timestamp at the start of the day holding ``day_ms``."""
    return hlc.pack(day_ms - day_ms % MS_PER_DAY)


def week_of(ms: int) -> int:
    """The number of the week (from Monday) holding the moment ``ms``."""
    return (ms // MS_PER_DAY + _WEEK_SHIFT_DAYS) // 7


def week_start_ms(week: int) -> int:
    return (week * 7 - _WEEK_SHIFT_DAYS) * MS_PER_DAY


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
        a payload it cannot read (as ``Projector.unknown``, counted on the kind index)."""
        marks = ", ".join("?" * len(KNOWN))
        rows = self.store.execute(
            f"SELECT author, seq FROM events WHERE kind NOT IN ({marks}) "  # noqa: S608
            "UNION ALL SELECT e.author, e.seq FROM unreadable u JOIN events e ON e.id = u.id",
            sorted(KNOWN),
        )
        return sum(1 for author, seq in rows if counts(bytes(author), int(seq)))

    def kinds(self) -> list[str]:
        return [str(r[0]) for r in self.store.execute("SELECT DISTINCT kind FROM events")]

    def event(self, event_id: bytes) -> tuple[Event | None, bool]:
        """The event with this id, and whether it is fork evidence (not in the log)."""
        rows = self.store.execute("SELECT raw FROM events WHERE id = ?", (event_id,))
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
        rows = self.store.execute(
            f"SELECT raw FROM events WHERE {where.sql} ORDER BY rowid DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*where.params, PAGE_SIZE, offset),
        )
        return Page([decode_event(bytes(r[0])) for r in rows], total, filters.page)

    def weekly(self, first_week: int) -> dict[tuple[bytes, int], int]:
        """(author, week) -> events, for the weeks from ``first_week`` on."""
        since = hlc.pack(week_start_ms(first_week))
        rows = self.store.execute(
            "SELECT author, ((ts >> 16) / ? + ?) / 7 AS week, count(*) FROM events "
            "WHERE ts >= ? GROUP BY author, week",
            (MS_PER_DAY, _WEEK_SHIFT_DAYS, since),
        )
        return {(bytes(a), int(w)): int(n) for a, w, n in rows}

    # --- items ----------------------------------------------------------------------

    def items_page(self, spec: KindSpec, filters: Filters, today: str) -> Page:
        """Visible public items of one kind, narrowed and ordered as its listing says
        (protocol/kinds/base.py, :class:`Listing`). Each row is the item's fields plus
        ``id``, ``author``, ``ts`` and, for a listing with :data:`OVERDUE`,
        ``overdue``."""
        listing = spec.listing
        where = _Where()
        where.add("kind = ?", spec.name)
        where.add("visible = 1")
        self._common(where, filters)
        if filters.q:
            where.add("instr(web_text(state), ?) > 0", fold(filters.q))
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
        dated = listing.dated_by
        if dated:
            if filters.overdue:
                self._overdue(where, listing, today)
            if filters.dated_from:
                where.add("web_field(state, ?) >= ?", dated, filters.dated_from)
            if filters.dated_to:
                where.add("web_field(state, ?) BETWEEN '0' AND ?", dated, filters.dated_to)
        order, order_params = _order(spec, filters.sort, today)
        offset = (filters.page - 1) * PAGE_SIZE
        if filters.q or order_params:
            # Every item is read anyway (a search, or an order by a field): count in the
            # same pass, with a window over every match before LIMIT cuts the page out
            # (a page past the end has no row to carry the count: counted again).
            rows = self.store.execute(
                f"SELECT state, count(*) OVER () FROM items WHERE {where.sql} "  # noqa: S608
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                (*where.params, *order_params, PAGE_SIZE, offset),
            )
            total = int(rows[0][1]) if rows else self._count("items", where)
        else:
            # the index (kind, visible, ts) gives both the count and the page
            total = self._count("items", where)
            rows = self.store.execute(
                f"SELECT state, 0 FROM items WHERE {where.sql} "  # noqa: S608
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                (*where.params, PAGE_SIZE, offset),
            )
        dates_late = OVERDUE in listing.filters
        items = []
        for state, _ in rows:
            row = ItemState.decode(bytes(state)).as_row()
            if dates_late:
                row["overdue"] = listing.is_overdue(row, today)
            items.append(row)
        return Page(items, total, filters.page)

    @staticmethod
    def _overdue(where: _Where, listing: Listing, today: str) -> None:
        """Past its ``dated_by`` date and, if the listing says, still open."""
        where.add(
            "web_field(state, ?) != '' AND web_field(state, ?) < ?",
            listing.dated_by,
            listing.dated_by,
            today,
        )
        if listing.still_open is not None:
            name, values = listing.still_open
            marks = ", ".join("?" * len(values))
            where.add(f"web_field(state, ?) IN ({marks})", name, *values)

    def count_items(self, kind: str) -> int:
        rows = self.store.execute(
            "SELECT count(*) FROM items WHERE kind = ? AND visible = 1", (kind,)
        )
        return int(rows[0][0])

    def count_overdue(self, spec: KindSpec, today: str) -> int:
        """How many of a kind's visible items are overdue (0 unless it is dated)."""
        if not spec.listing.dated_by:
            return 0
        where = _Where()
        where.add("kind = ?", spec.name)
        where.add("visible = 1")
        self._overdue(where, spec.listing, today)
        return self._count("items", where)

    def latest_items(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` visible public items of one kind written, as rows (a kind
        with slots: each with its ``taken``)."""
        rows = self.store.execute(
            "SELECT state FROM items WHERE kind = ? AND visible = 1 ORDER BY ts DESC, id LIMIT ?",
            (kind, limit),
        )
        return [ItemState.decode(bytes(r[0])).as_row() for r in rows]

    def item(self, kind: str, item_id: bytes, *, visible: bool = False) -> dict[str, Any] | None:
        """One item as a row, or None; ``visible``: only if it is visible (not retracted
        by its author, not deleted)."""
        rows = self.store.execute(
            "SELECT state FROM items WHERE kind = ? AND id = ? AND visible >= ?",
            (kind, item_id, int(visible)),
        )
        return ItemState.decode(bytes(rows[0][0])).as_row() if rows else None

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


def _order(spec: KindSpec, sort: str, today: str = "") -> tuple[str, tuple[Any, ...]]:
    """The ORDER BY of a list and its parameters: by a field with choices in the
    choices' order, by another field's folded text; empty values last; then by the
    listing's date field, then newest first. :data:`NEWEST` (or a key the listing does
    not offer) is newest first, which the index gives without reading each item;
    :data:`COMING`, by when each item next takes place from ``today`` on."""
    listing = spec.listing
    if sort == COMING and listing.coming is not None:
        coming = "web_coming(state, ?, ?)"
        return f"{coming} = '', {coming}, ts DESC, id", (spec.name, today) * 2
    f = spec.field_named(sort) if sort in {k for k, _ in listing.sorts} else None
    if f is None:
        return "ts DESC, id", ()
    parts = ["web_field(state, ?) = ''"]
    params: list[Any] = [f.name]
    if f.choices:
        cases = " ".join("WHEN ? THEN ?" for _ in f.choices)
        parts.append(f"CASE web_field(state, ?) {cases} ELSE ? END")
        params.append(f.name)
        for i, choice in enumerate(f.choices):
            params += [choice, i]
        params.append(len(f.choices))
    else:  # a date sorts as it is written; other text, folded
        parts.append("web_field(state, ?)" if f.date else "web_fold(state, ?)")
        params.append(f.name)
    if listing.dated_by and listing.dated_by != f.name:
        parts += ["web_field(state, ?) = ''", "web_field(state, ?)"]
        params += [listing.dated_by, listing.dated_by]
    parts += ["ts DESC", "id"]
    return ", ".join(parts), tuple(params)


_IDS = frozenset(["id", "author"])


def filter_rows(rows: Sequence[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    """The same filters over private items, which only exist opened in memory."""
    wanted = fold(filters.q)
    out = []
    for row in rows:
        if filters.by is not None and row.get("author") != filters.by.hex():
            continue
        ts = int(row.get("ts") or 0)
        if filters.since is not None and ts < filters.since:
            continue
        if filters.until is not None and ts >= filters.until:
            continue
        if wanted:
            text = fold(
                "\n".join(v for k, v in row.items() if isinstance(v, str) and k not in _IDS)
            )
            if wanted not in text:
                continue
        out.append(row)
    return out


def page_of(rows: Sequence[dict[str, Any]], page: int) -> Page:
    start = (page - 1) * PAGE_SIZE
    return Page(list(rows[start : start + PAGE_SIZE]), len(rows), page)
