"""``commune post`` and ``commune show``: the commands built from the kinds' specs
(protocol/kinds, docs/CLI.md).

``post`` has a command for each kind of the registry and ``show`` a choice for each,
made from the kind's spec: its fields (options), the changes its items take
(``--edit``, ``--retract``, ``--delete``), whether it is private (always sealed), its
plural (``show reports``) and its ``show`` columns. :func:`kind_commands` makes them
again whenever a command runs, so a kind registered after this module was imported
has them too. ``$COMMUNE_EXTRA_KINDS`` names modules (separated by commas), each with
a ``SPEC`` as a module of protocol/kinds has, whose kinds one process registers
(:func:`register_extra_kinds`): a kind being tried out, or a test's throwaway kind run
through the real command.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click

from crypto.identity import NodeKeys
from node import cli_listing, cli_meeting, private
from node.cli_common import (
    Context,
    fail,
    human_time,
    iso_time,
    pass_ctx,
    peer_line,
    peer_rows,
    suspect,
)
from node.cli_entries import (
    CHANGE_WORDS,
    Entry,
    Posting,
    entry_problem,
    file_entries,
    post_entries,
)
from node.cli_slots import pop_slot_options, show_slots, slot_options
from node.cli_sync import confirm_feed
from node.cli_values import given_values
from node.service import Node
from protocol.envelope import SEALED
from protocol.kinds import POSTABLE, KindSpec, register_module, report
from protocol.kinds.base import OVERDUE, TS
from protocol.kinds.edits import UPDATE

#: modules of kinds that this process registers besides those of protocol/kinds
EXTRA_KINDS = "COMMUNE_EXTRA_KINDS"


class KindGroup(click.Group):
    """``post``'s commands, one per kind, each also found by its kind's plural
    (``post reports`` as ``post report``): a kind is named either way everywhere."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        plurals = {s.plural: s.name for s in POSTABLE.values()}
        return super().get_command(ctx, plurals.get(cmd_name, cmd_name))


class KindChoice(click.Choice[str]):
    """``show``'s WHAT: a kind's plural, or its name (``show report`` as ``show
    reports``; ``member``, ``peer`` too); the value is always the plural."""

    def __init__(self, words: dict[str, str]) -> None:
        super().__init__(list(dict.fromkeys(words.values())))
        self.words = words

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            value = self.words.get(value, value)
        return super().convert(value, param, ctx)


@click.group(cls=KindGroup)
def post() -> None:
    """Append an event to this node's feed."""


def _post_command(spec: KindSpec) -> click.Command:
    """``post <kind>``: its fields as options, ``--from``, ``--to``, and an option for
    each change its items take (``--edit``, ``--retract``, ``--delete``, ``--take``,
    ``--leave``). One post from the options, or one per row of the file ``--from``
    names, each made by node/cli_entries.py."""
    edits = spec.edit_kinds()

    def run(ctx: Context, **options: Any) -> None:
        source = options.pop("source")
        to: tuple[str, ...] = options.pop("to")
        changes = {a: options.pop(a) for a in CHANGE_WORDS if a in options}
        chosen = [(a, str(target)) for a, target in changes.items() if target is not None]
        action, target = chosen[0] if chosen else ("", "")
        entry = Entry(
            action=action,
            target=target,
            slot=pop_slot_options(spec, options),
            occurrence=cli_meeting.pop_occurrence(spec, options),
            fields=given_values(spec, options),
        )
        if len(chosen) + (source is not None) > 1:
            words = ", ".join(f"--{CHANGE_WORDS[a]}" for a in edits)
            fail(f"give only one of --from, {words}", 2)
        entries = [(0, entry)]
        if source is not None:
            typed = [*entry.fields, *entry.slot, *entry.occurrence]
            if typed:
                given = ", ".join(typed)
                fail(f"give either --from or the values of one post, not both ({given})", 2)
            data = click.open_file(source, "rb").read() if source == "-" else _read(source)
            entries = file_entries(spec, data, source)
        elif (problem := entry_problem(spec, entry)) is not None:
            fail(problem, 2)
        keys = ctx.keys()
        with ctx.node() as node:
            confirm_feed(node, keys)
            private.publish_keys(node, keys)
            events, posting = post_entries(node, keys, spec, entries, source=source, to=to)
        _posted(spec, events, posting)

    params: list[click.Parameter] = [
        *slot_options(spec),
        click.Option(
            ["--from", "source"],
            metavar="FILE",
            help="Post many new items or changes, one a row of a CSV file with a header row "
            "or of JSON lines ('-': stdin); its columns are these options' names.",
        ),
        click.Option(
            ["--to", "to"],
            multiple=True,
            metavar="NODE",
            help="Seal it for this member (node id, id prefix or name); repeat for several. "
            + (
                f"{spec.plural.capitalize()} are always sealed: to this node alone unless "
                "--to names others."
                if spec.private
                else "Without --to it is public to the network."
            ),
        ),
    ]
    for action in edits:
        params.append(
            click.Option(
                [f"--{CHANGE_WORDS[action]}", action],
                metavar="ID",
                help=f"{action.capitalize()} the {spec.name} with this id (or a unique prefix)"
                + (": give the fields to change." if action == UPDATE else "."),
            )
        )
    for f in spec.fields:
        params.append(
            click.Option(
                [f.option, f.name],
                multiple=bool(f.many),
                metavar=f.metavar or None,
                help=f.help + (" (required)" if f.required else ""),
            )
        )
    return click.Command(
        spec.name,
        callback=click.pass_obj(run),
        params=[*params, *cli_meeting.occurrence_options(spec)],
        help=spec.help + f"\n\nFields: {', '.join(spec.field_names())}.",
    )


def _posted(spec: KindSpec, events: list[Any], posting: Posting) -> None:
    """Say what was posted: each new event's id, and for new private items how many
    nodes can read them."""
    for event in events:
        click.echo(event.id.hex())
    if len(events) > 1:
        made = [f"{posting.new} new {spec.plural}"] if posting.new else []
        made += [f"{posting.changed} changes of {spec.plural}"] if posting.changed else []
        click.echo(f"Posted {len(events)} events ({', '.join(made)}).", err=True)
    if posting.new and posting.readers:
        others = len(posting.readers) - 1
        click.echo(
            f"Private: readable by this node{f' and {others} other' if others else ''}"
            f"{'s' if others > 1 else ''} only.",
            err=True,
        )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        rows = [dict(row, time=iso_time(row["ts"]), suspect=suspect(row["ts"])) for row in rows]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("(none)", err=True)
        return
    for row in rows:
        parts = [human_time(row["ts"]) if c == TS else str(row.get(c, "")) for c in columns]
        click.echo("  ".join(p for p in parts if p))


def _note_pending_admission(node: Node) -> None:
    """A node that joined counts nothing of its own until its admission (an event in
    its admitter's feed) reaches it; say so rather than look empty (docs/CLI.md)."""
    membership = node.membership()
    if membership is None or membership.get(node.node_id) is not None:
        return
    head = node.store.head(node.node_id)
    if head is not None:
        click.echo(
            f"note: this node's {head.seq} own events will show once its admission reaches "
            "it: sync with, or import a bundle from, the node that admitted it.",
            err=True,
        )


#: what ``show`` shows besides the kinds' items (and a word for each)
SHOW_OTHERS = ("members", "peers", "unknown")
OTHER_WORDS = {"member": "members", "peer": "peers"}


def show_words() -> dict[str, str]:
    """Every word ``show`` takes, its plural and its name for each kind, and what it
    means (a plural)."""
    words = {}
    for spec in POSTABLE.values():
        words[spec.plural] = words[spec.name] = spec.plural
    for other in SHOW_OTHERS:
        words[other] = other
    return {**words, **OTHER_WORDS}


@click.command()
@click.argument("what", metavar="WHAT", type=KindChoice(show_words()))
@click.option(
    "--private",
    "show_private",
    is_flag=True,
    help="Also open the private items addressed to this node (asks for the passphrase).",
)
@click.option(
    "--for-paper",
    is_flag=True,
    help="Reports only: the editors' queue, the reports in the state for-paper, oldest first.",
)
@click.option(
    "--due",
    is_flag=True,
    help="Only the items whose date (a contact's next step, a plan's due date) is today or "
    "past, by this computer's local date, and still open; the earliest first.",
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 52),
    help=f"Meetings and shifts: how many weeks ahead to list (meetings {cli_meeting.WEEKS}, "
    "shifts 4).",
)
@cli_meeting.past_weeks_option
@click.option(
    "--start",
    metavar="YYYY-MM-DD",
    help="Shifts only: the first day to list (default: today).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="NAME",
    help="Only the items with this concentration (tag); repeat: with all of them.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts (docs/CLI.md).")
@pass_ctx
def show(
    ctx: Context,
    *,
    what: str,
    as_json: bool,
    show_private: bool,
    for_paper: bool,
    due: bool,
    tags: tuple[str, ...],
    weeks: int | None,
    start: str | None,
    past_weeks: int,
) -> None:
    """Show the network's items, members, or events of unknown kinds."""
    if for_paper and what != report.SPEC.plural:
        fail(f"--for-paper applies to {report.SPEC.plural} only, not {what}", 2)
    dated = [s.plural for s in POSTABLE.values() if OVERDUE in s.listing.filters]
    if due and what not in dated:
        fail(f"--due applies to {', '.join(dated)} only, not {what}", 2)
    with ctx.node() as node:
        _note_pending_admission(node)
        if what == "members":
            rows = node.projector.members()
            if as_json:
                click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
                return
            for line in cli_listing.member_lines(rows):
                click.echo(line)
            return
        if what == "peers":
            rows = peer_rows(node)
            if as_json:
                click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
                return
            if not rows:
                click.echo("(none: `commune peer add https://HOST:PORT`)", err=True)
            for row in rows:
                click.echo(peer_line(row))
            return
        names = member_names(node)
        if what == "unknown":
            rows = with_names(node.projector.unknown(), names)
            _emit(rows, as_json, ["ts", "kind", "reason", "author_name", "author", "id"])
            return
        spec = next(s for s in POSTABLE.values() if s.plural == what)
        kind = spec.name
        rows = node.projector.rows(kind)
        # Private items are opened in memory with this node's keys: those of a private
        # kind (contacts) always (the passphrase is asked for), other kinds' with
        # --private or when the keys open without asking.
        if spec.private or show_private:
            keys: NodeKeys | None = ctx.keys()
        elif node.projector.counted_events_of_kinds([SEALED]):
            keys = ctx.keys_without_asking()
            if keys is None:
                click.echo(
                    f"note: private {what} (if any are addressed to this node) are not shown: "
                    "add --private to give the passphrase",
                    err=True,
                )
        else:
            keys = None
        if keys is not None:
            opened = private.items(node, keys, kind)
            rows = sorted([*rows, *opened], key=lambda r: (r["ts"], r["id"]))
        rows = _narrowed(spec, rows, for_paper=for_paper, due=due, tags=tags)
        if as_json:
            rows = [spec.with_lists(r) for r in rows]  # a list as a JSON array
        rows = with_names(rows, names)
        if show_slots(spec, rows, (start, weeks), as_json):
            return
        if spec.occurrence_fields:
            cli_meeting.show_meetings(rows, as_json, weeks or cli_meeting.WEEKS, past_weeks)
            return
        if as_json or not rows:
            _emit(rows, as_json, [])
            return
        today, width = datetime.date.today().isoformat(), cli_listing.terminal_width()
        for line in cli_listing.item_lines(spec, rows, names, today=today, width=width):
            click.echo(line)


def member_names(node: Node) -> dict[str, str]:
    """The members' names (their collectives') by node id in hex, and this node's own
    (which it knows before it is in a network)."""
    membership = node.membership()
    members = membership.members if membership is not None else {}
    names = {node.node_id.hex(): node.home.identity().name}
    return {**names, **{node_id.hex(): m.name for node_id, m in members.items()}}


def with_names(rows: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Each row with ``author_name`` beside ``author`` (empty for a node that is not a
    member), and so each entry of a history it has (a contact's)."""
    out = []
    for row in rows:
        named = _named(row, names)
        for key, value in row.items():
            if (
                isinstance(value, list)
                and value
                and all(isinstance(v, dict) and "author" in v for v in value)
            ):
                named[key] = [_named(v, names) for v in value]
        out.append(named)
    return out


def _named(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``row`` with ``author_name`` right after ``author``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "author":
            out["author_name"] = names.get(str(value), "")
    return out


def _narrowed(
    spec: KindSpec, rows: list[dict[str, Any]], *, for_paper: bool, due: bool, tags: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``show``'s --for-paper (oldest first, as every list here), --tag (all of them)
    and --due (the viewer's local date decides what is listed, nothing else)."""
    if for_paper:
        rows = [r for r in rows if r.get("state") == report.FOR_PAPER]
    if tags:
        wanted = {t.strip().casefold() for t in tags}
        rows = [r for r in rows if wanted <= set(str(r.get("tags") or "").split())]
    if due:
        today, by = datetime.date.today().isoformat(), spec.listing.dated_by
        rows = [r for r in rows if spec.listing.is_due(r, today)]
        rows.sort(key=lambda r: (str(r.get(by)), r["ts"], r["id"]))
    return rows


def kind_commands() -> None:
    """Make ``post``'s commands and ``show``'s choices those of the registry's kinds:
    when this module is imported, and again when a command runs (kinds registered
    since, by $COMMUNE_EXTRA_KINDS or by a test, have theirs too)."""
    specs = list(POSTABLE.values())
    post.commands = {spec.name: _post_command(spec) for spec in specs}
    plurals = [spec.plural for spec in specs]
    what = next(p for p in show.params if p.name == "what")
    what.type = KindChoice(show_words())
    show.help = f"Show the network's {', '.join(plurals)}, members, or events of unknown kinds."


def register_extra_kinds(names: str | None) -> None:
    """Register the kinds of the modules named (separated by commas) in
    $COMMUNE_EXTRA_KINDS: each has a ``SPEC``, as a module of protocol/kinds has."""
    for name in filter(None, (n.strip() for n in (names or "").split(","))):
        try:
            register_module(name)
        except (ImportError, ValueError) as e:
            fail(f"${EXTRA_KINDS} names {name!r}, which gives no kind: {e}")


kind_commands()
ITEM_COMMANDS = [post, show]
