"""What happens when: the dated entries of the collectives' work over a range of days,
for the web view's week and month (node/web/calendar.py) and the iCalendar feed
(node/ics.py).

Three kinds give entries: a shift's slots (with who is on each, and how many it still
needs), a meeting's dates and a plan's due date (a whole day, with no time). Each
entry keeps its own zone; the range is the viewer's: days ``first`` to ``last`` in the
viewer's zone, and an entry is in it when it starts in it (a plan, when its due date
is one of those days). The days are expanded by each kind's own rules (python-dateutil's
rrule: protocol/kinds/shift.py, protocol/kinds/meeting.py), which bound what one item
can cost; :data:`MAX_DAYS` bounds the range and :data:`MAX_ENTRIES` the whole.

Nothing here reads a clock or a disk: the same items and range give the same entries on
every machine with the same zone database.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time as TimeOfDay
from typing import Any

from protocol.kinds import meeting, plan, shift
from protocol.kinds.base import check_date

__all__ = [
    "COMING_WEEKS",
    "FIRST_DAY",
    "KINDS",
    "LAST_DAY",
    "MAX_DAYS",
    "MAX_ENTRIES",
    "PAST_WEEKS",
    "Entry",
    "Range",
    "entries",
    "might_show",
]

#: the kinds that have a place in the calendar
KINDS = ("shift", "meeting", "plan")
#: the longest range asked at once (a year and a week: the feed's default is less)
MAX_DAYS = 372
#: a feed's range by default: weeks back and ahead of today
PAST_WEEKS = 4
COMING_WEEKS = 26
#: the most entries one range gives; past it the range is cut short (``Range.cut``)
MAX_ENTRIES = 5000

_DAY = datetime.timedelta(days=1)
#: the days a range may hold: two days in from the calendar's edges (years 1 and 9999),
#: so that no zone's offset takes a day's bounds past them
FIRST_DAY = datetime.date(1, 1, 3)
LAST_DAY = datetime.date(9999, 12, 28)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing on one day: a shift's slot, a meeting, a plan's due date."""

    kind: str
    #: the item's id, hex
    item: str
    #: the collective that wrote it, hex
    author: str
    title: str
    #: the day it is on in its own zone (a plan: its due date)
    day: datetime.date
    #: when it starts and ends, aware, in its own zone; None for a whole day (a plan)
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    #: its zone's IANA name ("" for a whole day)
    zone: str = ""
    place: str = ""
    #: what a change of the clocks did to its times that day ("")
    note: str = ""
    #: a shift's people on that day, and how many it needs
    who: tuple[str, ...] = ()
    needed: int = 0
    tags: tuple[str, ...] = ()

    @property
    def short(self) -> int:
        """How many people a shift's slot still needs (0 for the rest)."""
        return max(0, self.needed - len(self.who))

    @property
    def all_day(self) -> bool:
        return self.start is None

    def key(self, viewer: datetime.tzinfo) -> tuple[Any, ...]:
        """Its place in a day's list in the viewer's zone: whole days first, then by
        when it starts."""
        if self.start is None:
            return (self.day, 0, "", self.kind, self.title, self.item)
        local = self.start.astimezone(viewer)
        return (local.date(), 1, local.isoformat(), self.kind, self.title, self.item)


@dataclass(frozen=True, slots=True)
class Range:
    """The entries of days ``first`` to ``last`` in the viewer's zone, in order."""

    first: datetime.date
    last: datetime.date
    entries: tuple[Entry, ...]
    #: whether the range held more than :data:`MAX_ENTRIES` (the latest were left out)
    cut: bool = False

    def on(self, day: datetime.date, viewer: datetime.tzinfo) -> list[Entry]:
        """The entries on ``day`` in the viewer's zone."""
        return [e for e in self.entries if _viewer_day(e, viewer) == day]

    def by_day(self, viewer: datetime.tzinfo) -> dict[datetime.date, list[Entry]]:
        """Every day's entries in the viewer's zone (:meth:`on` of each day), in order,
        found in one pass (a month's page asked :meth:`on` for each of its days)."""
        days: dict[datetime.date, list[Entry]] = {}
        for entry in self.entries:
            days.setdefault(_viewer_day(entry, viewer), []).append(entry)
        return days


def _viewer_day(entry: Entry, viewer: datetime.tzinfo) -> datetime.date:
    return entry.day if entry.start is None else entry.start.astimezone(viewer).date()


def _tags(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get("tags") or "").split())


def _shift_entries(
    row: Mapping[str, Any], first: datetime.date, last: datetime.date
) -> list[Entry]:
    taken: Mapping[str, Sequence[str]] = row.get("taken") or {}
    needed = str(row.get("needed") or "1")
    return [
        Entry(
            kind="shift",
            item=str(row["id"]),
            author=str(row.get("author") or ""),
            title=str(row.get("title") or ""),
            day=datetime.date.fromisoformat(o.slot),
            start=o.start,
            end=o.end,
            zone=str(row.get("zone") or ""),
            place=str(row.get("place") or ""),
            note=o.note,
            who=tuple(taken.get(o.slot, ())),
            needed=int(needed) if needed.isdecimal() and len(needed) < 4 else 1,
            tags=_tags(row),
        )
        for o in shift.occurrences(row, first, last)
    ]


def _meeting_entries(
    row: Mapping[str, Any], since: datetime.datetime, span: datetime.timedelta
) -> list[Entry]:
    return [
        Entry(
            kind="meeting",
            item=str(row["id"]),
            author=str(row.get("author") or ""),
            title=str(row.get("title") or ""),
            day=datetime.date.fromisoformat(o.day),
            start=o.start,
            zone=str(row.get("zone") or ""),
            place=str(row.get("place") or ""),
            tags=_tags(row),
        )
        for o in meeting.occurrences(row, since, span)
    ]


def _plan_entry(row: Mapping[str, Any], first: datetime.date, last: datetime.date) -> list[Entry]:
    due = str(row.get("due") or "")
    if not due or check_date(due) is not None:
        return []
    day = datetime.date.fromisoformat(due)
    if not first <= day <= last:
        return []
    return [
        Entry(
            kind="plan",
            item=str(row["id"]),
            author=str(row.get("author") or ""),
            title=str(row.get("title") or ""),
            day=day,
            tags=_tags(row),
        )
    ]


#: how far an item's own dates may lie from the viewer's days it shows on: a day each
#: side for the zones' offsets, and a day more for a night that ends the next day
_MARGIN = 2 * _DAY


@functools.lru_cache(maxsize=64)
def _widened(first: str, last: str) -> tuple[str, str] | None:
    """The days ``first`` to ``last`` with :data:`_MARGIN` each side (asked once for
    every item a store tests), or None when they are not dates."""
    try:
        low = datetime.date.fromisoformat(first) - _MARGIN
        high = datetime.date.fromisoformat(last) + _MARGIN
    except (ValueError, OverflowError):
        return None
    return low.isoformat(), high.isoformat()


def might_show(kind: str, values: Mapping[str, str], first: str, last: str) -> bool:
    """Whether an item of ``kind`` (its field values) can have an entry on days
    ``first`` to ``last`` (YYYY-MM-DD, as :func:`entries` is asked): a test of its
    dates alone, with a margin, so that a store gives :func:`entries` the few items a
    week or a month can hold rather than every plan, shift and meeting it has. True
    whenever it cannot tell (a value that is not a date)."""
    bounds = _widened(first, last)
    if bounds is None:
        return True
    low, high = bounds
    if kind == "plan":
        due = values.get("due") or ""
        return (values.get("status") or "open") in plan.OPEN and low <= due <= high
    begins = values.get("since" if kind == "shift" else "when", "")[:10]
    ends = values.get("until") or ""
    if kind == "meeting" and (values.get("repeat") or "none") == "none":
        ends = begins
    if check_date(begins) is not None or (ends and check_date(ends) is not None):
        return True
    return begins <= high and (not ends or ends >= low)


def entries(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    first: datetime.date,
    last: datetime.date,
    viewer: datetime.tzinfo,
) -> Range:
    """The entries of the items ``rows`` (kind -> its items' rows, as the projections
    give them) on days ``first`` to ``last`` in the ``viewer``'s zone (at most
    :data:`MAX_DAYS` days from ``first``), in order; a plan that is done or dropped has
    no due date to keep."""
    first = min(max(first, FIRST_DAY), LAST_DAY)
    last = min(max(last, first), LAST_DAY)
    if (last - first).days >= MAX_DAYS:
        last = first + datetime.timedelta(days=MAX_DAYS - 1)
    since = datetime.datetime.combine(first, TimeOfDay(), tzinfo=viewer)
    until = datetime.datetime.combine(last + _DAY, TimeOfDay(), tzinfo=viewer)
    since, until = since.astimezone(datetime.UTC), until.astimezone(datetime.UTC)
    found: list[Entry] = []
    for row in rows.get("shift", ()):
        # a day wider each side: a slot's own day differs from the viewer's by the zones
        found += (
            e
            for e in _shift_entries(row, first - _DAY, last + _DAY)
            if e.start is not None and since <= e.start < until
        )
    for row in rows.get("meeting", ()):
        found += _meeting_entries(row, since, until - since)
    for row in rows.get("plan", ()):
        if str(row.get("status") or "open") not in plan.OPEN:
            continue
        found += _plan_entry(row, first, last)
    found.sort(key=lambda e: e.key(viewer))
    return Range(first, last, tuple(found[:MAX_ENTRIES]), cut=len(found) > MAX_ENTRIES)
