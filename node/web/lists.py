"""What a list of the web view is: its filters, its pages, and the weeks the activity
page counts by; the filters applied to private items, which exist only opened in
memory (public ones are filtered in SQL, node/web/data.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from node.search import fold
from protocol.kinds.base import NEWEST

__all__ = [
    "MS_PER_DAY",
    "PAGE_SIZE",
    "WEEK_SHIFT_DAYS",
    "Filters",
    "Page",
    "filter_rows",
    "page_of",
    "week_of",
    "week_start_ms",
]

PAGE_SIZE = 50
MS_PER_DAY = 86_400_000
#: 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday
WEEK_SHIFT_DAYS = 3


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


def week_of(ms: int) -> int:
    """The number of the week (from Monday) holding the moment ``ms``."""
    return (ms // MS_PER_DAY + WEEK_SHIFT_DAYS) // 7


def week_start_ms(week: int) -> int:
    return (week * 7 - WEEK_SHIFT_DAYS) * MS_PER_DAY


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
