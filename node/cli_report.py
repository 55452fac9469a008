"""``commune export-report ID``: a report for the paper, with the plans it contains, as
Markdown (docs/CLI.md). The text is made by :func:`markdown`, a function of the report,
its plans and its collective's name alone, so the same report gives the same file on
every node."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from node import private
from node.cli_common import Context, fail, pass_ctx
from node.cli_values import resolve_item
from node.home import write_private
from protocol import hlc
from protocol.envelope import SEALED
from protocol.kinds import report

#: the plan fields a report's table shows, in order, with their headings
PLAN_COLUMNS = (("title", "Plan"), ("owner", "Owner"), ("due", "Due"), ("status", "Status"))


def _cell(text: str) -> str:
    """One line of text in a table cell: a ``|`` would end the cell."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(
    row: Mapping[str, Any], plans: Sequence[Mapping[str, Any] | None], collective: str
) -> str:
    """The report as Markdown: its title, a line of what it is, its text, and a table of
    the plans it links to in the order it names them (a plan this node does not have is
    a row that says so, with its id)."""
    day = datetime.datetime.fromtimestamp(hlc.millis(int(row["ts"])) / 1000, tz=datetime.UTC)
    lines = [
        f"# {' '.join(str(row['title']).split())}",
        "",
        f"- Collective: {collective}",
        f"- Written: {day.date().isoformat()}",
        f"- State: {row.get('state') or report.DRAFT}",
    ]
    if row.get("link"):
        lines.append(f"- Published: <{row['link']}>")
    body = str(row.get("body") or "").strip()
    if body:
        lines += ["", body]
    ids = str(row.get("plans") or "").split()
    if ids:
        lines += ["", "## Plans", ""]
        lines.append("| " + " | ".join(h for _, h in PLAN_COLUMNS) + " |")
        lines.append("|" + "---|" * len(PLAN_COLUMNS))
        for plan_id, plan in zip(ids, plans, strict=True):
            if plan is None:
                cells = [f"(plan {plan_id[:12]} is not on this node)", "", "", ""]
            else:
                cells = [_cell(str(plan.get(name) or "")) for name, _ in PLAN_COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@click.command("export-report")
@click.argument("report_id", metavar="ID")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file (readable by its owner only) instead of standard output.",
)
@pass_ctx
def export_report(ctx: Context, report_id: str, out: Path | None) -> None:
    """A report for the paper, with the plans it contains, as Markdown."""
    with ctx.node() as node:
        sealed = bool(node.projector.counted_events_of_kinds([SEALED]))
        keys = ctx.keys_without_asking() if sealed else None
        item, is_private = resolve_item(node, keys, report.SPEC.name, report_id)
        reports = (
            private.items(node, keys, "report")
            if is_private and keys is not None
            else node.projector.rows("report")
        )
        row = next(r for r in reports if r["id"] == item.hex())
        plan_rows = {r["id"]: r for r in node.projector.rows("plan")}
        if keys is not None:
            plan_rows.update((r["id"], r) for r in private.items(node, keys, "plan"))
        plans = [plan_rows.get(p) for p in str(row.get("plans") or "").split()]
        names = {m["node_id"]: m["name"] for m in node.projector.members()}
        collective = names.get(row["author"]) or str(row["author"])[:12]
    text = markdown(row, plans, collective)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        write_private(out, text.encode("utf-8"))
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror}")
    click.echo(f"Wrote {out}.", err=True)


REPORT_COMMANDS = [export_report]
