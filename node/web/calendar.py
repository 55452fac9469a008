"""The calendar: a week or a month of shifts, meetings and plans' due dates
(``/calendar``), and the same as an iCalendar feed (``/calendar.ics``) for a calendar
app to subscribe to.

A day of the month shows its first :data:`MONTH_DAY_ENTRIES` entries and a link to its
week for the rest; the week shows them all.

The page is in the viewer's time zone: this machine's, or the one chosen on the page
(``?zone=America/El_Salvador``); an entry whose own zone says another time than the
viewer's shows that too ("10:00 America/El_Salvador"). The week begins on Monday; the
month shows the weeks that hold its days. Day and month names come from the locale's
CLDR data (Babel). Private items this node can open show on the page (opened in memory,
as on the lists), never in the feed (node/ics.py).

``/calendar.ics`` takes the owner's cookie like every page, or its own key in the
address (``?feed=``): a calendar app cannot hold a cookie. The key is kept in
``NODE_HOME/calendar-token`` (0600, node/web/access.py) and shown on the page to its
owner; whoever has the address reads the feed, so the page says so and how to change it.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from aiohttp import web
from babel import dates as babel_dates

from node import ics
from node.web import access
from node.web.state import CALENDAR_PAGES
from node.web.view import View
from protocol import calendar
from protocol.calendar import Entry
from protocol.kinds.zones import zone_of

WEEK = "week"
MONTH = "month"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DAY = datetime.timedelta(days=1)
#: the days a page may be about: its weeks and month stay inside the calendar (years 1
#: to 9999; 0001-01-01 is a Monday, and 9999-11-30's month ends in 9999's December)
FIRST_PAGE_DAY = datetime.date(1, 1, 1)
LAST_PAGE_DAY = datetime.date(9999, 11, 30)
#: entries a day of the month shows; the rest are "N more", a link to its week (as
#: calendar apps do: a day of twenty entries in a month's cell is read by no one)
MONTH_DAY_ENTRIES = 4


def viewer_zone(given: str) -> tuple[datetime.tzinfo, str, bool]:
    """The zone the page is in: the one ``given`` (an IANA name this machine knows) or
    this machine's; its name ("" for this machine's), and whether ``given`` was refused."""
    given = given.strip()[:64]
    zone = zone_of(given) if given else None
    if zone is not None:
        return zone, given, False
    return ics.machine_zone(), "", bool(given)


def period(view: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day the page shows: the week (Monday to Sunday) of ``day``,
    or the weeks that hold its month."""
    if view == MONTH:
        first_of_month = day.replace(day=1)
        next_month = (first_of_month + datetime.timedelta(days=32)).replace(day=1)
        first = first_of_month - datetime.timedelta(days=first_of_month.weekday())
        last_of_month = next_month - _DAY
        last = last_of_month + datetime.timedelta(days=6 - last_of_month.weekday())
        return first, last
    first = day - datetime.timedelta(days=day.weekday())
    return first, first + datetime.timedelta(days=6)


def _moved(view: str, day: datetime.date, step: int) -> datetime.date:
    """The day a step of the page's period before (-1) or after (+1) ``day``."""
    if view == MONTH:
        index = day.year * 12 + day.month - 1 + step
        if not 1 <= index // 12 <= 9999:
            return day
        moved = datetime.date(index // 12, index % 12 + 1, 1)
    else:
        try:
            moved = day + datetime.timedelta(weeks=step)
        except OverflowError:
            return day
    return min(max(moved, FIRST_PAGE_DAY), LAST_PAGE_DAY)


def _rows(v: View, first: datetime.date, last: datetime.date) -> dict[str, list[dict[str, Any]]]:
    """Each calendar kind's items that can show on days ``first`` to ``last``: the public
    ones (read as the store narrows them), and the private ones this node can open."""
    rows = v.state.data.calendar_rows(first.isoformat(), last.isoformat())
    for kind in calendar.KINDS:
        rows[kind] = rows[kind] + (v.private_items(kind) or [])
    return rows


def _shown(v: View, entry: Entry, viewer: datetime.tzinfo, private: set[str]) -> dict[str, Any]:
    """What the page says of an entry."""
    shown: dict[str, Any] = {
        "entry": entry,
        "kind": v.kind(entry.kind),
        "private": entry.item in private,
        "time": "",
        "own": "",
    }
    if entry.start is not None:
        start = entry.start.astimezone(viewer)
        text = f"{start:%H:%M}"
        if entry.end is not None:
            text += f"–{entry.end.astimezone(viewer):%H:%M}"
        shown["time"] = text
        if start.utcoffset() != entry.start.utcoffset():
            own = f"{entry.start:%H:%M}"
            if entry.start.date() != start.date():
                own = f"{v.tr.short_date(entry.start.date())} {own}"
            shown["own"] = f"{own} {entry.zone}"
    return shown


def _drawn_from(v: View) -> tuple[Any, ...]:
    """What the calendar's pages and feed are drawn from: the log (its mark) and how far
    the items hold it (node/projector.py "Items behind the log")."""
    return (v.state.data.mark(), v.state.node.projector.held_upto())


async def calendar_page(request: web.Request) -> web.Response:
    """A week or a month. Drawing a month of a large network's shifts, meetings and
    plans costs tens of ms (the items its range can hold, their occurrences, 35 days of
    entries), so a page is kept as drawn (:data:`state.CALENDAR_PAGES` of them) until
    the log grows, the items catch up, the day changes or the feed's key does."""
    v = View(request)
    key = (
        _drawn_from(v),
        request.path_qs,
        v.tr.lang,
        # the viewer's day: the page marks today
        datetime.datetime.fromtimestamp(v.now, viewer_zone(request.query.get("zone", ""))[0])
        .date()
        .isoformat(),
        request.app[access.ACCESS].feed,
    )
    kept = v.state.calendar.pop(key, None)
    if kept is None:
        kept = _calendar_page(v, request)
    v.state.calendar[key] = kept
    while len(v.state.calendar) > CALENDAR_PAGES:
        del v.state.calendar[next(iter(v.state.calendar))]
    return web.Response(body=kept, content_type="text/html", charset="utf-8")


def _calendar_page(v: View, request: web.Request) -> bytes:
    q = request.query
    view = MONTH if q.get("view") == MONTH else WEEK
    viewer, zone_name, zone_refused = viewer_zone(q.get("zone", ""))
    today = datetime.datetime.fromtimestamp(v.now, tz=viewer).date()
    notes = []
    if zone_refused:
        notes.append(
            v.tr(
                "{value} is not a time zone this machine knows; the calendar is in this "
                "machine's time zone.",
                value=q.get("zone", "")[:64],
            )
        )
    day = today
    given = q.get("date", "").strip()[:10]
    if given:
        try:
            if not _DATE.match(given):
                raise ValueError(given)
            day = datetime.date.fromisoformat(given)
        except ValueError:
            notes.append(v.tr("{value} is not a date; it was left out.", value=given))
    day = min(max(day, FIRST_PAGE_DAY), LAST_PAGE_DAY)
    first, last = period(view, day)
    rows = _rows(v, first, last)
    private = {str(r["id"]) for kind in rows.values() for r in kind if r.get("private")}
    found = calendar.entries(rows, first, last, viewer)
    locale = v.tr.lang
    days = found.by_day(viewer)
    weeks = []
    cursor = first
    while cursor <= last:
        week = []
        for _ in range(7):
            entries = days.get(cursor, [])
            shown = entries if view == WEEK else entries[:MONTH_DAY_ENTRIES]
            week.append(
                {
                    "date": cursor,
                    "name": babel_dates.format_date(cursor, "EEEE", locale=locale),
                    "label": babel_dates.format_date(
                        cursor, "EEE d MMM" if view == WEEK else "d", locale=locale
                    ),
                    "full": v.tr.date(cursor),
                    "today": cursor == today,
                    "outside": view == MONTH and cursor.month != day.month,
                    "entries": [_shown(v, e, viewer, private) for e in shown],
                    "more": len(entries) - len(shown),
                    "week": v.url(view=None, date=cursor.isoformat()),
                }
            )
            cursor += _DAY
        weeks.append(week)
    if view == MONTH:
        title = babel_dates.format_date(day, "LLLL y", locale=locale)
    else:
        title = v.tr(
            "Week of {date}",
            date=babel_dates.format_date(first, "d MMMM y", locale=locale),
        )
    zone_label = zone_name or v.tr(
        "this machine's ({name})", name=datetime.datetime.now(viewer).tzname() or "local"
    )
    feed_key = request.app[access.ACCESS].feed
    subscribe = f"{request.app[access.ACCESS].base}calendar.ics" + (
        f"?{access.FEED_KEY}={feed_key}" if feed_key else ""
    )
    zones = sorted({e.zone for e in found.entries if e.zone} | ({zone_name} - {""}))
    return v.page(
        "calendar.html",
        nav="calendar",
        title=v.tr("Calendar"),
        heading=title,
        view=view,
        weeks=weeks,
        weekdays=[w["name"] for w in weeks[0]] if weeks else [],
        notes=notes,
        zone=zone_name,
        zone_label=zone_label,
        zones=zones,
        cut=found.cut,
        empty=not found.entries,
        prev=v.url(date=_moved(view, day, -1).isoformat()),
        next=v.url(date=_moved(view, day, 1).isoformat()),
        today_url=v.url(date=None),
        week_url=v.url(view=None),
        month_url=v.url(view=MONTH),
        feed=v.url("/calendar.ics", view=None, date=None),
        subscribe=subscribe,
        feed_file=str(v.state.node.home.path / access.FEED_FILE),
    )


async def calendar_feed(request: web.Request) -> web.Response:
    """The iCalendar feed of the public items: :data:`ics.PAST_WEEKS` back to
    :data:`ics.COMING_WEEKS` ahead of today, in this machine's zone."""
    v = View(request)
    viewer = ics.machine_zone()
    today = datetime.datetime.fromtimestamp(v.now, tz=viewer).date()
    first, last = ics.default_range(today)
    # A calendar app asks again and again: the feed is written once for each state of
    # the log and each day (the iCalendar library takes about 0.2 ms an entry).
    key = (_drawn_from(v), today.isoformat(), v.tr.lang)
    if v.state.feed is not None and v.state.feed[0] == key:
        text = v.state.feed[1]
    else:
        rows = v.state.data.calendar_rows(first.isoformat(), last.isoformat())
        text, _ = ics.node_feed(v.state.node, first, last, viewer, tr=v.tr, rows=rows)
        v.state.feed = (key, text)
    return web.Response(
        body=text,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": 'inline; filename="commune.ics"'},
    )
