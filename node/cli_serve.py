"""``commune serve`` (docs/CLI.md): the sync server, the periodic scheduler and the web
view of node/daemon.py and node/web, with the settings of node/cli_sync.py, until
SIGINT or SIGTERM.

The web view is its owner's only (node/web/access.py): serve prints its address with a
one-time token and keeps the current one in ``NODE_HOME/web-address`` (0600), which goes
when serve stops, however it stops.

aiohttp is imported when serve runs, not when the command line starts.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import click

from crypto.identity import NodeKeys
from node import config, logs, network, private, servelock
from node.cli_common import Context, fail, pass_ctx
from node.cli_sync import (
    DEFAULT_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_WEB_PORT,
    add_peers,
    config_option,
    confirm_feed,
    gate_limits,
    host_port,
    proxy_note,
    settings_for,
    sync_timeouts,
)
from node.config import Config
from node.service import Node


@click.command()
@config_option
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help=f"Where the sync server listens (mutual TLS: only members can connect). Default: "
    f"127.0.0.1:{DEFAULT_PORT}, this machine only; with --advertise https://HOST:PORT, "
    "every interface at that port.",
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
    "--parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many peers are synced at once.",
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
    "everything this node can read, contacts included, to whoever holds its token or "
    "cookie, and both cross the network in the clear).",
)
@click.option(
    "--proxy",
    metavar="socks5://HOST:PORT",
    default=None,
    help="A SOCKS5 proxy (Tor's: socks5://127.0.0.1:9050) to dial .onion peers through.",
)
@click.option(
    "--proxy-all",
    is_flag=True,
    help="Dial every peer through the proxy, not only .onion ones.",
)
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    envvar="COMMUNE_LOG_FORMAT",
    help="Log lines on stderr as logfmt (key=value) or JSON; never content or keys.",
)
@click.option(
    "--log-level",
    type=click.Choice(logs.LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    envvar="COMMUNE_LOG_LEVEL",
    help="The least important events logged.",
)
@pass_ctx
def serve(
    ctx: Context,
    *,
    config_file: Path | None,
    listen: str | None,
    advertise: tuple[str, ...],
    interval: float,
    parallel: int,
    web_at: str,
    no_web: bool,
    web_public: bool,
    proxy: str | None,
    proxy_all: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Run the sync server, periodic sync with every known peer, live updates, and the
    read-only web view."""
    from node.web import check_bind  # noqa: PLC0415 - aiohttp only where needed

    options: dict[str, object] = {
        "listen": listen,
        "advertise": advertise,
        "interval": interval,
        "parallel": parallel,
        "web_at": web_at,
        "no_web": no_web,
        "web_public": web_public,
        "proxy": proxy,
        "proxy_all": proxy_all,
        "log_format": log_format,
        "log_level": log_level.lower(),
    }
    settings = settings_for(ctx, config_file, options)
    listen_at, _ = config.listen_address(settings)
    host_port(listen_at, DEFAULT_PORT)
    web_host, _ = host_port(settings.web_listen, DEFAULT_WEB_PORT, "--web")
    if settings.web_enabled:
        warning = check_bind(web_host, settings.web_public)
        if warning:
            click.echo(warning, err=True)
    keys = ctx.keys()
    logs.setup_logging(settings.log_format, settings.log_level)
    if settings.source is not None:
        click.echo(f"Settings from {settings.source}.", err=True)
    with ctx.node() as node, servelock.serve_lock(ctx.home.path, listen=listen_at) as lock:
        if node.membership() is None:
            fail(
                "this node belongs to no network yet: `commune found NAME` or `commune join INVITE`"
            )
        add_peers(node, settings)
        confirm_feed(node, keys, settings)
        private.publish_keys(node, keys)  # a post-quantum network's longer sealing key
        if settings.advertise:
            urls = list(settings.advertise)
            if network.publish_addresses(node, keys, urls):
                click.echo(f"Published this node's addresses: {', '.join(urls)}", err=True)
            network.current_card(node, keys)  # `card` and invites carry them too

        servelock.forget_web_address(ctx.home.path)  # one left by a serve that crashed
        import asyncio  # noqa: PLC0415 - not when the command line starts for another command

        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_run(node, keys, settings, lock))
        finally:
            servelock.forget_web_address(ctx.home.path)


async def _run(node: Node, keys: NodeKeys, settings: Config, lock: servelock.ServeLock) -> None:
    """serve's sync server, scheduler and web view, until SIGINT or SIGTERM."""
    import asyncio  # noqa: PLC0415 - asyncio and aiohttp only where needed

    from node import daemon  # noqa: PLC0415
    from node.web import address, start_web  # noqa: PLC0415

    listen_at, why = config.listen_address(settings)
    host, port = host_port(listen_at, DEFAULT_PORT)
    web_host, web_port = host_port(settings.web_listen, DEFAULT_WEB_PORT, "--web")
    runner = daemon.Daemon(
        node,
        keys,
        host=host,
        port=port,
        interval=settings.interval,
        parallel=settings.parallel,
        proxy=settings.proxy,
        proxy_all=settings.proxy_all,
        gate=gate_limits(settings),
        timeouts=sync_timeouts(settings),
    )
    try:
        await runner.start()
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror}")
    where = f"{host}:{runner.port}" + (f" ({why})" if why else "")
    click.echo(f"Serving on {where}; syncing every {settings.interval:g} s. Ctrl-C stops.")
    lock.note(listen=f"{host}:{runner.port}")
    note = proxy_note(settings)
    if note:
        click.echo(note, err=True)
    web = None
    if settings.web_enabled:
        try:
            web, actual = await start_web(
                node,
                keys,
                host=web_host,
                port=web_port,
                daemon=runner,
                allow_public=settings.web_public,
            )
        except OSError as e:
            await runner.stop()
            fail(f"cannot listen on {web_host}:{web_port} for the web view: {e.strerror}")
        shown = f"[{web_host}]" if ":" in web_host else web_host
        click.echo(f"Web view on {address(web)}")
        click.echo(
            "The web view is yours only: that address lets one browser in, once. The "
            f"current one is always in {node.home.path / servelock.WEB_ADDRESS_FILE} "
            "(and `commune status` prints it).",
            err=True,
        )
        lock.note(web=f"http://{shown}:{actual}/")
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if web is not None:
            await web.cleanup()
        await runner.stop()
