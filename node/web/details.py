"""What an item looks like on the web view beyond a list's columns, built from its kind's
spec (protocol/kinds): the page of the event that wrote it (``/event/ID``) shows the
item as it stands now, every field by its type, with the values of each of its dates
(a meeting's minutes and attendance, the latest date first), when it next takes place,
and its coming slots (a shift's).

Values from other members are shown as text, escaped by the templates. Only a value
that is a whole web address of http or https becomes a link (:func:`web_link`): a
``javascript:`` or ``data:`` address, or anything else, stays text. A list of ids of
other items (a report's plans) links to those items' pages; an id this node does not
hold (yet) is named by its id.
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from protocol.kinds import POSTABLE, KindSpec
from protocol.kinds.base import OVERDUE, Field

if TYPE_CHECKING:
    from node.web.view import View

#: a whole web address: http or https, a host, no space, quote, angle bracket or
#: control character anywhere (a value with any is shown as text)
_WEB = re.compile(r"https?://[^\s\"'<>`\\\x00-\x1f\x7f-\x9f]+", re.IGNORECASE)
_HEX_ID = re.compile(r"[0-9a-f]{64}")
#: the fields of an item's row that are not its kind's fields
_NOT_FIELDS = frozenset(["id", "author", "ts", "taken", "occurrences", "private", "readers"])
#: the coming slots an item's page shows: this many weeks from today
SLOT_WEEKS = 4


def web_link(text: str) -> Markup:
    """``text`` as a link when it is a whole http or https address with a host, else as
    text; escaped either way."""
    if _WEB.fullmatch(text) is not None:
        parts = urlsplit(text)
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return Markup(
                '<a href="{}" rel="noopener noreferrer nofollow" dir="ltr">{}</a>'
            ).format(text, text)
    return escape(text)


@dataclass(frozen=True, slots=True)
class Ref:
    """One id of a list of ids (a report's plan): its item's first field (a plan's
    title), or None when this node does not hold it."""

    id: str
    title: str | None


def refs(v: View, kind: str, text: str) -> list[Ref]:
    """The items of ``kind`` that a list of ids names, in its order: public ones from the
    store, private ones this node can open."""
    spec = POSTABLE.get(kind)
    if spec is None:
        return [Ref(word, None) for word in text.split()]
    heading = spec.fields[0].name
    opened = {row["id"]: row for row in v.private_items(kind) or []}
    found = []
    for word in text.split():
        row = opened.get(word)
        if row is None and _HEX_ID.fullmatch(word):
            row = v.state.data.item(kind, bytes.fromhex(word), visible=True)
        found.append(Ref(word, str(row.get(heading) or word[:12]) if row is not None else None))
    return found


#: meetings whose next date is kept (:func:`_coming`): more than a page's, and each key
#: holds the item's values
COMING_KEPT = 1024


@functools.lru_cache(maxsize=COMING_KEPT)
def _coming(kind: str, values: tuple[tuple[str, str], ...], day: str) -> str:
    """An item's next date from ``day`` on (its listing's ``coming``), worked out once
    for the same values and day (a recurring meeting's rule expanded on each page)."""
    coming = POSTABLE[kind].listing.coming
    return "" if coming is None else coming(dict(values), day)


def next_start(v: View, spec: KindSpec, row: Mapping[str, Any]) -> Markup | None:
    """When an item next takes place from today on (its listing's ``coming``), in its
    own time zone (its field ``zone``) with the zone named; None when it no longer does."""
    if spec.listing.coming is None:
        return None
    values = tuple((k, val) for k, val in row.items() if isinstance(val, str))
    at = _coming(spec.name, values, v.today)
    if not at:
        return None
    moment = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
    zone = row.get("zone", "")
    zone_name = zone if isinstance(zone, str) else ""
    try:
        moment = moment.astimezone(zoneinfo.ZoneInfo(zone_name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        zone_name = "UTC"
    # % escapes as format does, at a fraction of Markup.format's cost
    return Markup('<time datetime="%s">%s</time> <span dir="ltr">%s</span>') % (
        moment.isoformat(),
        v.tr.moment(moment),
        zone_name,
    )


@dataclass(frozen=True, slots=True)
class Dated:
    """What an item holds for one of its dates (a meeting's minutes and attendance)."""

    day: str
    values: list[tuple[Field, str]]


@dataclass(frozen=True, slots=True)
class ItemNow:
    """An item as it stands now, for its page."""

    spec: KindSpec
    row: dict[str, Any]
    #: its fields that hold something, in its spec's order
    fields: list[tuple[Field, Any]]
    #: when it next takes place (a kind whose listing has ``coming``)
    next_start: Markup | None
    #: the values of its dates (``KindSpec.occurrence_fields``), the latest first
    dated: list[Dated]
    #: its slots of the coming weeks (a kind with slots), soonest first
    slots: list[dict[str, Any]] | None
    #: past its date and still open (a late next step), or due today (a listing whose
    #: items can be late: ``OVERDUE``)
    overdue: bool = False
    due_today: bool = False

    def same_as(self, written: Mapping[str, str]) -> bool:
        """Whether its fields hold exactly what an event wrote (its page need not show
        them twice): a history, only the one entry written."""
        if {f.name for f, _ in self.fields} != {k for k, val in written.items() if val}:
            return False
        for f, value in self.fields:
            held = value
            if f.append and not isinstance(value, str):
                held = value[0]["text"] if len(value) == 1 else None
            if held != written.get(f.name):
                return False
        return True


def item_now(v: View, kind: str, item_id: bytes) -> ItemNow | None:
    """The item ``item_id`` of ``kind`` as this node holds it now: a public one from the
    store, a private one if this node can open it; None when it holds neither."""
    spec = POSTABLE.get(kind)
    if spec is None:
        return None
    row = next((r for r in v.private_items(kind) or [] if r["id"] == item_id.hex()), None)
    if row is None:
        row = v.state.data.item(kind, item_id)
    if row is None:
        return None
    fields = [
        (f, row[f.name]) for f in spec.fields if f.name not in _NOT_FIELDS and row.get(f.name)
    ]
    dated = [
        Dated(day, [(f, values[f.name]) for f in spec.occurrence_fields if values.get(f.name)])
        for day, values in sorted((row.get("occurrences") or {}).items(), reverse=True)
    ]
    slots = None
    if spec.slots is not None:
        first = datetime.date.fromisoformat(v.today)
        last = first + datetime.timedelta(weeks=SLOT_WEEKS, days=-1)
        slots = spec.slots.rows([row], first, last)
    late = OVERDUE in spec.listing.filters and spec.listing.is_overdue(row, v.today)
    due = not late and OVERDUE in spec.listing.filters and spec.listing.is_due(row, v.today)
    return ItemNow(spec, row, fields, next_start(v, spec, row), dated, slots, late, due)


def person(v: View, line: str) -> str:
    """One line of an attendance list: a collective's name for a node id it knows."""
    if _HEX_ID.fullmatch(line):
        return v.names.get(bytes.fromhex(line), line)
    return line
