"""The command line of kinds whose items offer dated slots (``KindSpec.slots``: shifts):
taking and leaving a day's slot (``post shift --take ID --date D --who NAME``,
``--leave``), and ``show shifts``, the slots of the coming weeks with who is on each and
which are short of people (docs/CLI.md).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

import click

from node.cli_common import fail
from protocol.errors import BadPayload
from protocol.kinds import KindSpec
from protocol.kinds.base import LEAVE, TAKE, check_date

#: ``show``'s weeks of slots: by default, and at most (with ``MAX_DAYS`` of a shift, a
#: listing never expands more than a year)
DEFAULT_WEEKS = 4
MAX_WEEKS = 52


def slot_options(spec: KindSpec) -> list[click.Option]:
    """``post``'s options of a kind with slots: ``--date`` and ``--who`` (``--take`` and
    ``--leave`` are made with the other changes, from ``edit_kinds``)."""
    if spec.slots is None:
        return []
    return [
        click.Option(
            [f"--{f.name}", f"slot_{f.name}"],
            metavar="YYYY-MM-DD" if f.date else None,
            help=f"With --take or --leave: {f.help}.",
        )
        for f in (spec.slots.slot, spec.slots.who)
    ]


def pop_slot_options(spec: KindSpec, given: dict[str, Any]) -> dict[str, str]:
    """The slot options given (by field name), taken out of ``given``."""
    if spec.slots is None:
        return {}
    names = (spec.slots.slot.name, spec.slots.who.name)
    values = {name: given.pop(f"slot_{name}", None) for name in names}
    return {name: str(value) for name, value in values.items() if value is not None}


def slot_fields(
    spec: KindSpec, item: Mapping[str, Any], action: str, values: Mapping[str, str]
) -> dict[str, str]:
    """The fields of a take or a leave (``action``) of a slot of ``item`` (its row, as
    merged so far): the day and the person, refused (:class:`BadPayload`, naming the
    field) when the day is not one of the item's, or the person is already on it (a
    take) or not on it (a leave)."""
    slots = spec.slots
    assert slots is not None
    slot = slots.slot.clean(values.get(slots.slot.name, ""))
    who = slots.who.clean(values.get(slots.who.name, ""))
    day = datetime.date.fromisoformat(slot)
    if not slots.occurrences(item, day, day):
        raise BadPayload(
            f"{slots.slot.name!r} {slot} is not a day of this {spec.name} "
            f"(`commune show {spec.plural}` lists its days)"
        )
    on = [name.casefold() for name in item.get("taken", {}).get(slot, [])]
    if action == TAKE and who.casefold() in on:
        raise BadPayload(f"{who} already has the slot of {slot} of this {spec.name}")
    if action == LEAVE and who.casefold() not in on:
        raise BadPayload(f"{who} is not on the slot of {slot} of this {spec.name}")
    return {slots.slot.name: slot, slots.who.name: who}


def slot_window(
    start: str | None, weeks: int | None, today: datetime.date
) -> tuple[datetime.date, int]:
    """``show``'s first day and number of weeks, refused in one line when malformed."""
    if weeks is not None and not 1 <= weeks <= MAX_WEEKS:
        fail(f"--weeks must be from 1 to {MAX_WEEKS}, not {weeks}", 2)
    first = today
    if start is not None:
        problem = check_date(start)
        if problem is not None:
            fail(f"--start {problem}", 2)
        first = datetime.date.fromisoformat(start)
    return first, weeks or DEFAULT_WEEKS


def emit_slots(spec: KindSpec, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo(f"(no {spec.name} in these weeks)", err=True)
        return
    assert spec.slots is not None
    for row in rows:
        starts = datetime.datetime.fromisoformat(row["starts_at"])
        ends = datetime.datetime.fromisoformat(row["ends_at"])
        on = ", ".join(row["taken_by"]) or "nobody yet"
        count = f"{len(row['taken_by'])}/{row[spec.slots.needed]}" if spec.slots.needed else ""
        short = f"  SHORT {row['short']}" if row["short"] else ""
        first = spec.field_names()[0]
        place = f" @ {row['place']}" if row.get("place") else ""
        zone = row.get("zone") or starts.tzname()
        mark = "[private] " if row.get("private") and not spec.private else ""
        by = row.get("author_name") or str(row["author"])[:12]
        click.echo(
            f"{row[spec.slots.slot.name]} {starts:%a %H:%M}-{ends:%H:%M} {zone}  "
            f"{mark}{row[first]}{place}  {on} ({count}){short}  by {by}  {row['id'][:8]}"
        )
        if row["note"]:
            click.echo(f"    note: {row['note']}")


def show_slots(
    spec: KindSpec,
    items: list[dict[str, Any]],
    window: tuple[str | None, int | None],
    as_json: bool,
) -> bool:
    """``show <plural>`` of a kind with slots: its slots in the weeks ``window`` gives
    (``--start``, ``--weeks``), and True; False for another kind (which takes no
    ``--start`` or ``--weeks``)."""
    start, weeks = window
    if spec.slots is None:
        if start is not None:
            fail(f"--start applies to the kinds with slots (shifts), not {spec.plural}", 2)
        return False
    first, count = slot_window(start, weeks, datetime.date.today())
    span = datetime.timedelta(weeks=count, days=-1)
    last = first + span if first <= datetime.date.max - span else datetime.date.max
    emit_slots(spec, spec.slots.rows(items, first, last), as_json)
    return True
