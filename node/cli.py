"""The ``commune`` command: a thin layer over the library (docs/CLI.md).

Commands call ``node.service`` and turn any :class:`CommuneError` into one line on
stderr and a non-zero exit; no traceback for anything a user can cause.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import private, terminal
from node.cli_common import (
    INSECURE_WARNING,
    Context,
    fail,
    human_time,
    iso_time,
    pass_ctx,
    passphrase,
    suspect,
)
from node.cli_keys import KEY_COMMANDS
from node.cli_network import NETWORK_COMMANDS
from node.cli_status import STATUS_COMMANDS
from node.cli_sync import SYNC_COMMANDS, confirm_feed
from node.home import default_home
from node.importer import build_payloads
from node.peers import known_peers
from node.service import Node
from protocol.envelope import SEALED, Event
from protocol.kinds import EDITS, POSTABLE, KindSpec
from protocol.kinds.edits import DELETE, RETRACT, UPDATE


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The node folder (default: $COMMUNE_HOME, else ~/.commune).",
)
@click.version_option(package_name="commune-sync", prog_name="commune")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Commune: signed, event-sourced sync for collectives.

    Each collective runs one node. Members post reports, plans and contacts; nodes sync
    them with each other; a local web page shows everything.
    """
    context = Context(home or default_home())
    ctx.obj = context
    try:
        if context.home.key_path.exists() and not context.home.key_is_encrypted():
            click.echo(INSECURE_WARNING, err=True)
    except CommuneError:
        pass  # the command itself reports a damaged key file


@cli.command()
@click.option("--name", required=True, help="The collective's name, as other nodes will see it.")
@click.option(
    "--insecure-no-passphrase",
    is_flag=True,
    help="Store the key without a passphrase (demos and tests only).",
)
@pass_ctx
def init(ctx: Context, name: str, insecure_no_passphrase: bool) -> None:
    """Make this node's keys and print its node card.

    The passphrase is asked for at the prompt, or read from $COMMUNE_PASSPHRASE.
    """
    secret = None if insecure_no_passphrase else passphrase(confirm=True)
    if insecure_no_passphrase:
        click.echo(INSECURE_WARNING, err=True)
    identity, _ = ctx.home.init(name.strip(), secret)
    click.echo(f"Made the keys of {identity.name!r} in {ctx.home.path}.", err=True)
    click.echo(f"Node id: {identity.node_id.hex()}", err=True)
    click.echo("Its card, to give to an admin of the network over a channel you trust:", err=True)
    click.echo(identity.card.to_text())


@cli.command()
@pass_ctx
def card(ctx: Context) -> None:
    """Print this node's card."""
    click.echo(ctx.home.identity().card.to_text())


@cli.group()
def post() -> None:
    """Append an event to this node's feed."""


def _post_command(spec: KindSpec) -> click.Command:
    edits = {e.action: e for e in EDITS.values() if e.target == spec.name}

    def run(ctx: Context, **options: Any) -> None:
        source = options.pop("source")
        to: tuple[str, ...] = options.pop("to")
        changes = {a: options.pop(a) for a in (UPDATE, RETRACT, DELETE) if a in options}
        given = {k: v for k, v in options.items() if v is not None}
        chosen = [a for a, target in changes.items() if target is not None]
        if len(chosen) + (source is not None) > 1:
            fail("give only one of --from, --edit, --retract, --delete", 2)
        keys = ctx.keys()
        with ctx.node() as node:
            confirm_feed(node, keys)
            private.publish_keys(node, keys)
            items: list[tuple[str, dict[str, Any]]]
            target: bytes | None = None
            is_private = False
            if source is not None:
                if given:
                    fail(f"give either --from or field options, not both ({', '.join(given)})", 2)
                data = click.open_file(source, "rb").read() if source == "-" else _read(source)
                items = [(spec.name, p) for p in build_payloads(spec, data, source)]
            elif chosen:
                action = chosen[0]
                if action != UPDATE and given:
                    fail(f"--{action} takes no field options ({', '.join(given)})", 2)
                fields = spec.build_update(given) if action == UPDATE else {}
                target, is_private = resolve_item(node, keys, spec.name, str(changes[action]))
                # ranks after every value of the item this node has seen (§5.3)
                after = (
                    private.item_latest(node, keys, spec.name, target)
                    if is_private
                    else node.projector.item_latest(spec.name, target)
                )
                items = [(edits[action].name, {"v": 1, "of": target, "after": after, **fields})]
            else:
                items = [(spec.name, spec.build(given))]
            readers = _readers(node, keys, spec, target=target, is_private=is_private, to=to)
            if readers:
                events = node.post(
                    keys, [private.seal_item(node, keys, k, p, readers) for k, p in items]
                )
            else:
                events = node.post(keys, items)
        for event in events:
            click.echo(event.id.hex())
        if len(events) > 1:
            click.echo(f"Posted {len(events)} {spec.name}s.", err=True)
        if readers and target is None:
            others = len(readers) - 1
            click.echo(
                f"Private: readable by this node{f' and {others} other' if others else ''}"
                f"{'s' if others > 1 else ''} only.",
                err=True,
            )

    params: list[click.Parameter] = [
        click.Option(
            ["--from", "source"],
            metavar="FILE",
            help="Post many, from a CSV file with a header row or JSON lines ('-': stdin).",
        ),
        click.Option(
            ["--to", "to"],
            multiple=True,
            metavar="NODE",
            help="Seal it for this member (node id, id prefix or name); repeat for several. "
            + (
                "Contacts are always sealed: to this node alone unless --to names others."
                if spec.private
                else "Without --to it is public to the network."
            ),
        ),
    ]
    flags = {UPDATE: "--edit", RETRACT: "--retract", DELETE: "--delete"}
    for action in edits:
        params.append(
            click.Option(
                [flags[action], action],
                metavar="ID",
                help=f"{action.capitalize()} the {spec.name} with this id (or a unique prefix)"
                + (": give the fields to change." if action == UPDATE else "."),
            )
        )
    for f in spec.fields:
        params.append(
            click.Option([f"--{f.name}"], help=f.help + (" (required)" if f.required else ""))
        )
    return click.Command(
        spec.name,
        callback=click.pass_obj(run),
        params=params,
        help=spec.help + f"\n\nFields: {', '.join(spec.field_names())}.",
    )


def _readers(
    node: Node,
    keys: NodeKeys,
    spec: KindSpec,
    *,
    target: bytes | None,
    is_private: bool,
    to: tuple[str, ...],
) -> dict[bytes, bytes]:
    """Whom to seal to (none: public). Contacts are sealed to this collective alone
    unless --to names others; any other kind is sealed when --to names someone; an edit
    follows its item, to the item's readers who are still members."""
    if target is not None and is_private:
        return private.edit_recipients(node, keys, target, to)
    if target is None and (spec.private or to):
        return private.recipients(node, keys, to)
    if to:
        fail("that item is public: --to applies to new items and to private ones", 2)
    return {}


def resolve_item(node: Node, keys: NodeKeys, kind: str, text: str) -> tuple[bytes, bool]:
    """An item's id from its hex id or a unique prefix of at least 6 digits, and
    whether it is private (sealed)."""
    wanted = text.strip().lower()
    if len(wanted) < 6 or any(c not in "0123456789abcdef" for c in wanted):
        fail(f"{text!r} is not an id: give the id shown by `commune show {kind}s` (6+ digits)")
    matches = [
        (bytes(row[0]), False)
        for row in node.store.execute(
            "SELECT id FROM items WHERE kind = ? AND hex(id) LIKE ?", (kind, wanted.upper() + "%")
        )
    ]
    matches += [
        (bytes.fromhex(row["id"]), True)
        for row in private.items(node, keys, kind)
        if row["id"].startswith(wanted)
    ]
    if len(matches) != 1:
        problem = "no" if not matches else "more than one"
        fail(f"{problem} {kind} has an id starting with {wanted}")
    return matches[0]


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


for _spec in POSTABLE.values():
    post.add_command(_post_command(_spec))


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        rows = [dict(row, time=iso_time(row["ts"]), suspect=suspect(row["ts"])) for row in rows]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("(none)", err=True)
        return
    for row in rows:
        parts = [human_time(row["ts"]) if c == "ts" else str(row.get(c, "")) for c in columns]
        click.echo("  ".join(p for p in parts if p))


SHOW_COLUMNS = {
    "reports": ("report", ["ts", "title"]),
    "plans": ("plan", ["due", "status", "title", "owner"]),
    "contacts": ("contact", ["name", "phone", "email", "place"]),
}


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


@cli.command()
@click.argument("what", type=click.Choice([*SHOW_COLUMNS, "members", "peers", "unknown"]))
@click.option(
    "--private",
    "show_private",
    is_flag=True,
    help="Also open the private items addressed to this node (asks for the passphrase).",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts (docs/CLI.md).")
@pass_ctx
def show(ctx: Context, what: str, as_json: bool, show_private: bool) -> None:
    """Show the network's reports, plans, contacts, members, or events of unknown kinds."""
    with ctx.node() as node:
        _note_pending_admission(node)
        if what == "members":
            rows = node.projector.members()
            if as_json:
                click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
                return
            for m in rows:
                role = "admin" if m["roles"] else "member"
                state = {
                    "revoked": f"REVOKED after seq {m['cutoff']}",
                    "forked": f"FORKED at seq {m['forked_at']}",
                }.get(m["state"], m["state"])
                click.echo(f"{m['name']:<24} {role:<7} {state:<22} {m['node_id']}")
            return
        if what == "peers":
            rows = [
                {
                    "id": p.node_id.hex() if p.node_id else None,
                    "url": p.url,
                    "name": p.name,
                    "source": p.source,
                }
                for p in known_peers(node)
            ]
            if as_json:
                click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
            for row in [] if as_json else rows:
                click.echo(f"{row['url']:<40} {row['name'] or '?':<24} {row['source']}")
            return
        if what == "unknown":
            _emit(node.projector.unknown(), as_json, ["ts", "kind", "reason", "author", "id"])
            return
        kind, columns = SHOW_COLUMNS[what]
        rows = node.projector.rows(kind)
        # Private items are opened in memory with this node's keys: contacts always (the
        # passphrase is asked for), other kinds with --private or when the keys open
        # without asking.
        if POSTABLE[kind].private or show_private:
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
        _emit(rows, as_json, columns)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts (docs/CLI.md).")
@pass_ctx
def log(ctx: Context, as_json: bool) -> None:
    """The raw events, by author and seq."""
    with ctx.node() as node:
        events = list(node.store.events())
    if as_json:
        click.echo(json.dumps([event_row(e) for e in events], indent=1))
        return
    for e in events:
        click.echo(
            f"{e.author.hex()[:12]} #{e.seq:<6} {human_time(e.ts)}  {e.kind:<10} {e.id.hex()}"
        )


def event_row(e: Event) -> dict[str, Any]:
    """One event of ``log --json`` (docs/CLI.md)."""
    return {
        "id": e.id.hex(),
        "author": e.author.hex(),
        "seq": e.seq,
        "prev": e.prev.hex() if e.prev else None,
        "kind": e.kind,
        "ts": e.ts,
        "time": iso_time(e.ts),
        "suspect": suspect(e.ts),
        "network": e.network.hex(),
        "redacted": e.redacted,
        "size": len(e.raw),
    }


@cli.command()
@pass_ctx
def verify(ctx: Context) -> None:
    """Recheck every signature and chain; exit non-zero on a fault."""
    with ctx.node() as node:
        faults = node.verify()
        total = node.store.count()
        authors = len(node.store.heads())
    for fault in faults:
        click.echo(f"FAULT {fault}", err=True)
    if faults:
        fail(f"{len(faults)} fault(s) in {total} events; see above")
    click.echo(f"ok: {total} events of {authors} author(s) checked")


@cli.command("state-hash")
@pass_ctx
def state_hash_cmd(ctx: Context) -> None:
    """A digest of all projections: equal on two nodes that hold the same events."""
    with ctx.node() as node:
        click.echo(node.projector.state_hash().hex())


@cli.command()
@pass_ctx
def rebuild(ctx: Context) -> None:
    """Drop the projections and rebuild them from the log."""
    with ctx.node() as node:
        before = node.projector.state_hash()
        node.rebuild()
        after = node.projector.state_hash()
    click.echo(f"Rebuilt the projections from the log; state-hash {after.hex()}")
    if before != after:
        click.echo(f"(it was {before.hex()} before the rebuild)", err=True)


@cli.command("demo")
@click.option("--once", is_flag=True, help="Set up, check that all four sync, and stop.")
def demo_cmd(once: bool) -> None:
    """Four local nodes (LA, SV, IN, ZA) with sample data, synced in a line, each with
    its web view; until Ctrl-C."""
    from node import demo  # noqa: PLC0415 - aiohttp only where needed

    demo.main(["--once"] if once else [])


for _command in [*NETWORK_COMMANDS, *SYNC_COMMANDS, *KEY_COMMANDS, *STATUS_COMMANDS]:
    cli.add_command(_command)


def main() -> None:
    terminal.install(sys)  # text from peers never reaches the terminal raw
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        fail("stopped", 130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except CommuneError as e:
        fail(e.message)
    except KeyboardInterrupt:
        fail("stopped", 130)
