"""Write the kinds' tables of docs/CLI.md and docs/PROTOCOL.md from the kinds' specs
(protocol/kinds), so that the docs describe every kind exactly as the code has it.

    python docs/make_kind_tables.py           rewrite the tables in place
    python docs/make_kind_tables.py --check   exit 1, naming the file, if one is stale

tests/test_kind_registry.py runs the check. What is written, and where:

- docs/CLI.md: the ``post`` and ``show`` headings, the table of ``post``'s options for
  each kind, and the fields of each kind's ``show --json`` (between
  ``<!-- kinds:NAME -->`` and ``<!-- /kinds:NAME -->``);
- docs/PROTOCOL.md §5.1: the rows of the kinds that create and change items, and the
  table of each kind's payload fields.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from protocol.kinds import EDITS, POSTABLE, KindSpec  # noqa: E402
from protocol.kinds.base import OCCURRENCE, Field  # noqa: E402

CLI = ROOT / "docs" / "CLI.md"
PROTOCOL = ROOT / "docs" / "PROTOCOL.md"
#: the options of ``post`` for each change an item takes
EDIT_OPTIONS = {
    "update": "--edit ID",
    "retract": "--retract ID",
    "delete": "--delete ID",
    "take": "--take ID",
    "leave": "--leave ID",
}


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _cell(text: str) -> str:
    """Text in a table cell: a ``|`` would end the cell."""
    return text.replace("|", "\\|")


def _option(f: Field) -> str:
    text = f"`{f.option}{' ' + f.metavar if f.metavar else ''}`"
    if f.required:
        text += " (required)"
    if f.many:
        text += " (repeatable)"
    if f.default:
        text += f" (default `{f.default}`)"
    return _cell(text)


def _row(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def post_table(specs: Iterable[KindSpec]) -> str:
    rows = ["| kind | options | changes |", "| --- | --- | --- |"]
    for spec in specs:
        options = ", ".join(_option(f) for f in spec.fields)
        if spec.private:
            options += "; always sealed (`--to` adds readers)"
        changes = _code(EDIT_OPTIONS[a] for a in spec.edit_kinds()) or "none"
        if spec.occurrence_fields:
            changes += "; with `--edit ID`, for one date: " + _cell(
                ", ".join(
                    [f"`--{OCCURRENCE} YYYY-MM-DD`"]
                    + [
                        f"`--{f.name}`" + (" (repeated)" if f.lines else "")
                        for f in spec.occurrence_fields
                    ]
                )
            )
        if spec.slots is not None:
            slot, who = spec.slots.slot, spec.slots.who
            changes += (
                f"; with `--take` or `--leave`: `--{slot.name} {slot.metavar}`, `--{who.name}`"
            )
        rows.append(_row(f"`{spec.name}`", options, changes))
    return "\n".join(rows)


def show_json(specs: Iterable[KindSpec]) -> str:
    lines = []
    for spec in specs:
        fields = [
            f"`{f.name}` (`{f.metavar}` or empty)"
            if f.date
            else f"`{f.name}` (an array)"
            if f.many
            else f"`{f.name}` (an array of `ts`, `author`, `author_name`, `text`)"
            if f.append
            else f"`{f.name}`"
            for f in spec.fields
        ]
        names = ", ".join(
            ["`id`", "`author`", "`author_name`", "`ts`", "`time`", "`suspect`", *fields]
        )
        if spec.occurrence_fields:
            names = f"one object per {spec.name} of a series, below"
        if spec.slots is not None:
            slots = spec.slots
            own = [slots.slot.name, "starts_at", "ends_at", "taken_by", "short", "note"]
            names = (
                f"one object per slot (a {slots.slot.name} of a {spec.name}): "
                + ", ".join(
                    ["`id`", "`author`", "`author_name`", "`ts`", *fields] + [f"`{n}`" for n in own]
                )
                + (f" (`{slots.needed}` a number)" if slots.needed else "")
            )
        lines.append(f"`show {spec.plural} --json`: {names}.")
    return "\n".join(lines)


def _rule(f: Field) -> str:
    fixed = "" if f.editable else "; not changed by an update"
    if f.date:
        return "an ISO date `YYYY-MM-DD`" + fixed
    if f.choices:
        text = f"one of {_code(f.choices)}"
        return text + (f"; `{f.default}` when not given" if f.default else "") + fixed
    if f.refs:
        return f"ids of `{f.refs}` items (64 hex digits), one space apart, at most {f.many}"
    if f.append:
        return "a history: each event that writes it adds an entry (§5.3)"
    if f.many:
        return f"words one space apart, each once, at most {f.many}" + fixed
    return fixed[2:]


def fields_table(specs: Iterable[KindSpec]) -> str:
    rows = [
        "| kind | field | required | max length | lines | other rule when written |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in specs:
        for i, f in enumerate(spec.fields):
            kind = f"`{spec.name}`" if i == 0 else ""
            lines = "many" if f.multiline else "one"
            required = "yes" if f.required else ""
            rows.append(_row(kind, f"`{f.name}`", required, str(f.max_len), lines, _rule(f)))
        for f in spec.occurrence_fields:
            lines = "many" if f.multiline else "one"
            rule = f"for one date: an update's `{OCCURRENCE}` (§5.3)"
            rows.append(_row("", f"`{f.name}`", "", str(f.max_len), lines, rule))
    return "\n".join(rows)


def _between(text: str, name: str, body: str) -> str:
    start, end = f"<!-- kinds:{name} -->", f"<!-- /kinds:{name} -->"
    if text.count(start) != 1 or text.count(end) != 1:
        raise SystemExit(f"the markers {start} ... {end} must each be there once")
    before, rest = text.split(start)
    _, after = rest.split(end)
    return f"{before}{start}\n{body}\n{end}{after}"


def _line(text: str, pattern: str, line: str) -> str:
    """Replace the one line that matches ``pattern``."""
    found = re.findall(pattern, text, flags=re.M)
    if len(found) != 1:
        raise SystemExit(f"{len(found)} lines match {pattern!r}; there must be one")
    return re.sub(pattern, lambda _: line, text, flags=re.M)


def cli_md(text: str, specs: list[KindSpec]) -> str:
    names = "|".join(spec.name for spec in specs)
    plurals = "|".join(spec.plural for spec in specs)
    text = _line(text, r"^### `post .*$", f"### `post {names} [FIELD OPTIONS] | --from FILE`")
    text = _line(
        text,
        r"^### `show .*$",
        f"### `show {plurals}|members|peers|unknown [--json] [--private] [--for-paper] "
        "[--due] [--tag NAME]`",
    )
    text = _between(text, "post", post_table(specs))
    return _between(text, "show-json", show_json(specs))


def protocol_md(text: str, specs: list[KindSpec]) -> str:
    creates = _code(spec.name for spec in specs)
    text = _line(
        text, r"^\|.*\| create an item \| §5\.1 \|$", f"| {creates} | create an item | §5.1 |"
    )
    changes = _code(EDITS)
    text = _line(
        text, r"^\|.*\| change an item \| §5\.3 \|$", f"| {changes} | change an item | §5.3 |"
    )
    return _between(text, "fields", fields_table(specs))


def main(argv: list[str]) -> int:
    specs = list(POSTABLE.values())
    stale = []
    for path, write in ((CLI, cli_md), (PROTOCOL, protocol_md)):
        text = path.read_text(encoding="utf-8")
        new = write(text, specs)
        if new != text:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(new, encoding="utf-8")
    if stale and "--check" in argv:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"the kinds' tables of {names} are stale: run python docs/make_kind_tables.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
