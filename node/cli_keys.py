"""Commands that keep the node's key safe: passwd, backup, restore (docs/CLI.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from crypto.errors import WrongPassphrase
from node import backup as backups
from node import records
from node import restore as restoring
from node.cli_common import Context, fail, pass_ctx, passphrase
from node.store import Store


def say(text: str) -> None:
    """An explanation, on stderr (stdout is for what scripts read)."""
    click.echo(text, err=True)


def _current_passphrase() -> bytes:
    env = os.environ.get("COMMUNE_PASSPHRASE")
    if env is not None:
        return env.encode()
    return str(click.prompt("Current passphrase", hide_input=True, err=True)).encode()


def _new_passphrase() -> bytes:
    env = os.environ.get("COMMUNE_NEW_PASSPHRASE")
    if env is None:
        env = str(
            click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)
        )
    if not env.strip():
        fail("the new passphrase is empty; the key file was left as it was")
    return env.encode()


@click.command()
@pass_ctx
def passwd(ctx: Context) -> None:
    """Change the passphrase that locks this node's key (or give it one).

    The current passphrase is read from $COMMUNE_PASSPHRASE, else asked for; the new one
    from $COMMUNE_NEW_PASSPHRASE, else asked for twice.
    """
    home = ctx.home
    home.require()
    had_one = home.key_is_encrypted()
    try:
        keys = home.unlock(_current_passphrase() if had_one else None)
    except WrongPassphrase:
        fail("the current passphrase does not open this node's key; nothing was changed")
    home.relock(keys, _new_passphrase())
    click.echo(f"The key of this node is now locked by the new passphrase ({home.key_path}).")
    if had_one:
        say(
            "Backups made before still open with the old passphrase: make a new one "
            "(`commune backup FILE`) and destroy the old ones."
        )
        return
    say(
        "Until now it was stored in the clear: anyone who copied this folder (or a backup "
        "of it) before has this node's identity, and the old file's bytes may remain on the "
        "disk. If that may have happened, ask an admin to revoke this node and make a new "
        "one. Destroy any backup made before, and make a new one (`commune backup FILE`)."
    )


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--insecure",
    is_flag=True,
    help="Back up a key stored without a passphrase: it will be in FILE in the clear.",
)
@click.option(
    "--with-store",
    is_flag=True,
    help="Also copy the store (the log) beside FILE, as FILE.store.sqlite, even while "
    "`serve` runs; `restore` then needs no peer to get the log back.",
)
@pass_ctx
def backup_cmd(ctx: Context, file: Path, insecure: bool, with_store: bool) -> None:
    """Write to FILE what a new machine needs to bring this node back."""
    home = ctx.home
    home.require()
    encrypted = home.key_is_encrypted()
    if not encrypted and not insecure:
        fail(
            "this node's key has no passphrase, so the backup would hold it in the clear for "
            "anyone who finds the file: give it one first with `commune passwd`, or give "
            "--insecure (demos and tests only)"
        )
    # A backup nobody can open is worth nothing: check the passphrase now. The keys
    # sign the backup, so that an altered one is refused at restore.
    try:
        keys = home.unlock(passphrase() if encrypted else None)
    except WrongPassphrase:
        fail(
            "the passphrase does not open this node's key; no backup was written (it "
            "would be useless without the passphrase that opens it)"
        )
    taken = backups.take(home)
    backups.write(taken, file, keys.signing)
    with Store(home.store_path) as store:
        records.record_backup(store)
    name = taken.card.name
    click.echo(f"Wrote the backup of {name!r} ({taken.card.node_id.hex()[:12]}…) to {file}.")
    if with_store:
        copy = backups.store_copy_path(file)
        size = backups.copy_store(home, copy)
        click.echo(f"Copied the store ({size / 2**20:.1f} MiB) to {copy}.")
        say(
            "The store copy holds what the node folder holds: the network's reports and "
            "plans readable, contacts and other private events sealed. Keep it as hidden "
            "as the folder itself."
        )
    if encrypted:
        say(
            "It holds this node's key still locked by its passphrase. Without the passphrase "
            "it shows only public things: this node's card, the network's id and founding "
            "event, and its peers' names and addresses. That is enough to tell that this "
            "node belongs to the network: keep the file hidden too."
        )
    else:
        say("WARNING: the key is in this file in the clear: whoever reads it IS this node.")
    say("Keep, besides this file:")
    say("  - the passphrase: the backup cannot be opened without it, and nobody can reset it;")
    say("  - the file off this machine (a USB stick kept elsewhere): a lost or seized machine")
    say("    takes the backups on it along.")
    say(
        "Nothing else is needed: the log (reports, plans, contacts, this node's own "
        "events) comes back from the peers after `commune restore FILE`."
    )
    if file.resolve().is_relative_to(home.path.resolve()):
        say(f"note: {file} is inside the node folder: copy it off this machine.")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--unsigned",
    is_flag=True,
    help="Restore a backup written by an older Commune, which carries no signature (only "
    "if the file never left your hands: an alteration could not be told).",
)
@pass_ctx
def restore_cmd(ctx: Context, file: Path, unsigned: bool) -> None:
    """Bring a node back from a backup FILE into a folder that holds no node.

    The passphrase is read from $COMMUNE_PASSPHRASE, else asked for.
    """
    home = ctx.home
    restoring.check_free(home)
    taken = backups.read(file)
    secret = None
    if taken.key_encrypted:
        secret = passphrase()
    else:
        click.echo("WARNING: the key in this backup is stored without a passphrase.", err=True)
    try:
        copy = backups.store_copy_path(file)
        _, from_copy = restoring.restore(
            home, taken, secret, copy if copy.exists() else None, unsigned_ok=unsigned
        )
        if from_copy is not None:
            say(
                f"The log comes from the store copy {copy}, every event checked again: "
                f"{from_copy.summary()}. Peers fill in what is newer."
            )
    except WrongPassphrase:
        fail("the passphrase does not open the key in this backup; nothing was written")
    card = taken.card
    click.echo(f"Restored {card.name!r} ({card.node_id.hex()}) into {home.path}.")
    if taken.network is None:
        say(
            "It belonged to no network when the backup was made: give its card "
            "(`commune card`) to an admin, and join with the invite it sends back."
        )
        return
    say(f"It belongs to the network {taken.network_name!r} ({taken.network.hex()[:12]}…).")
    addresses = {p.url for p in taken.peers if p.url} | set(taken.peer_urls)
    if addresses:
        say(f"It knows {len(addresses)} peer address(es) from the backup.")
    else:
        say(
            "It knows no peer address from the backup: give it one first with "
            f"`commune --home {home.path} peer add https://HOST:PORT` (a member's address)."
        )
    say("Next:")
    say(
        f"  1. `commune --home {home.path} sync` (or `serve`) with a peer it can reach: it "
        "fetches the network's log and this node's own feed"
        + (
            f" (it went up to seq {taken.own_seq} when the backup was made)"
            if taken.own_seq
            else ""
        )
        + " back from its peers."
    )
    say(
        "     Until a peer has told it how far its own feed goes, it writes nothing, so it "
        "never forks its feed."
    )
    say(
        "  2. Its contacts come back with the log: they are sealed to this node's key, which "
        "is restored."
    )
    say(
        "  3. If the old machine was seized rather than destroyed, and its passphrase may be "
        "known, this key is not safe: ask an admin to revoke this node and make a new one."
    )


KEY_COMMANDS = [passwd, backup_cmd, restore_cmd]
