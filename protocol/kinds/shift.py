"""A shift: a recurring time slot of a collective's work (at a factory gate, a clinic)
that members take, day by day.

A shift says where, on which weekdays, from when to when in which time zone (an IANA
name), every how many weeks, from which day (``since``) until which (``until``, or
never), and how many people each day's slot needs. Its fields merge per field like a
plan's (``shift.update``); who is on a day's slot is a register of the shift per
(day, person), set by ``shift.take`` and cleared by ``shift.leave``
(protocol/kinds/base.py :class:`Slots`), so a take and a leave of the same person and
day end the same on every node: the later by the edits' rank (§5.3).

The days are expanded with python-dateutil's rrule, every ``every`` weeks counted from
the week (Monday to Sunday) of ``since``; only a bounded range of days is ever expanded
(:data:`MAX_DAYS`), so a shift that never ends costs what a shift of a year does.

Times are wall-clock times in the shift's zone (the standard ``zoneinfo``, with the
``tzdata`` package where the system has no zone database). On a day when the clocks
change, as iCalendar (RFC 5545 §3.3.5) reads such times:

- a time that does not exist that day (02:30 when the clocks jump from 02:00 to 03:00)
  is moved forward by the jump (03:30);
- a time that happens twice (01:30 when the clocks go back from 02:00 to 01:00) is the
  first of the two;

and the slot says so in its ``note``. A shift that does not repeat (``repeat`` once) is
refused when written at such a time, since its one day is known.

What is checked where: every field's own rule (a time, a weekday list, a number in its
range, the shape of a zone name: protocol/kinds/zones.py) when written and when read,
so every node reads the same items; what depends on the writer's machine or on the
fields together (the zone is in its database, ``until`` is not before ``since``, a
one-off's time exists) only when written (the zone's ``written`` rule, ``agree``),
never when merging: a node whose zone database lacks a zone
holds the same shifts as every other node and lists no slot of that one.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import time as TimeOfDay

from dateutil import rrule

from protocol.kinds.base import (
    NEWEST,
    TABLE,
    UPDATE,
    WEEKDAYS,
    Field,
    KindSpec,
    Listing,
    Occurrence,
    Slots,
)
from protocol.kinds.zones import unknown_zone, zone_name_problem, zone_of

_RRULE_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
REPEATS = ("weekly", "once")
#: every how many weeks a shift repeats, at most
MAX_EVERY = 52
#: how many people a slot may need, at most
MAX_NEEDED = 100
#: the most days one expansion covers, whatever is asked: a shift that never ends costs
#: what a year of it does
MAX_DAYS = 371
#: the days a slot can be on: a day's times, in any zone, are then moments that Python's
#: datetime can hold in UTC too (the calendar's first and last days are not)
FIRST_DAY = datetime.date(1, 1, 2)
LAST_DAY = datetime.date(9999, 12, 30)

_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _time(text: str) -> str | None:
    if _TIME.fullmatch(text) is None:
        return f"must be a time like 06:00 or 17:30 (24 hours), not {text[:40]!r}"
    return None


def _weekdays(text: str) -> str | None:
    days = text.split(",")
    for day in days:
        if day not in WEEKDAYS:
            return (
                f"must be weekdays separated by commas, each one of {', '.join(WEEKDAYS)} "
                f"(like mon,thu), not {day[:40]!r}"
            )
        if days.count(day) > 1:
            return f"holds {day!r} twice"
    return None


def _number(low: int, high: int) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        if not text.isascii() or not text.isdigit() or str(int(text)) != text:
            return f"must be a whole number from {low} to {high}, not {text[:40]!r}"
        if not low <= int(text) <= high:
            return f"must be from {low} to {high}, not {text}"
        return None

    return check


def wall_time(
    day: datetime.date, at: TimeOfDay, zone: zoneinfo.ZoneInfo
) -> tuple[datetime.datetime, str]:
    """The moment of ``at`` on ``day`` in ``zone`` and what the clocks' change did to it
    that day (""): a time in a gap moves forward by the gap; an ambiguous time is the
    first of the two (RFC 5545 §3.3.5)."""
    naive = datetime.datetime.combine(day, at)
    first = naive.replace(tzinfo=zone, fold=0)
    if first.utcoffset() == naive.replace(tzinfo=zone, fold=1).utcoffset():
        return first, ""
    moment = first.astimezone(datetime.UTC).astimezone(zone)
    if moment.replace(tzinfo=None) != naive:
        return moment, (
            f"{at:%H:%M} does not exist on {day} in {zone.key} (the clocks go forward): "
            f"{moment:%H:%M}"
        )
    return moment, (
        f"{at:%H:%M} happens twice on {day} in {zone.key} (the clocks go back): the first"
    )


def _days(
    values: Mapping[str, str], first: datetime.date, last: datetime.date
) -> list[datetime.date]:
    """The shift's days from ``first`` to ``last``, both included."""
    since = datetime.date.fromisoformat(values["since"])
    until = datetime.date.fromisoformat(values["until"]) if values.get("until") else None
    if values.get("repeat") == "once":
        return [since] if first <= since <= last else []
    end = last if until is None else min(until, last)
    start = max(first, since)
    # no weekdays: the weekday of ``since``
    weekdays = values.get("weekdays") or WEEKDAYS[since.weekday()]
    if end < start:
        return []
    every = int(values.get("every") or "1")
    # rrule counts its weeks from the week of its start: begin at the week, a multiple
    # of ``every`` after the week of ``since``, that holds ``start`` (never earlier than
    # ``since``), so that nothing before ``first`` is expanded
    anchor = since - datetime.timedelta(days=since.weekday())
    skip = (start - anchor).days // (7 * every)
    begin = max(since, anchor + datetime.timedelta(weeks=skip * every))
    rule = rrule.rrule(
        rrule.WEEKLY,
        interval=every,
        byweekday=[_RRULE_DAYS[WEEKDAYS.index(d)] for d in weekdays.split(",")],
        dtstart=datetime.datetime.combine(begin, TimeOfDay()),
        until=datetime.datetime.combine(end, TimeOfDay()),
        wkst=rrule.MO,
    )
    return [d.date() for d in rule if d.date() >= start]


def occurrences(
    values: Mapping[str, str], first: datetime.date, last: datetime.date
) -> list[Occurrence]:
    """The shift's slots from ``first`` to ``last`` (at most :data:`MAX_DAYS` days from
    ``first``), in order; none when its zone is not in this machine's database or its
    values, merged from concurrent edits, do not go together."""
    zone = zone_of(values.get("zone", ""))
    if zone is None or not values.get("since") or not values.get("start"):
        return []
    first = max(first, FIRST_DAY)
    if first > min(last, LAST_DAY):
        return []
    last = min(last, LAST_DAY)
    if (last - first).days >= MAX_DAYS:
        last = first + datetime.timedelta(days=MAX_DAYS - 1)
    try:
        days = _days(values, first, last)
        start = TimeOfDay.fromisoformat(values["start"])
        end = TimeOfDay.fromisoformat(values.get("end") or values["start"])
    except (ValueError, KeyError):
        return []
    found = []
    for day in days:
        begins, note = wall_time(day, start, zone)
        # an end at or before the start is the next day's (a night shift)
        end_day = day + datetime.timedelta(days=1) if end <= start else day
        ends, end_note = wall_time(end_day, end, zone)
        notes = "; ".join(n for n in (note, end_note) if n)
        found.append(Occurrence(day.isoformat(), begins, ends, notes))
    return found


def agree(values: Mapping[str, str]) -> str | None:
    """What is wrong with a shift's values together, when written (never when read). A
    zone this machine does not know (kept from a peer whose database is newer) is
    refused only when it is written (the field's ``written`` rule): what depends on it
    here is not checked."""
    if values["start"] == values["end"]:
        return f"'end' is the same time as 'start' ({values['start']}): a shift takes some time"
    since = datetime.date.fromisoformat(values["since"])
    if values["until"] and values["until"] < values["since"]:
        return f"'until' {values['until']} is before 'since' {values['since']}"
    if values["repeat"] == "weekly":
        return None
    if values["until"] and values["until"] != values["since"]:
        return "'until' applies to a shift that repeats: a shift once is on its 'since' day"
    weekday = WEEKDAYS[since.weekday()]
    if values["weekdays"] and values["weekdays"] != weekday:
        return f"'weekdays' must be {weekday} or empty for a shift once on {since} (a {weekday})"
    zone = zone_of(values["zone"])
    if zone is None:
        return None
    for name in ("start", "end"):
        at = TimeOfDay.fromisoformat(values[name])
        day = since
        if name == "end" and values["end"] <= values["start"]:
            day += datetime.timedelta(days=1)
        _, note = wall_time(day, at, zone)
        if note:
            what = note.rsplit(": ", 1)[0]
            return f"{name!r} {what}: a shift once needs a time that is there once that day"
    return None


SPEC = KindSpec(
    name="shift",
    help=(
        "A recurring time slot that members take: where, on which weekdays, from when to "
        "when in which time zone, every how many weeks, and how many people it needs."
    ),
    version=1,
    fields=(
        Field("title", "what the shift is", required=True, max_len=200),
        Field("place", "where", max_len=200),
        Field(
            "weekdays",
            "weekdays separated by commas: "
            + ",".join(WEEKDAYS)
            + " (default: the weekday of --since)",
            max_len=27,
            check=_weekdays,
            weekdays=True,
        ),
        Field(
            "start",
            "start time, HH:MM (24 hours) in its zone",
            required=True,
            max_len=5,
            check=_time,
            ltr=True,
        ),
        Field(
            "end",
            "end time, HH:MM; at or before the start: the next day",
            required=True,
            max_len=5,
            check=_time,
            ltr=True,
        ),
        Field(
            "zone",
            "time zone, an IANA name like America/El_Salvador",
            required=True,
            max_len=64,
            check=zone_name_problem,
            written=unknown_zone,
            ltr=True,
        ),
        Field(
            "repeat",
            "weekly (every --every weeks) or once (on the --since day)",
            max_len=6,
            default="weekly",
            choices=REPEATS,
        ),
        Field(
            "every",
            f"repeat every N weeks, 1 to {MAX_EVERY}",
            max_len=2,
            default="1",
            check=_number(1, MAX_EVERY),
        ),
        Field("since", "first day, YYYY-MM-DD", required=True, max_len=10, date=True),
        Field(
            "until",
            "last day, YYYY-MM-DD; empty: it never ends",
            max_len=10,
            date=True,
            empty="never ends",
        ),
        Field(
            "needed",
            f"people each slot needs, 1 to {MAX_NEEDED}",
            max_len=3,
            default="1",
            check=_number(1, MAX_NEEDED),
        ),
    ),
    edits=(UPDATE,),
    slots=Slots(
        slot=Field("date", "the day of the slot, YYYY-MM-DD", required=True, max_len=10, date=True),
        who=Field("who", "who takes or leaves it", required=True, max_len=100),
        occurrences=occurrences,
        needed="needed",
    ),
    agree=agree,
    listing=Listing(
        layout=TABLE,
        columns=("title", "place", "weekdays", "start", "end", "zone", "needed", "until"),
        sorts=(("title", "title"), ("place", "place"), (NEWEST, NEWEST)),
        filters=("place", "weekdays"),
        dated_by="since",
    ),
    order=25,
)
