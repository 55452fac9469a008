"""Commands that keep the node's key safe: passwd, backup, restore (docs/CLI.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from crypto.errors import WrongPassphrase
from node import backup as backups
from node import records, strength
from node import restore as restoring
from node.cli_common import Context, fail, opened, pass_ctx, passphrase
from node.errors import WeakPassphrase

#: where a new passphrase may be given instead of at the prompt
NEW_ENV = "COMMUNE_NEW_PASSPHRASE"
#: how many times a refused passphrase is asked for again at the prompt
TRIES = 3


def say(text: str) -> None:
    """An explanation, on stderr (stdout is for what scripts read)."""
    click.echo(text, err=True)


def checked(secret: bytes, known: list[str], outcome: str) -> bytes:
    """``secret`` if it passes node/strength.py's minimum; else one error line saying why,
    what a good one is, and ``outcome`` (what was left undone), and exit."""
    if not secret:
        fail(f"the new passphrase is empty; {outcome}")
    try:
        strength.check(secret, known)
    except WeakPassphrase as e:
        fail(f"{e.message}; {outcome}")
    return secret


def ask_new(label: str, known: list[str], outcome: str) -> bytes:
    """A new passphrase typed twice at the prompt, asked again (up to :data:`TRIES`
    times) while it is below the minimum, saying why each time."""
    say(f"{strength.GOOD[0].upper()}{strength.GOOD[1:]}.")
    secret = b""
    given = "no passphrase"
    for _ in range(TRIES):
        try:
            text = click.prompt(label, hide_input=True, confirmation_prompt=True, err=True)
        except click.exceptions.Abort:
            fail(f"{given} was given; {outcome}")
        secret = str(text).encode()
        verdict = strength.assess(secret, known)
        if verdict.ok:
            break
        say(strength.refusal(verdict) + ".")
        given = "no passphrase strong enough"
    else:
        fail(f"no passphrase strong enough was given in {TRIES} tries; {outcome}")
    return secret


def new_from_environment(known: list[str], outcome: str) -> bytes | None:
    """$COMMUNE_NEW_PASSPHRASE, checked; None when it is not set."""
    env = os.environ.get(NEW_ENV)
    return None if env is None else checked(env.encode(), known, outcome)


@click.command()
@pass_ctx
def passwd(ctx: Context) -> None:
    """Change the passphrase that locks this node's key (or give it one).

    The current passphrase is read as every command reads it, else asked for; the new one
    from $COMMUNE_NEW_PASSPHRASE, else asked for twice. The new one must be hard to
    guess: 15 characters or more, best several unrelated words (docs/CLI.md).
    """
    home = ctx.home
    home.require()
    had_one = home.key_is_encrypted()
    # the node's name (to refuse it as a passphrase) is sealed under the key
    keys = (
        opened(
            home.unlock,
            f"the key of the node in {home.path}",
            "Current passphrase",
            which="the current passphrase",
            outcome="nothing was changed",
        )
        if had_one
        else home.unlock(None)
    )
    known = strength.known_words(home.identity().name)
    unchanged = "the key file was left as it was"
    new = new_from_environment(known, unchanged)
    home.relock(keys, new if new is not None else ask_new("New passphrase", known, unchanged))
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
    keys = (
        opened(
            home.unlock,
            f"the key of the node in {home.path}",
            outcome="no backup was written (it would be useless without the passphrase "
            "that opens it)",
        )
        if encrypted
        else home.unlock(None)
    )
    taken = backups.take(home)
    backups.write(taken, file, keys)
    with home.open_store() as store:
        records.record_backup(store)
    name = taken.card.name
    click.echo(f"Wrote the backup of {name!r} ({taken.card.node_id.hex()[:12]}…) to {file}.")
    if with_store:
        copy = backups.store_copy_path(file)
        size = backups.copy_store(home, copy)
        click.echo(f"Copied the store ({size / 2**20:.1f} MiB) to {copy}.")
        say(
            "The store copy is encrypted as the store is: it opens with this node's key, "
            "and so with the backup and its passphrase only."
        )
    if encrypted:
        say(
            "It holds this node's key still locked by its passphrase, and everything else "
            "sealed under it: without the passphrase it shows nothing but its size."
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

    The passphrase is read from $COMMUNE_PASSPHRASE, else asked for. The restored key is
    locked by a new passphrase when $COMMUNE_NEW_PASSPHRASE is set, and must be when the
    backup's is too easy to guess (the new one is then asked for twice if not set).
    """
    home = ctx.home
    restoring.check_free(home)
    found = backups.read(file)
    secret = None
    if found.key_encrypted:
        secret = passphrase()
    else:
        click.echo("WARNING: the key in this backup is stored without a passphrase.", err=True)
    try:  # a sealed backup (version 3) shows what it holds only to the passphrase
        taken = backups.unsealed(found, secret)
    except WrongPassphrase:
        fail("the passphrase does not open the key in this backup; nothing was written")
    known = strength.known_words(taken.card.name, taken.network_name)
    nothing = "nothing was written"
    new = new_from_environment(known, nothing)
    if taken.key_encrypted and secret is not None and new is None:
        new = _replace_weak(taken, secret, known, unsigned)
    try:
        copy = backups.store_copy_path(file)
        keys, from_copy = restoring.restore(
            home, taken, secret, copy if copy.exists() else None, unsigned_ok=unsigned
        )
        if from_copy is not None:
            say(
                f"The log comes from the store copy {copy}, every event checked again: "
                f"{from_copy.summary()}. Peers fill in what is newer."
            )
    except WrongPassphrase:
        fail(f"the passphrase does not open the key in this backup; {nothing}")
    card = taken.card
    click.echo(f"Restored {card.name!r} ({card.node_id.hex()}) into {home.path}.")
    if new is not None:
        home.relock(keys, new)
        say(
            f"Its key is locked by the new passphrase ({home.key_path}). The backup {file} "
            "still opens with the old one: once the node is back, make a new backup "
            "(`commune backup FILE`) and destroy the old one."
        )
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


def _replace_weak(
    taken: backups.Backup, secret: bytes, known: list[str], unsigned: bool
) -> bytes | None:
    """None when the backup's passphrase passes the minimum; else, once it is known to
    open the backup, a new one that passes, asked for twice: nobody is locked out of
    their own node, and it is not kept under a passphrase anyone could guess."""
    verdict = strength.assess(secret, known)
    if verdict.ok:
        return None
    try:
        taken.open(secret, unsigned_ok=unsigned)
    except WrongPassphrase:
        fail("the passphrase does not open the key in this backup; nothing was written")
    say(
        f"The passphrase this backup was made with is too easy to guess ({verdict.reason}; "
        f"it would be found in {verdict.crack_time} at {strength.GUESSES_PER_SECOND} "
        "guesses a second). The node is restored, but its key is locked by a new one."
    )
    return ask_new(
        "New passphrase",
        known,
        f"the backup's passphrase is too easy to guess to keep, so the restore needs a new "
        f"one (in ${NEW_ENV}, or typed twice at the prompt); nothing was written",
    )


KEY_COMMANDS = [passwd, backup_cmd, restore_cmd]
