"""Commands about sync: serve, sync, peer add, peer list (docs/CLI.md).

aiohttp is imported by the commands that use the network only, so that the others
start fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal

import click

from crypto.identity import NodeKeys
from node import network, private
from node import peers as peer_list
from node.cli_common import Context, fail, pass_ctx
from node.service import Node

#: the same as node.daemon's (kept here so that --help does not import aiohttp)
DEFAULT_PORT = 8470
DEFAULT_WEB_PORT = 8471
DEFAULT_INTERVAL = 60.0


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        host, port = text, str(default_port)
    try:
        number = int(port)
    except ValueError:
        fail(f"--listen wants HOST:PORT (for example 0.0.0.0:{default_port}), not {text!r}")
    if not 0 <= number < 65536:
        fail(f"the port {number} is out of range (0 to 65535)")
    return host.strip("[]"), number


@click.command()
@click.option(
    "--listen",
    default=f"0.0.0.0:{DEFAULT_PORT}",
    show_default=True,
    help="Where the sync server listens (mutual TLS: only members can connect).",
)
@click.option(
    "--advertise",
    "advertise",
    multiple=True,
    metavar="URL",
    help="An address other members can reach this node at (https://HOST:PORT); "
    "published in the log. Repeat for several.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1.0),
    default=DEFAULT_INTERVAL,
    show_default=True,
    help="Seconds between periodic syncs with each peer.",
)
@click.option(
    "--web",
    "web_at",
    default=f"127.0.0.1:{DEFAULT_WEB_PORT}",
    show_default=True,
    help="Where the read-only web view listens (this machine only, unless --web-public).",
)
@click.option("--no-web", is_flag=True, help="Do not serve the web view.")
@click.option(
    "--web-public",
    is_flag=True,
    help="Let the web view listen on an address other machines can reach (it shows "
    "everything this node can read, contacts included, to whoever reaches it).",
)
@pass_ctx
def serve(
    ctx: Context,
    *,
    listen: str,
    advertise: tuple[str, ...],
    interval: float,
    web_at: str,
    no_web: bool,
    web_public: bool,
) -> None:
    """Run the sync server, periodic sync with every known peer, live updates, and the
    read-only web view."""
    from node import daemon  # noqa: PLC0415 - aiohttp only where needed
    from node.web import check_bind, start_web  # noqa: PLC0415

    host, port = _host_port(listen, DEFAULT_PORT)
    web_host, web_port = _host_port(web_at, DEFAULT_WEB_PORT)
    if not no_web:
        warning = check_bind(web_host, web_public)
        if warning:
            click.echo(f"WARNING: {warning}", err=True)
    keys = ctx.keys()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with ctx.node() as node:
        if node.membership() is None:
            fail(
                "this node belongs to no network yet: `commune found NAME` or `commune join INVITE`"
            )
        confirm_feed(node, keys)
        private.publish_keys(node, keys)  # a post-quantum network's longer sealing key
        if advertise:
            urls = [peer_list.check_url(u) for u in advertise]
            if network.publish_addresses(node, keys, urls):
                click.echo(f"Published this node's addresses: {', '.join(urls)}", err=True)

        async def main() -> None:
            runner = daemon.Daemon(node, keys, host=host, port=port, interval=interval)
            try:
                await runner.start()
            except OSError as e:
                fail(f"cannot listen on {host}:{port}: {e.strerror}")
            click.echo(
                f"Serving on {host}:{runner.port}; syncing every {interval:g} s. Ctrl-C stops."
            )
            web = None
            if not no_web:
                try:
                    web, actual = await start_web(
                        node,
                        keys,
                        host=web_host,
                        port=web_port,
                        daemon=runner,
                        allow_public=web_public,
                    )
                except OSError as e:
                    await runner.stop()
                    fail(f"cannot listen on {web_host}:{web_port} for the web view: {e.strerror}")
                shown = f"[{web_host}]" if ":" in web_host else web_host
                click.echo(f"Web view on http://{shown}:{actual}/")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            if web is not None:
                await web.cleanup()
            await runner.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())


@click.command("sync")
@click.option("--peer", "peer_urls", multiple=True, metavar="URL", help="Only this peer (repeat).")
@pass_ctx
def sync_cmd(ctx: Context, peer_urls: tuple[str, ...]) -> None:
    """One sync round now with every known peer (or the given ones), then a summary."""
    from node import daemon  # noqa: PLC0415 - aiohttp only where needed

    keys = ctx.keys()
    with ctx.node() as node:
        if node.membership() is None:
            fail("this node belongs to no network yet: `commune join INVITE` first")
        urls = [peer_list.check_url(u) for u in peer_urls] if peer_urls else None
        if urls is None and not peer_list.known_peers(node):
            fail("this node knows no peer yet: `commune peer add https://HOST:PORT`")
        results = asyncio.run(daemon.sync_once(node, keys, urls, progress=True))
    failed = 0
    for url, stats, error in results:
        if stats is None:
            failed += 1
            click.echo(f"{url}: failed: {error}")
        else:
            click.echo(f"{url}: {stats.summary()}")
    if failed == len(results):
        fail("no peer could be reached; nothing was exchanged")


@click.group()
def peer() -> None:
    """Peers to sync with."""


@peer.command("add")
@click.argument("url")
@pass_ctx
def peer_add(ctx: Context, url: str) -> None:
    """Remember a peer's address (https://HOST:PORT)."""
    with ctx.node() as node:
        added = peer_list.add_manual(node, url)
    click.echo(f"Will sync with {added}.")


@peer.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array for scripts.")
@pass_ctx
def peer_list_cmd(ctx: Context, as_json: bool) -> None:
    """The addresses this node syncs with, and where it learnt them."""
    with ctx.node() as node:
        rows = [
            {
                "id": p.node_id.hex() if p.node_id else None,
                "url": p.url,
                "name": p.name,
                "source": p.source,
            }
            for p in peer_list.known_peers(node)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("(none: `commune peer add https://HOST:PORT`)", err=True)
    for row in rows:
        click.echo(f"{row['url']:<40} {row['name'] or '?':<24} {row['source']}")


def confirm_feed(node: Node, keys: NodeKeys) -> None:
    """Never fork this node's own feed (docs/PROTOCOL.md §10.5): when this store may hold
    less of it than a peer (after a join, a copy or restore of the folder, or a store
    made after the key), ask the peers first; they send back whatever of it they have."""
    reason = node.store.get_meta("feed_unconfirmed")
    if not reason or node.membership() is None:
        return
    from node import daemon  # noqa: PLC0415 - aiohttp only where needed

    click.echo("Asking peers how far this node's own feed goes before writing…", err=True)
    results = asyncio.run(daemon.sync_once(node, keys))
    if any(stats is not None for _, stats, _ in results):
        return  # the pull fetched our own events; Node.post refuses if any are still missing
    if reason == "join":
        click.echo(
            "note: no peer could be reached; this node's key was made in this folder, so no "
            "peer can hold events of its feed that this store lacks.",
            err=True,
        )
        return
    fail(
        "this node's folder was copied or restored (or its store is new), so a peer may hold "
        "more of this node's own feed than this store does, and writing now could fork it. "
        "No peer could be reached: run `commune sync` once one can be, then post again"
    )


SYNC_COMMANDS = [serve, sync_cmd, peer]
