"""A meeting: one-off or recurring, with an agenda; afterwards its minutes and who came.

What a meeting's values mean (docs/PROTOCOL.md §5.1, docs/CLI.md ``show meetings``):

- ``when`` is the first meeting's local date and time, ``YYYY-MM-DD HH:MM``, in
  ``zone``, an IANA time zone name (``America/El_Salvador``). ``repeat`` is ``none``,
  ``weekly`` or ``monthly``, every ``every`` weeks or months (1 when empty), up to and
  including the day ``until`` (never ending when empty).
- A monthly meeting keeps the day of the month of ``when``; in a month without that
  day (the 31st in April, the 29th to 31st in February) it is on the month's last day.
  As an iCalendar rule: ``FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1`` for the
  31st, which is exactly what :func:`occurrences` asks of ``dateutil``'s rrule.
- Local times that a zone skips or repeats (daylight saving time): a one-off meeting at
  such a time is refused when it is posted (one clear error). A recurring meeting keeps
  its local time, and on a day when that time does not exist it starts the length of
  the gap later (02:30 becomes 03:30 when clocks go from 02:00 to 03:00); on a day when
  it happens twice, it is the first of the two. These are RFC 5545's rules (§3.3.5)
  and what ``zoneinfo`` does with ``fold=0``.
- After a meeting, an update for one occurrence (its ``date``, the occurrence's local
  day) sets its ``minutes``, who ``attended`` (members by name or node id, one a line)
  and how many ``guests`` came (people not members yet, counted). Each occurrence's
  values merge apart from the others', field by field, last writer wins (§5.3).

Validity never depends on the reading node: when read, a zone is only checked to look
like a zone name (protocol/kinds/zones.py) and ``when`` to be a date and time that
exist on the calendar; that the zone is in this node's time zone database, that a
one-off time exists in it, and that ``until`` comes after ``when`` are checked when a
member posts. Expanding a series into dates is bounded by a window
(:data:`MAX_WINDOW_DAYS`) and a count (:data:`MAX_OCCURRENCES`), however long the
series.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from dateutil import rrule

from protocol.errors import BadPayload
from protocol.kinds.base import COMING, NEWEST, UPDATE, Field, KindSpec, Listing, check_date
from protocol.kinds.zones import unknown_zone, zone_name_problem, zone_of

REPEATS = ("none", "weekly", "monthly")
#: the most weeks or months between two meetings of a series
MAX_EVERY = 52
#: the longest window a series is expanded over, and the most dates it gives
MAX_WINDOW_DAYS = 400
MAX_OCCURRENCES = 500
#: the most people an occurrence's attendance lists, and guests it counts
MAX_ATTENDED = 500
MAX_GUESTS = 100_000

_WHEN = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}):([0-9]{2})")
_NUMBER = re.compile(r"[0-9]{1,6}")


def _check_when(text: str) -> str | None:
    match = _WHEN.fullmatch(text)
    if match is None:
        return f"must be a local date and time like 2026-12-31 18:30, not {text[:40]!r}"
    if (problem := check_date(match[1])) is not None:
        return problem
    if int(match[2]) > 23 or int(match[3]) > 59:
        return f"must be a time of day from 00:00 to 23:59, not {match[2]}:{match[3]}"
    return None


def _check_every(text: str) -> str | None:
    if _NUMBER.fullmatch(text) is None or not 1 <= int(text) <= MAX_EVERY:
        return f"must be a whole number of weeks or months from 1 to {MAX_EVERY}, not {text[:40]!r}"
    return None


def _check_attended(text: str) -> str | None:
    names = text.split("\n")
    if len(names) > MAX_ATTENDED:
        return f"lists {len(names)} people; at most {MAX_ATTENDED}"
    for name in names:
        if not name.strip() or name != name.strip() or "\t" in name:
            return "must list one name or node id a line, none empty"
        if len(name) > 200:
            return f"has a name of {len(name)} characters; at most 200"
        if names.count(name) > 1:
            return f"lists {name[:40]!r} twice"
    return None


def _check_guests(text: str) -> str | None:
    if _NUMBER.fullmatch(text) is None or int(text) > MAX_GUESTS:
        return f"must be a whole number of people from 0 to {MAX_GUESTS}, not {text[:40]!r}"
    return None


def local_start(values: Mapping[str, str]) -> datetime.datetime:
    """``when`` as a naive local date and time (the values are well formed)."""
    return datetime.datetime.strptime(values["when"], "%Y-%m-%d %H:%M")


def exists_once(local: datetime.datetime, zone: zoneinfo.ZoneInfo) -> str | None:
    """What is wrong with a local time in a zone: skipped or repeated, or None."""
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    back = first.astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None)
    if back != local:
        return "does not exist there (the clocks skip it)"
    return "happens twice there (the clocks go back)"


def agree(values: Mapping[str, str]) -> str | None:
    """When written: the values go together (a new meeting, or one after an update)."""
    repeat = values.get("repeat") or "none"
    if repeat == "none" and (values.get("every") or values.get("until")):
        return "'every' and 'until' go with a repeat (weekly or monthly), not with 'none'"
    if not values.get("when") or not values.get("zone"):
        return None  # refused as required
    zone = zone_of(values["zone"])
    if zone is None:
        return None
    start = local_start(values)
    if repeat == "none" and (problem := exists_once(start, zone)) is not None:
        return f"'when' {values['when']} {problem} in {values['zone']}: give another time"
    if values.get("until") and values["until"] < values["when"][:10]:
        return f"'until' {values['until']} is before the first meeting, {values['when'][:10]}"
    return None


def occurrence_of(values: Mapping[str, str], day: str) -> str:
    """When written: the date an update's minutes and attendance are for. A one-off
    meeting's own date when none is given; a recurring one's must be given and be one
    of its dates."""
    if not day:
        if (values.get("repeat") or "none") != "none":
            raise BadPayload("'date' is required for a recurring meeting: which one (YYYY-MM-DD)")
        return values["when"][:10]
    if (problem := check_date(day)) is not None:
        raise BadPayload(f"'date' {problem}")
    zone = zone_of(values.get("zone", "")) or datetime.UTC
    first = datetime.datetime.fromisoformat(day).replace(tzinfo=zone)
    found = occurrences(values, first - datetime.timedelta(days=1), datetime.timedelta(days=3))
    if day not in {o.day for o in found}:
        raise BadPayload(f"'date' {day} is not a day this meeting takes place")
    return day


@dataclass(frozen=True, slots=True)
class Occurrence:
    #: the local day it is on (its minutes and attendance are kept under it)
    day: str
    #: when it starts, in the meeting's zone
    start: datetime.datetime


def occurrences(
    values: Mapping[str, str],
    since: datetime.datetime,
    span: datetime.timedelta,
    limit: int = MAX_OCCURRENCES,
) -> list[Occurrence]:
    """The meetings of an item that start in [since, since + span) (``since`` aware),
    in order; the span is cut to :data:`MAX_WINDOW_DAYS` and the list to ``limit``, at
    most :data:`MAX_OCCURRENCES`. Values that cannot be read as a meeting give none."""
    limit = min(limit, MAX_OCCURRENCES)
    zone = zone_of(values.get("zone", ""))
    if zone is None or _check_when(values.get("when", "")) is not None:
        return []
    span = min(span, datetime.timedelta(days=MAX_WINDOW_DAYS))
    until_day = values.get("until") or ""
    repeat = values.get("repeat") or "none"
    start = local_start(values)
    day = datetime.timedelta(days=1)
    # the window in local time, a day wider each side for the zone's offsets, within
    # the calendar (years 1 to 9999)
    low = _shifted(since.replace(tzinfo=None), -2 * day)
    high = _shifted(since.replace(tzinfo=None), span + 2 * day)
    end = since.replace(tzinfo=None) + span if high < datetime.datetime.max - day else high
    found = []
    try:
        if repeat == "none":
            locals_ = [start]
        else:
            every = int(values.get("every") or "1")
            # at most one date of a series (a week or a month apart) falls between
            # ``low`` and ``since``: ``limit`` dates and two more are all it can keep
            locals_ = _series(start, repeat, every, low, high, count=limit + 2)
        for local in locals_:
            if until_day and local.date().isoformat() > until_day:
                break
            # a time the zone skips is read with the offset before the gap (RFC 5545)
            at = local.replace(tzinfo=zone, fold=0).astimezone(datetime.UTC)
            if since <= at and at.replace(tzinfo=None) < end:
                found.append(Occurrence(local.date().isoformat(), at.astimezone(zone)))
                if len(found) >= limit:
                    break
    except (OverflowError, ValueError):
        pass  # at the edge of the calendar (year 1 or 9999): the dates found so far
    return found


def _shifted(at: datetime.datetime, delta: datetime.timedelta) -> datetime.datetime:
    """``at + delta``, or the calendar's first or last moment past its edge."""
    try:
        return at + delta
    except OverflowError:
        return datetime.datetime.max if delta > datetime.timedelta(0) else datetime.datetime.min


def _series(
    start: datetime.datetime,
    repeat: str,
    every: int,
    low: datetime.datetime,
    high: datetime.datetime,
    *,
    count: int = MAX_OCCURRENCES + 2,
) -> list[datetime.datetime]:
    """The first ``count`` local dates and times of a series between ``low`` and
    ``high``, by rrule, from a start moved forward by whole periods to just before the
    window (so a series begun long ago costs no more than a new one, and the next
    date no more than the first few)."""
    if high < start:
        return []
    if repeat == "weekly":
        step = datetime.timedelta(weeks=every)
        skip = max(0, (low - start) // step - 1)
        rule = rrule.rrule(rrule.WEEKLY, interval=every, dtstart=start + skip * step)
    else:
        months = (low.year - start.year) * 12 + low.month - start.month
        skip = max(0, months // every - 1) * every
        index = start.year * 12 + start.month - 1 + skip
        first = start.replace(year=index // 12, month=index % 12 + 1, day=1)
        # the day of the month of the first meeting, or the month's last when shorter
        days = tuple(range(min(start.day, 28), start.day + 1))
        rule = rrule.rrule(
            rrule.MONTHLY, interval=every, dtstart=first, bymonthday=days, bysetpos=-1
        )
    result = []
    for local in rule.xafter(max(low, start), count=count, inc=True):
        if local > high:
            break
        result.append(local)
    return result


def next_start(values: Mapping[str, str], day: str) -> str:
    """When the meeting next starts from ``day`` (00:00 UTC) on, within
    :data:`MAX_WINDOW_DAYS`, as ISO 8601 UTC, or "": the web view's "coming first"."""
    try:
        since = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)
    except ValueError:
        return ""
    found = occurrences(values, since, datetime.timedelta(days=MAX_WINDOW_DAYS), limit=1)
    return found[0].start.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ") if found else ""


SPEC = KindSpec(
    name="meeting",
    help="A meeting, one-off or recurring, with an agenda; afterwards its minutes and who came.",
    version=1,
    fields=(
        Field("title", "what the meeting is", required=True, max_len=200),
        Field(
            "when",
            "the first meeting's local date and time, YYYY-MM-DD HH:MM",
            required=True,
            max_len=16,
            check=_check_when,
        ),
        Field(
            "zone",
            "its time zone, an IANA name like America/El_Salvador",
            required=True,
            max_len=64,
            check=zone_name_problem,
            written=unknown_zone,
            ltr=True,
        ),
        Field("place", "where: an address, a room or a link", max_len=500),
        Field("agenda", "what will be discussed", max_len=20000, multiline=True),
        Field(
            "repeat",
            "one of: " + ", ".join(REPEATS),
            max_len=10,
            default="none",
            choices=REPEATS,
        ),
        Field("every", "every how many weeks or months (default 1)", max_len=2, check=_check_every),
        Field(
            "until", "the last day of a series, YYYY-MM-DD (default: no end)", max_len=10, date=True
        ),
    ),
    edits=(UPDATE,),
    occurrence_fields=(
        Field("minutes", "what was said and decided", max_len=50000, multiline=True),
        Field(
            "attended",
            "a member who came, by name or node id (repeat for each)",
            max_len=50000,
            multiline=True,
            lines=MAX_ATTENDED,
            check=_check_attended,
        ),
        Field(
            "guests",
            "how many guests came (people not members yet)",
            max_len=6,
            check=_check_guests,
        ),
    ),
    agree=agree,
    occurrence_of=occurrence_of,
    listing=Listing(
        show=("when", "zone", "repeat", "title", "place"),
        layout="table",
        columns=("title", "when", "zone", "repeat", "place"),
        sorts=(
            (COMING, "coming first"),
            ("when", "first date"),
            ("title", "title"),
            (NEWEST, NEWEST),
        ),
        filters=("repeat", "place"),
        coming=next_start,
    ),
    order=25,
)
