"""The calendar as iCalendar (RFC 5545), written by the ``icalendar`` library: the web
view's ``/calendar.ics`` (for a calendar app to subscribe to) and ``commune calendar
FILE.ics`` give the same text for the same items and range.

Each entry of protocol/calendar.py is one ``VEVENT``: a shift's slot on one day (who is
on it and how many it still needs in its description), a meeting on one day, a plan's
due date as a whole day. Dates are expanded here rather than sent as recurrence rules,
because each day of a shift has its own people, and a calendar app reloads the feed:
the range is from :data:`PAST_WEEKS` weeks back to :data:`COMING_WEEKS` ahead by
default. Times keep their own zone (``DTSTART;TZID=America/El_Salvador``) with its
``VTIMEZONE``, so the app shows them in its user's zone.

The text depends on the items and the range alone: an entry's ``UID`` is its item,
kind and day, its ``DTSTAMP`` the time its item last changed, so a calendar app sees
the same entry as the same, and two nodes that hold the same items write the same
feed. Private items (sealed to some collectives) are never in it: a feed leaves the
encrypted store for a calendar app's own files.
"""

from __future__ import annotations

import datetime
import os
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import icalendar
from dateutil import tz

from node.service import Node
from protocol import calendar, hlc
from protocol.calendar import Entry, Range
from protocol.kinds.zones import zone_of

#: the feed's default range: weeks back and ahead of today
PAST_WEEKS = calendar.PAST_WEEKS
COMING_WEEKS = calendar.COMING_WEEKS
PRODID = "-//Commune//Commune calendar//EN"


def N_(text: str) -> str:
    """Mark ``text`` for the web view's catalogs (babel.cfg); it is said in the reader's
    language where it is written into the feed."""
    return text


#: how each kind's entries are marked in a calendar app (``CATEGORIES``), with its tags
KIND_NAMES = {"shift": N_("Shift"), "meeting": N_("Meeting"), "plan": N_("Plan due")}


#: where the system keeps this machine's time zone (a tzfile), when TZ does not say
LOCALTIME = Path("/etc/localtime")


def machine_zone() -> datetime.tzinfo:
    """This machine's time zone: the zone TZ names, or the tzfile of /etc/localtime, read
    by ``zoneinfo`` (its transitions in C: a month of a calendar converts a few thousand
    times, and dateutil's ``tzlocal`` asks the C library each time, a third of such a
    page); dateutil's ``tzlocal`` when neither says (a TZ of offsets, no such file)."""
    local: datetime.tzinfo = tz.tzlocal()
    named = os.environ.get("TZ", "").lstrip(":")
    if named:
        return zone_of(named) or local
    try:
        with LOCALTIME.open("rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return local


def default_range(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The feed's days by default: :data:`PAST_WEEKS` back to :data:`COMING_WEEKS` ahead."""
    return (
        today - datetime.timedelta(weeks=PAST_WEEKS),
        today + datetime.timedelta(weeks=COMING_WEEKS),
    )


def public_rows(node: Node) -> dict[str, list[dict[str, Any]]]:
    """The public items of each kind the calendar shows, as the projections hold them."""
    return {kind: node.projector.rows(kind) for kind in calendar.KINDS}


def node_feed(
    node: Node,
    first: datetime.date,
    last: datetime.date,
    viewer: datetime.tzinfo,
    *,
    tr: Callable[..., str] | None = None,
    rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> tuple[bytes, Range]:
    """The feed of this node's public shifts, meetings and plans on days ``first`` to
    ``last`` in the ``viewer``'s zone, and its entries; ``rows``: those items as the
    caller read them (the web view: only those that can show in the range), or all."""
    rows = public_rows(node) if rows is None else rows
    found = calendar.entries(rows, first, last, viewer)
    names = {m["node_id"]: m["name"] for m in node.projector.members()}
    names.setdefault(node.node_id.hex(), node.home.identity().name)
    changed = {str(r["id"]): int(r["ts"]) for kind in rows.values() for r in kind}
    network = node.membership()
    name = network.name if network is not None else node.home.identity().name
    text = feed(
        found,
        name=name,
        names=lambda author: names.get(author) or author[:12],
        changed=changed,
        tr=tr,
    )
    return text, found


def _stamp(ts: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hlc.millis(ts) / 1000, tz=datetime.UTC).replace(
        microsecond=0
    )


def _description(entry: Entry, names: Callable[[str], str], tr: Callable[..., str]) -> str:
    lines = [tr("By {name}", name=names(entry.author))]
    if entry.kind == "shift":
        who = ", ".join(entry.who) if entry.who else tr("nobody yet")
        lines.append(tr("On it: {who}", who=who))
        if entry.short:
            lines.append(tr("Short of {n}", n=entry.short))
    if entry.note:
        lines.append(entry.note)
    return "\n".join(lines)


def feed(
    found: Range,
    *,
    name: str,
    names: Callable[[str], str],
    changed: Mapping[str, int],
    tr: Callable[..., str] | None = None,
) -> bytes:
    """The entries of ``found`` as an iCalendar text called ``name``; ``names`` gives a
    collective's name from its id, ``changed`` each item's last change (its ``ts``),
    ``tr`` the words of the reader's language (English by default)."""
    say = tr if tr is not None else _english
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for entry in found.entries:
        event = icalendar.Event()
        event.add("uid", f"{entry.item}-{entry.kind}-{entry.day.isoformat()}@commune")
        event.add("dtstamp", _stamp(changed.get(entry.item, 0)))
        summary = entry.title
        if entry.kind == "plan":
            summary = say("Due: {title}", title=entry.title)
        elif entry.short:
            summary = say("{title} (short of {n})", title=entry.title, n=entry.short)
        event.add("summary", summary)
        if entry.start is None:
            event.add("dtstart", entry.day)
            event.add("dtend", entry.day + datetime.timedelta(days=1))
            event.add("transp", "TRANSPARENT")
        else:
            event.add("dtstart", entry.start)
            if entry.end is not None:
                event.add("dtend", entry.end)
        if entry.place:
            event.add("location", entry.place)
        event.add("description", _description(entry, names, say))
        event.add("categories", [say(KIND_NAMES[entry.kind]), *entry.tags])
        calendar.add_component(event)
    if found.entries:
        calendar.add_missing_timezones(
            first_date=found.first - datetime.timedelta(days=2),
            last_date=found.last + datetime.timedelta(days=2),
        )
    return bytes(calendar.to_ical())


def _english(text: str, **values: object) -> str:
    return text.format(**values) if values else text
