"""``commune calendar FILE.ics``: the node's shifts, meetings and plans' due dates as an
iCalendar file, the same text as the web view's ``/calendar.ics`` (node/ics.py) for a
calendar app to import (docs/CLI.md)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import click

from node.cli_common import Context, fail, pass_ctx
from node.home import write_private
from protocol import calendar
from protocol.kinds.base import check_date

#: the most weeks one file covers (the calendar's own bound, protocol/calendar.py)
MAX_WEEKS = calendar.MAX_DAYS // 7


def _first_day(text: str | None) -> datetime.date | None:
    if text is None:
        return None
    if (problem := check_date(text)) is not None:
        fail(f"--since {problem}", 2)
    return datetime.date.fromisoformat(text)


@click.command("calendar")
@click.argument("out", metavar="FILE.ics", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    help=f"The first day (default: {calendar.PAST_WEEKS} weeks ago).",
)
@click.option(
    "--weeks",
    type=click.IntRange(1, MAX_WEEKS),
    help=f"How many weeks from the first day, 1 to {MAX_WEEKS} "
    f"(default: up to {calendar.COMING_WEEKS} weeks ahead).",
)
@pass_ctx
def calendar_file(ctx: Context, out: str, since: str | None, weeks: int | None) -> None:
    """Write the shifts, meetings and plans' due dates to FILE.ics (- for standard
    output), for a calendar app. Private items are left out: the file is not encrypted."""

    from node import ics  # noqa: PLC0415

    first = _first_day(since)
    viewer = ics.machine_zone()
    with ctx.node() as node:
        today = datetime.datetime.fromtimestamp(node.clock(), tz=viewer).date()
        default_first, default_last = ics.default_range(today)
        first = first if first is not None else default_first
        if weeks is not None:
            last = first + datetime.timedelta(weeks=weeks, days=-1)
        else:
            last = default_last if default_last >= first else first
        last = min(last, first + datetime.timedelta(days=calendar.MAX_DAYS - 1))
        text, found = ics.node_feed(node, first, last, viewer)
    if out == "-":
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
        return
    try:
        write_private(Path(out), text)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror}")
    counted = f"{len(found.entries)} entr{'y' if len(found.entries) == 1 else 'ies'}"
    if found.cut:
        counted += f" (the first {calendar.MAX_ENTRIES}: give fewer --weeks for the rest)"
    click.echo(
        f"Wrote {out}: {counted} from {first} to {last}, readable by you only. "
        "Private items are left out: the file is not encrypted.",
        err=True,
    )


CALENDAR_COMMANDS = [calendar_file]
