"""``show``'s text output, for people (docs/CLI.md): a header and one line per item,
in aligned columns: the start of its id (what ``--edit`` and ``export-report`` take),
when it was written (left out on a terminal under 100 columns for a kind with a date
of its own, a plan's due date, and on one too narrow for it), by which collective (its
name), the kind's short columns (a state, a status, a due date: fields with choices or
dates), and what it is: its notes in brackets (``[private]``, but not for a kind whose
items all are, ``[overdue]``, ``[future]``: written by a clock far ahead), its title,
the kind's other columns and the start of its text, on one line cut with an ellipsis
at the terminal's width ($COLUMNS, else 80 when the output is not a terminal).
``--json`` gives everything in full. ``show members``' lines too: name, role, state
and the start of the node id, within 80 columns.
"""

from __future__ import annotations

import datetime
import shutil
import unicodedata
from collections.abc import Mapping
from typing import Any

from node.cli_common import suspect
from node.terminal import safe
from protocol import hlc
from protocol.kinds import KindSpec
from protocol.kinds.base import OVERDUE, TS

#: how much of an item's id is shown (a prefix that ``--edit ID`` takes)
ID_WIDTH = 8
#: the collective's name is cut to this many columns
WHO_WIDTH = 16
#: a member's name is cut to this many columns in ``show members``
MEMBER_NAME = 24
#: below this terminal width the time of day is left out of WRITTEN
WIDE = 100
#: the fewest columns WHAT keeps, however narrow the terminal
MIN_WHAT = 20
GAP = "  "
ELLIPSIS = "…"


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first), 80 when the output is not a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def cells(text: str) -> int:
    """How many columns ``text`` takes on a terminal: none for a combining mark (the
    vowel signs of Hindi), two for a wide character (Chinese, Japanese)."""
    return sum(_cell(c) for c in text)


def _cell(c: str) -> int:
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, ending in an ellipsis when it was cut."""
    if cells(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        size = _cell(c)
        if used + size > width - 1:
            break
        out.append(c)
        used += size
    return "".join(out).rstrip() + ELLIPSIS


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def one_line(value: Any) -> str:
    """A value as shown in a column: on one line, every character a terminal would act
    on shown as an escape (node/terminal.py) before it is measured."""
    return safe(" ".join(str(value or "").split()))


def item_lines(
    spec: KindSpec,
    rows: list[dict[str, Any]],
    names: Mapping[str, str],
    *,
    today: str,
    width: int,
) -> list[str]:
    """The header and one line per item of ``spec``'s ``rows`` (each with its fields,
    ``id``, ``author`` and ``ts``; ``private`` when sealed), ``names`` the members'
    names by node id (hex), ``today`` the viewer's local date (what is overdue)."""
    fields = {f.name: f for f in spec.fields}
    shown = [c for c in spec.listing.show if c != TS and c in fields]
    short = [c for c in shown if fields[c].choices or fields[c].date]
    rest = [c for c in shown if c not in short]
    title = rest[0] if rest else spec.field_names()[0]
    others = [c for c in rest if c != title]
    text = next((f.name for f in spec.fields if f.multiline and not f.append), "")
    dated = OVERDUE in spec.listing.filters
    wide = width >= WIDE
    header = ["ID", "WRITTEN" + (" (UTC)" if wide else ""), "BY", *(c.upper() for c in short)]
    table: list[list[str]] = []
    for row in rows:
        notes = [  # every item of a private kind is private: none is marked
            "[private]" if row.get("private") and not spec.private else "",
            "[overdue]" if dated and spec.listing.is_overdue(row, today) else "",
            "[future]" if suspect(row["ts"]) else "",
        ]
        what = " ".join(filter(None, [*notes, one_line(row.get(title))]))
        what = " · ".join(filter(None, [what, *(one_line(row.get(c)) for c in others)]))
        body = one_line(row.get(text)) if text else ""
        author = str(row.get("author", ""))
        table.append(
            [
                str(row["id"])[:ID_WIDTH],
                _written(row["ts"], wide),
                cut(one_line(names.get(author)) or author[:12], WHO_WIDTH),
                *(one_line(row.get(c)) for c in short),
                f"{what} — {body}" if body else what,
            ]
        )
    widths = [max(cells(h), *(cells(r[i]) for r in table)) for i, h in enumerate(header)]
    room = width - sum(widths) - len(GAP) * len(widths)
    # when it was written gives way on a narrow terminal: first for a kind with a date
    # of its own (a plan's due), then for any whose WHAT would be too narrow
    keep = [i != 1 or (wide or not spec.listing.dated_by) for i in range(len(header))]
    if keep[1] and room < MIN_WHAT:
        keep[1] = False
    if not keep[1]:
        room += widths[1] + len(GAP)
    lines = []
    for cols in [[*header, "WHAT"], *table]:
        left = GAP.join(pad(c, w) for c, w, k in zip(cols, widths, keep, strict=False) if k)
        lines.append(f"{left}{GAP}{cut(cols[-1], max(MIN_WHAT, room))}".rstrip())
    return lines


def member_lines(members: list[dict[str, Any]]) -> list[str]:
    """``show members``: a header and one aligned line per member: its name (cut to
    :data:`MEMBER_NAME` columns), role, state (``admitted``, ``REVOKED after seq N``,
    ``FORKED at seq N``) and the first 16 hex digits of its node id (``revoke``,
    ``role`` and ``--to`` take 6 or more); within 80 columns. ``--json`` has the whole id."""
    table = []
    for m in members:
        state = {
            "revoked": f"REVOKED after seq {m['cutoff']}",
            "forked": f"FORKED at seq {m['forked_at']}",
        }.get(m["state"], m["state"])
        role = "admin" if m["roles"] else "member"
        table.append([cut(one_line(m["name"]), MEMBER_NAME), role, state, m["node_id"][:16]])
    header = ["NAME", "ROLE", "STATE", "NODE ID"]
    widths = [max(cells(h), *(cells(r[i]) for r in table)) for i, h in enumerate(header)]
    return [
        GAP.join(pad(c, w) for c, w in zip(cols, widths, strict=True)).rstrip()
        for cols in [header, *table]
    ]


def _written(ts: int, with_time: bool) -> str:
    moment = datetime.datetime.fromtimestamp(hlc.millis(ts) / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
