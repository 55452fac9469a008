"""The ``commune`` command: a thin layer over the library (docs/CLI.md).

Commands call ``node.service`` and turn any :class:`CommuneError` into one line on
stderr and a non-zero exit; no traceback for anything a user can cause. ``post`` and
``show``, built from the kinds' specs, are in node/cli_items.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from crypto.errors import CommuneError
from node import strength, terminal
from node.cli_calendar import CALENDAR_COMMANDS
from node.cli_common import (
    INSECURE_WARNING,
    Context,
    fail,
    human_time,
    iso_time,
    pass_ctx,
    passphrase,
    passphrase_given,
    suspect,
    use_passphrase_file,
)
from node.cli_items import (
    EXTRA_KINDS,
    ITEM_COMMANDS,
    kind_commands,
    member_names,
    register_extra_kinds,
)
from node.cli_keys import KEY_COMMANDS, ask_new, checked
from node.cli_network import NETWORK_COMMANDS
from node.cli_report import REPORT_COMMANDS
from node.cli_serve import serve
from node.cli_status import STATUS_COMMANDS
from node.cli_sync import SYNC_COMMANDS
from node.home import default_home
from protocol.envelope import Event


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The node folder (default: $COMMUNE_HOME, else ~/.commune).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Read this node's passphrase from FILE (default: $COMMUNE_PASSPHRASE_FILE, else "
    "$COMMUNE_PASSPHRASE, else asked for).",
)
@click.version_option(package_name="commune-sync", prog_name="commune")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, passphrase_file: Path | None) -> None:
    """Commune: signed, event-sourced sync for collectives.

    Each collective runs one node. Members post reports, plans and contacts; nodes sync
    them with each other; a local web page shows everything.
    """
    kind_commands()
    use_passphrase_file(passphrase_file)
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

    The passphrase is asked for at the prompt, or read from $COMMUNE_PASSPHRASE. It must
    be hard to guess: 15 characters or more, best several unrelated words.
    """
    secret = None
    if insecure_no_passphrase:
        click.echo(INSECURE_WARNING, err=True)
    else:
        known = strength.known_words(name)
        if passphrase_given():
            secret = checked(passphrase(), known, "no node was made")
        else:
            secret = ask_new("Passphrase", known, "no node was made")
    identity, _ = ctx.home.init(name.strip(), secret)
    click.echo(f"Made the keys of {identity.name!r} in {ctx.home.path}.", err=True)
    click.echo(f"Node id: {identity.node_id.hex()}", err=True)
    click.echo("Its card, to give to an admin of the network over a channel you trust:", err=True)
    click.echo(identity.card.to_text())


@cli.command()
@pass_ctx
def card(ctx: Context) -> None:
    """Print this node's card."""
    ctx.keys()  # the card (name, addresses) is sealed under the key at rest
    click.echo(ctx.home.identity().card.to_text())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts (docs/CLI.md).")
@pass_ctx
def log(ctx: Context, as_json: bool) -> None:
    """The raw events, by author and seq."""
    with ctx.node() as node:
        events = list(node.store.events())
        names = member_names(node)
    if as_json:
        click.echo(json.dumps([event_row(e, names) for e in events], ensure_ascii=False, indent=1))
        return
    for e in events:
        click.echo(
            f"{e.author.hex()[:12]} #{e.seq:<6} {human_time(e.ts)}  {e.kind:<10} {e.id.hex()}"
        )


def event_row(e: Event, names: dict[str, str]) -> dict[str, Any]:
    """One event of ``log --json`` (docs/CLI.md), its author's name beside its id."""
    return {
        "id": e.id.hex(),
        "author": e.author.hex(),
        "author_name": names.get(e.author.hex(), ""),
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


for _command in [
    *ITEM_COMMANDS,
    *REPORT_COMMANDS,
    *CALENDAR_COMMANDS,
    *NETWORK_COMMANDS,
    serve,
    *SYNC_COMMANDS,
    *KEY_COMMANDS,
    *STATUS_COMMANDS,
]:
    cli.add_command(_command)


def main() -> None:
    terminal.install(sys)  # text from peers never reaches the terminal raw
    register_extra_kinds(os.environ.get(EXTRA_KINDS))
    try:
        cli.main(prog_name="commune", standalone_mode=False)
    except click.exceptions.Abort:
        fail("stopped", 130)
    except click.exceptions.NoArgsIsHelpError as e:
        e.show()  # `commune post` alone: its help, which lists what it takes
        sys.exit(e.exit_code)
    except click.UsageError as e:
        fail(usage_line(e), e.exit_code)
    except click.ClickException as e:
        fail(one_line(e.format_message()), e.exit_code)
    except CommuneError as e:
        fail(e.message)
    except KeyboardInterrupt:
        fail("stopped", 130)


def one_line(message: str) -> str:
    """Click's message as one line of ``error:`` (docs/CLI.md): lines joined, its
    capital and final full stop dropped, as every other error of the command reads."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    text = text.removesuffix(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def usage_line(e: click.UsageError) -> str:
    """A usage mistake (an unknown option or command, a missing argument, a bad value)
    as one line that names where to look, instead of click's usage, hint and error."""
    if e.ctx is None:
        return one_line(e.format_message())
    return f"{one_line(e.format_message())} (`{e.ctx.command_path} --help` lists what it takes)"
