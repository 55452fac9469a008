"""Commands about the network: found, admit, join, revoke, role, export, import."""

from __future__ import annotations

from pathlib import Path

import click

from node import bundles, network, private
from node.cli_common import Context, fail, pass_ctx
from node.cli_sync import confirm_feed
from node.service import IngestResult
from protocol.kinds import member


def _report(result: IngestResult) -> None:
    click.echo(result.summary())
    for event_id, error in result.errors[:10]:
        where = f"event {event_id.hex()[:16]}…" if event_id else "an event"
        click.echo(f"  refused {where}: {error.code}: {error.message}", err=True)


@click.command()
@click.argument("network_name")
@click.option(
    "--post-quantum",
    is_flag=True,
    help="Seal private events with the post-quantum hybrid (ML-KEM-768 with X25519): "
    "safe against a later quantum computer, at about 1 KiB more per reader.",
)
@pass_ctx
def found(ctx: Context, network_name: str, post_quantum: bool) -> None:
    """Create a network with this node as its first admin."""
    keys = ctx.keys()
    suite = member.PQ_SUITE if post_quantum else member.CLASSIC_SUITE
    with ctx.node() as node:
        event = network.found(node, keys, network_name, suite)
        private.publish_keys(node, keys)
    click.echo(f"Founded the network {network_name!r}; its id is {event.id.hex()}.")
    click.echo("Admit other collectives with `commune admit CARD`.", err=True)


@click.command()
@click.argument("card")
@click.option("--admin", is_flag=True, help="Make the new node an admin too.")
@pass_ctx
def admit(ctx: Context, card: str, admin: bool) -> None:
    """Admit the node whose card is CARD (admins only), and print its invite."""
    keys = ctx.keys()
    with ctx.node() as node:
        confirm_feed(node, keys)
        event, invite = network.admit(node, keys, card, admin)
    if event is None:
        click.echo("That node is a member already; here is its invite again:", err=True)
    else:
        click.echo(
            f"Admitted it{' as an admin' if admin else ''}. Give it this invite "
            "over a channel you trust:",
            err=True,
        )
    click.echo(invite.to_text())
    if not invite.addresses:
        click.echo(
            "(No member has published an address yet (`commune serve --advertise URL`), so "
            "the new node will need one to reach the network: see `commune peer add`.)",
            err=True,
        )


@click.command()
@click.argument("invite")
@pass_ctx
def join(ctx: Context, invite: str) -> None:
    """Join the network an invite names."""
    with ctx.node() as node:
        parsed, result = network.join(node, invite)
    if result is None:
        click.echo(f"This node is in the network {parsed.network_name!r} already.")
        return
    click.echo(
        f"Joined the network {parsed.network_name!r}, admitted by "
        f"{parsed.admitter.name} ({parsed.admitter.node_id.hex()[:12]}…)."
    )
    if parsed.addresses:
        click.echo(f"Will sync with {', '.join(parsed.addresses)}.", err=True)
    else:
        click.echo(
            "The invite names no address to reach the network: add one member's with "
            "`commune peer add https://HOST:PORT`.",
            err=True,
        )


@click.command()
@click.argument("node_id")
@pass_ctx
def revoke(ctx: Context, node_id: str) -> None:
    """Revoke a node (admins only): its later events stop counting everywhere."""
    keys = ctx.keys()
    with ctx.node() as node:
        confirm_feed(node, keys)
        _, target, cutoff = network.revoke(node, keys, node_id)
    click.echo(
        f"Revoked {target.name} ({target.node_id.hex()[:12]}…): its events after seq "
        f"{cutoff} no longer count, on every node."
    )


@click.command()
@click.argument("node_id")
@click.argument("role", type=click.Choice(["admin", "member"]))
@pass_ctx
def role(ctx: Context, node_id: str, role: str) -> None:
    """Make a member an admin, or an admin a plain member (admins only)."""
    keys = ctx.keys()
    with ctx.node() as node:
        confirm_feed(node, keys)
        _, target = network.set_role(node, keys, node_id, role == "admin")
    click.echo(f"{target.name} is now {'an admin' if role == 'admin' else 'a member'}.")


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--for",
    "for_node",
    metavar="NODE_ID",
    help="Only what that node lacks, as far as this node knows (from its last bundle).",
)
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="NODE",
    help="Seal the bundle for this member only (node id, id prefix or name), and this "
    "node; repeat for several. Without it, the bundle is sealed to every current member.",
)
@pass_ctx
def export_cmd(ctx: Context, file: Path, for_node: str | None, to: tuple[str, ...]) -> None:
    """Write a sneakernet bundle of events to FILE, sealed to the network's members."""
    keys = ctx.keys()
    with ctx.node() as node:
        lacking = None
        if for_node is not None:
            membership = node.membership()
            if membership is None:
                fail("this node belongs to no network yet")
            target = network.resolve(membership, for_node)
            lacking = bundles.known_frontier(node, target.node_id)
        sealing = bundles.sealing_for(node, keys, to)
        header = bundles.export_bundle(node, file, lacking, sealing=sealing)
    others = [name for node_id, name in sealing.names.items() if node_id != keys.node_id]
    readers = ", ".join([*others, "this node"])
    click.echo(
        f"Wrote {header.events} events and {header.forks} fork evidence to {file}, sealed "
        f"to {len(sealing.recipients)} node{'s' if len(sealing.recipients) != 1 else ''}: "
        f"{readers}."
    )
    for warning in sealing.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_ctx
def import_cmd(ctx: Context, file: Path) -> None:
    """Take in a sneakernet bundle, checked exactly as network sync checks events."""
    keys = ctx.keys()
    with ctx.node() as node:
        imported = bundles.import_bundle(node, file, keys)
    header = imported.header
    click.echo(f"Bundle from {header.exporter.hex()[:12]}… with {header.events} events:")
    _report(imported.result)
    if not imported.sealed:
        click.echo(
            "note: this bundle was not sealed (an older version wrote it): anyone who held "
            "the file could read it. Delete it once every node has taken it in.",
            err=True,
        )


@click.command("redact")
@click.argument("event_id")
@pass_ctx
def redact_cmd(ctx: Context, event_id: str) -> None:
    """Erase an event's contents on every node (its author or an admin)."""
    keys = ctx.keys()
    with ctx.node() as node:
        confirm_feed(node, keys)
        event = network.redact(
            node, keys, event_id, lambda item: private.sealed_edits_of(node, keys, item)
        )
    click.echo(event.id.hex())
    click.echo(
        "Erased here. Every node that receives this redaction erases the event's contents "
        "too and stops passing them on; its envelope stays, so the log still checks.",
        err=True,
    )


@click.command("limits")
@click.option("--events-per-day", type=click.IntRange(1), help="Raise the events per day.")
@click.option("--bytes-per-day", type=click.IntRange(1), help="Raise the bytes per day.")
@pass_ctx
def limits_cmd(ctx: Context, events_per_day: int | None, bytes_per_day: int | None) -> None:
    """Show, or raise (admins only), what one member may add to every node per day."""
    if events_per_day is None and bytes_per_day is None:
        with ctx.node() as node:
            now = node.projector.limits()
        click.echo(
            f"Each member's events are taken in up to {now.events_per_day} events and "
            f"{now.bytes_per_day} bytes ({now.bytes_per_day / 2**20:.0f} MiB) per day."
        )
        return
    keys = ctx.keys()
    with ctx.node() as node:
        confirm_feed(node, keys)
        _, wanted = network.set_limits(node, keys, events_per_day, bytes_per_day)
    click.echo(
        f"Raised the daily budget to {wanted.events_per_day} events and "
        f"{wanted.bytes_per_day} bytes per member; nodes take it in as the log reaches them."
    )


NETWORK_COMMANDS = [
    found,
    admit,
    join,
    revoke,
    role,
    limits_cmd,
    export_cmd,
    import_cmd,
    redact_cmd,
]
