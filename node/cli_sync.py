"""Commands about sync: sync, resync, peer add, peer remove, peer list (docs/CLI.md), and what
they share with ``serve`` (node/cli_serve.py): the settings, the time limits, the gate,
confirming this node's own feed before it writes.

aiohttp is imported by the commands that use the network only, so that the others
start fast.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import config
from node import peers as peer_list
from node.cli_common import Context, fail, pass_ctx, peer_line, peer_rows
from node.config import Config
from node.service import Node

if TYPE_CHECKING:
    from node.sync_base import Timeouts

#: the same as node.daemon's (kept here so that --help does not import aiohttp)
DEFAULT_PORT = config.SYNC_PORT
DEFAULT_WEB_PORT = config.WEB_PORT
DEFAULT_INTERVAL = 60.0

T = TypeVar("T")

#: serve's options and the settings (node/config.py) they override when given
OVERRIDES = {
    "listen": "listen",
    "advertise": "advertise",
    "interval": "interval",
    "parallel": "parallel",
    "web_at": "web_listen",
    "web_public": "web_public",
    "proxy": "proxy",
    "proxy_all": "proxy_all",
    "log_format": "log_format",
    "log_level": "log_level",
}

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COMMUNE_CONFIG",
    help="The node's settings file (TOML; docs/CLI.md). Default: $COMMUNE_CONFIG, else "
    "node.toml in the node folder when it exists. Options given here override it.",
)


def run_stoppable(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, stopped for certain by Ctrl-C (SIGINT): the handler runs on
    the event loop between steps, never inside a write to the store, and cancels ``main``
    again every second until it ends, since a library may swallow one cancellation (as
    Python 3.11's ``asyncio.wait_for`` does when what it waits for has just finished).
    Then :class:`KeyboardInterrupt` is raised: ``commune`` says "stopped" in one line and
    exits 130 (node/cli.py); what was stored before stays, each batch being one
    transaction."""
    import asyncio  # noqa: PLC0415 - asyncio and aiohttp only where needed
    import signal  # noqa: PLC0415

    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(main)
        stopped = False

        def cancel() -> None:
            if not task.done():
                task.cancel()
                loop.call_later(1.0, cancel)

        def on_sigint() -> None:
            nonlocal stopped
            stopped = True
            cancel()

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            result = loop.run_until_complete(task)
        except asyncio.CancelledError:
            if stopped:
                raise KeyboardInterrupt from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        if stopped:
            raise KeyboardInterrupt
        return result


def host_port(text: str, default_port: int, option: str = "--listen") -> tuple[str, int]:
    try:
        return config.split_address(text, default_port)
    except ValueError as e:
        fail(f"{option} {e}")


def _given(name: str) -> bool:
    """Whether the option was given on the command line (else the file decides)."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def settings_for(ctx: Context, config_file: Path | None, options: dict[str, object]) -> Config:
    """Defaults < the settings file < the options given on the command line."""
    settings = config.find(ctx.home.path, config_file)
    changes = {field: options[name] for name, field in OVERRIDES.items() if _given(name)}
    if "advertise" in changes:
        given = options["advertise"]
        assert isinstance(given, tuple)
        changes["advertise"] = tuple(peer_list.check_url(str(u)) for u in given)
    if "proxy" in changes:
        try:
            changes["proxy"] = config.check_proxy(options["proxy"])
        except ValueError as e:
            fail(f"--proxy {e}")
    if _given("no_web") and options["no_web"]:
        changes["web_enabled"] = False
    settings = settings.replace(**changes)
    problem = config.check(settings)
    if problem:
        where = f"{settings.source}: " if settings.source else ""
        fail(f"{where}{problem}")
    return settings


def sync_timeouts(settings: Config) -> Timeouts:
    """The time limits of the settings' [limits] (docs/CLI.md), given to the daemon and
    to each round this process runs; nothing else in the process changes."""
    from node.sync_base import Timeouts  # noqa: PLC0415 - aiohttp only where needed

    return Timeouts(
        read=settings.read_timeout,
        request=settings.request_time,
        connect=settings.connect_seconds,
    )


def gate_limits(settings: Config) -> Any:
    """The sync server's gate (node/gate.py) as the settings say, within this process's
    open-file limit (a connection is a file; some are kept for the store and peers)."""
    import resource  # noqa: PLC0415

    from node import gate  # noqa: PLC0415

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = settings.max_connections if soft == resource.RLIM_INFINITY else soft - 128
    return gate.Limits(
        max_open=max(16, min(settings.max_connections, room)),
        per_address=settings.connections_per_address,
        unknown_total=max(16, min(settings.max_connections, room) // 3),
        handshake_timeout=settings.handshake_timeout,
        header_timeout=settings.header_timeout,
        idle_timeout=settings.idle_timeout,
    )


def add_peers(node: Node, settings: Config) -> None:
    """The settings' [peers] urls join the node's list (as `peer add` does)."""
    for url in settings.peers:
        peer_list.add_manual(node, url)


def proxy_note(settings: Config) -> str:
    """Where peers are dialled through, without the proxy's user name or password."""
    if not settings.proxy:
        return ""
    parts = urlsplit(settings.proxy)
    which = "every peer" if settings.proxy_all else ".onion peers"
    return f"Dialling {which} through the SOCKS5 proxy at {parts.hostname}:{parts.port}."


@click.command("sync")
@config_option
@click.option("--peer", "peer_urls", multiple=True, metavar="URL", help="Only this peer (repeat).")
@click.option(
    "--accept-loss",
    is_flag=True,
    help="After this round, write from this store's head even if this node once wrote "
    "more of its own feed (an older store put back): only when no peer or copy holds "
    "those events, which are then lost.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="With a failure, also the error as the library or the peer said it.",
)
@pass_ctx
def sync_cmd(
    ctx: Context,
    config_file: Path | None,
    peer_urls: tuple[str, ...],
    accept_loss: bool,
    verbose: bool,
) -> None:
    """One sync round now with every known peer (or the given ones), then a summary."""
    from node import daemon  # noqa: PLC0415

    settings = config.find(ctx.home.path, config_file)
    keys = ctx.keys()
    with ctx.node() as node:
        if node.membership() is None:
            fail("this node belongs to no network yet: `commune join INVITE` first")
        add_peers(node, settings)
        urls = [peer_list.check_url(u) for u in peer_urls] if peer_urls else None
        if urls is None and not peer_list.known_peers(node):
            if accept_loss:
                _accept_loss(node)
                return
            fail("this node knows no peer yet: `commune peer add https://HOST:PORT`")
        results = run_stoppable(
            daemon.sync_once(
                node,
                keys,
                urls,
                progress=True,
                proxy=settings.proxy,
                proxy_all=settings.proxy_all,
                timeouts=sync_timeouts(settings),
            )
        )
    failed = 0
    for url, stats, failure in results:
        if stats is None:
            failed += 1
            click.echo(f"{url}: failed: {failure}")
            if verbose and failure is not None and failure.detail != failure.sentence:
                click.echo(f"  the error: {failure.detail}")
        else:
            click.echo(f"{url}: {stats.summary()}")
    if accept_loss:
        with ctx.node() as node:
            _accept_loss(node)
    if failed == len(results):
        fail("no sync round completed with any peer (each one's line above says why)")


@click.command("resync")
@config_option
@pass_ctx
def resync_cmd(ctx: Context, config_file: Path | None) -> None:
    """Make a new store when this one is damaged: from what still checks in it, then
    from the peers (the damaged file is kept beside it)."""
    from node import daemon, resync  # noqa: PLC0415

    settings = config.find(ctx.home.path, config_file)
    keys = ctx.keys()
    outcome = resync.resync(ctx.home)
    click.echo(f"Kept the damaged store as {outcome.kept_as}.", err=True)
    click.echo(
        f"From it: {outcome.salvaged.summary()}"
        + (f"; {outcome.lost} rows could not be read" if outcome.lost else "")
    )
    if not outcome.network:
        fail(
            "the damaged store no longer says which network this node is in: restore the "
            "node from a backup (`commune restore`), or ask an admin for a new invite"
        )
    with ctx.node() as node:
        add_peers(node, settings)
        results = run_stoppable(
            daemon.sync_once(
                node,
                keys,
                proxy=settings.proxy,
                proxy_all=settings.proxy_all,
                timeouts=sync_timeouts(settings),
            )
        )
        problem = node.feed_problem()
    for url, stats, failure in results:
        click.echo(f"{url}: {stats.summary() if stats else f'failed: {failure}'}")
    if not any(stats is not None for _, stats, _ in results):
        fail(
            "no peer could be reached: run `commune sync` once one can be (this node writes "
            "nothing before a peer has confirmed its own feed)"
        )
    if problem is not None:
        click.echo(f"note: {problem.message}", err=True)
    else:
        click.echo("The new store is in step with the peers reached.", err=True)


def _accept_loss(node: Node) -> None:
    """``sync --accept-loss``: the user's word that the events of this node's feed above
    its store's head exist nowhere else (never while a peer's copy of them waits here)."""
    problem = node.feed_problem()
    if problem is None:
        click.echo("Nothing to accept: this store holds all of this node's feed.", err=True)
    elif problem.code == "held":
        fail(f"not accepted: {problem.message}")
    else:
        node.accept_feed_at_store()
        click.echo(
            "Accepted: this node writes from its store's head from now on; any events of its "
            "feed above it that a peer still holds will show this node as forked.",
            err=True,
        )


@click.group()
def peer() -> None:
    """Peers to sync with."""


@peer.command("add")
@click.argument("url")
@pass_ctx
def peer_add(ctx: Context, url: str) -> None:
    """Remember a peer's address (https://HOST:PORT)."""
    checked, warning = peer_list.check_new_url(url)
    with ctx.node() as node:
        added = peer_list.add_manual(node, checked)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Will sync with {added}.")


@peer.command("remove")
@click.argument("url")
@config_option
@pass_ctx
def peer_remove(ctx: Context, url: str, config_file: Path | None) -> None:
    """Stop syncing with a peer's address, however it was learnt (a running `serve`
    stops dialling it within seconds)."""
    with ctx.node() as node:
        removed = peer_list.remove(node, url)
    how = {
        "peer add": "given by hand",
        "invite": "from the invite; `commune peer add` brings it back",
        "log": f"published by {removed.name or 'a member'}; `commune peer add` brings it "
        "back, and a new address it publishes is used",
    }.get(removed.source, removed.source)
    click.echo(f"Removed {removed.url} ({how}).")
    try:
        settings = config.find(ctx.home.path, config_file)
    except CommuneError:
        return  # a settings file that does not read is `serve`'s error to give
    if removed.url in settings.peers:
        click.echo(
            f"warning: {settings.source} lists it in [peers] urls: take it out there too, or "
            "the next `serve` or `sync` adds it again",
            err=True,
        )


@peer.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts.")
@pass_ctx
def peer_list_cmd(ctx: Context, as_json: bool) -> None:
    """The addresses this node syncs with, and where it learnt them."""
    with ctx.node() as node:
        rows = peer_rows(node)
        removed = peer_list.removed_peers(node)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("(none: `commune peer add https://HOST:PORT`)", err=True)
    for row in rows:
        click.echo(peer_line(row))
    for gone in removed:
        click.echo(
            f"(not dialled, taken off with `peer remove`: {gone.url}, from the {gone.source}; "
            "`commune peer add URL` brings it back)",
            err=True,
        )


def confirm_feed(node: Node, keys: NodeKeys, settings: Config | None = None) -> None:
    """Never fork this node's own feed (docs/PROTOCOL.md §10.5): when this store may hold
    less of it than a peer (after a join, a copy or restore of the folder, a store made
    after the key, or one behind what the node recorded writing), ask the peers first;
    they send back whatever of it they have. Peers are dialled as the settings say (by
    default, those of $COMMUNE_CONFIG or of the node folder's node.toml: a node that
    reaches its peers over Tor only)."""
    reason = node.store.get_meta("feed_unconfirmed")
    if (not reason and node.feed_problem() is None) or node.membership() is None:
        return
    from node import daemon  # noqa: PLC0415

    if settings is None:
        settings = config.from_environment(node.home.path)
    click.echo("Asking peers how far this node's own feed goes before writing…", err=True)
    results = run_stoppable(
        daemon.sync_once(
            node,
            keys,
            proxy=settings.proxy,
            proxy_all=settings.proxy_all,
            timeouts=sync_timeouts(settings),
        )
    )
    problem = node.feed_problem()
    if problem is None:
        if reason == "join" and not any(stats is not None for _, stats, _ in results):
            click.echo(
                "note: no peer could be reached; this node's key was made in this folder, so "
                "no peer can hold events of its feed that this store lacks.",
                err=True,
            )
        return
    for url, stats, failure in results:
        if stats is None:
            click.echo(f"  {url}: {failure}", err=True)
    reached = sum(1 for _, stats, _ in results if stats is not None)
    if not results:
        fail(f"{problem.message} (this node knows no peer: `commune peer add https://HOST:PORT`)")
    fail(f"{problem.message} ({reached} of {len(results)} peers reached)")


SYNC_COMMANDS = [sync_cmd, resync_cmd, peer]
