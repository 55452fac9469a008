"""What ``post`` and ``show`` do for kinds whose items take place on dates with values
of their own (``KindSpec.occurrence_fields``: a meeting's minutes and attendance), and
``show meetings``' list of coming and past meetings (docs/CLI.md).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

import click

from node.cli_common import iso_time, suspect
from protocol.kinds import KindSpec
from protocol.kinds import meeting as meetings
from protocol.kinds.base import OCCURRENCE

#: how far ``show meetings`` looks ahead and back by default, in weeks
WEEKS = 8


#: ``show``'s option for how far back ``show meetings`` looks
past_weeks_option = click.option(
    "--past-weeks",
    type=click.IntRange(0, 520),
    default=WEEKS,
    show_default=True,
    help="Meetings only: how many weeks back to list, with minutes and attendance.",
)


def occurrence_options(spec: KindSpec) -> list[click.Parameter]:
    """``--date`` and an option for each of a kind's ``occurrence_fields`` (a list's
    repeated, one entry each)."""
    if not spec.occurrence_fields:
        return []
    params: list[click.Parameter] = [
        click.Option(
            [f"--{OCCURRENCE}", "occurrence_date"],
            metavar="YYYY-MM-DD",
            help=f"With --edit: which {spec.name} of a series "
            + ", ".join(f"--{f.name}" for f in spec.occurrence_fields)
            + " are for (a one-off's own date when not given).",
        )
    ]
    for f in spec.occurrence_fields:
        params.append(
            click.Option(
                [f"--{f.name}", f"occurrence_{f.name}"],
                multiple=bool(f.lines),
                help=f"With --edit: {f.help}.",
            )
        )
    return params


def pop_occurrence(spec: KindSpec, options: dict[str, Any]) -> dict[str, str]:
    """The occurrence options given, taken out of ``options``: field -> value (a list's
    entries one a line), and ``date`` when given."""
    given: dict[str, str] = {}
    day = options.pop("occurrence_date", None)
    for f in spec.occurrence_fields:
        value = options.pop(f"occurrence_{f.name}", None)
        if f.lines and value:
            given[f.name] = "\n".join(str(v).strip() for v in value)
        elif not f.lines and value is not None:
            given[f.name] = str(value)
    if day is not None:
        given[OCCURRENCE] = str(day)
    return given


def occurrence_values(
    spec: KindSpec, item: Mapping[str, Any], given: Mapping[str, str]
) -> dict[str, Any]:
    """What an update sets for one date of ``item`` (its row, as merged so far): the
    date checked against the item (``KindSpec.occurrence_of``), the values cleaned;
    :class:`BadPayload` names what is wrong."""
    values = {k: v for k, v in given.items() if k != OCCURRENCE}
    day = given.get(OCCURRENCE, "")
    if spec.occurrence_of is not None:
        day = spec.occurrence_of(item, day)
    return spec.build_occurrence(values, day)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def meeting_rows(
    rows: list[dict[str, Any]], weeks: int, past_weeks: int, now: datetime.datetime
) -> list[dict[str, Any]]:
    """One row per meeting: the coming ones in the next ``weeks`` (soonest first), then
    the past ones of the last ``past_weeks`` (latest first), each with its minutes and
    attendance. A date with minutes or attendance that is no longer one of the series'
    (the meeting was moved) is still listed among the past."""
    coming: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    for row in rows:
        values = {k: v for k, v in row.items() if isinstance(v, str)}
        records: dict[str, dict[str, str]] = row.get("occurrences") or {}
        back = datetime.timedelta(weeks=past_weeks)
        ahead = datetime.timedelta(weeks=weeks)
        seen = set()
        for o in meetings.occurrences(values, now - back, back + ahead):
            seen.add(o.day)
            target = coming if o.start >= now else past
            target.append(_occurrence_row(row, o.day, o.start, records.get(o.day, {}), now))
        first_day = (now - back).date().isoformat()
        for day, record in records.items():
            if day not in seen and first_day <= day <= now.date().isoformat():
                past.append(_occurrence_row(row, day, None, record, now))
    coming.sort(key=lambda r: (r["utc"], r["id"]))
    past.sort(key=lambda r: (r["utc"] or r["date"], r["id"]), reverse=True)
    return coming + past


def _occurrence_row(
    row: dict[str, Any],
    day: str,
    start: datetime.datetime | None,
    record: dict[str, str],
    now: datetime.datetime,
) -> dict[str, Any]:
    attended = [a for a in record.get("attended", "").split("\n") if a]
    guests = int(record.get("guests") or 0)
    utc = start.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if start else None
    return {
        "id": row["id"],
        "author": row["author"],
        "author_name": row.get("author_name", ""),
        "ts": row["ts"],
        "time": iso_time(row["ts"]),
        "suspect": suspect(row["ts"]),
        **{f.name: row.get(f.name, "") for f in meetings.SPEC.fields},
        "date": day,
        "start": start.isoformat() if start else None,
        "utc": utc,
        "coming": start is not None and start >= now,
        "minutes": record.get("minutes", ""),
        "attended": attended,
        "guests": guests,
        "count": len(attended) + guests,
        **({"private": True, "readers": row.get("readers", [])} if row.get("private") else {}),
    }


def show_meetings(rows: list[dict[str, Any]], as_json: bool, weeks: int, past_weeks: int) -> None:
    """``show meetings``: coming, then past; text or ``--json`` (docs/CLI.md)."""
    now = _now()
    listed = meeting_rows(rows, weeks, past_weeks, now)
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False, indent=1))
        return
    if not listed:
        click.echo(f"(no meeting in the last {past_weeks} weeks or the next {weeks})", err=True)
        return
    for row in listed:
        when = row["start"][:16].replace("T", " ") if row["start"] else row["date"]
        title = f"[private] {row['title']}" if row.get("private") else row["title"]
        parts = ["coming" if row["coming"] else "past  ", when, row["zone"], title]
        if row["place"]:
            parts.append(row["place"])
        if not row["coming"]:
            parts.append(f"{len(row['attended'])} attended + {row['guests']} guests")
            parts.append("minutes" if row["minutes"] else "no minutes")
        parts.append(f"by {row['author_name'] or row['author'][:12]}")
        parts.append(row["id"][:8])
        click.echo("  ".join(parts))
