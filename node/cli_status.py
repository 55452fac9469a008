"""Commands that say how the node is doing: ``status`` and ``doctor`` (docs/CLI.md).

``status`` is node/status.py. ``doctor`` checks the folder and says what to fix, one
line per check: ``OK``, ``WARN``, ``FAIL`` or ``SKIP`` (node/checks.py); it exits 1
when any check fails. It tries a real sync round with each known peer (so it writes
what they send, as ``sync`` would) and asks each for the time (node/probes.py)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import peers as peer_list
from node.cli_common import Context, fail, pass_ctx
from node.home import Home
from node.service import Node

if TYPE_CHECKING:
    pass

from node.checks import (
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    check_backup,
    check_disk,
    check_folder,
    check_key,
    check_membership,
    check_serve,
    check_store,
)
from node.status import status

DEFAULT_TIMEOUT = 10.0
PROXIED_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """What ``doctor`` takes from the settings file ``serve`` reads (node/config.py)."""

    check: Check | None = None
    proxy: str | None = None
    proxy_all: bool = False
    peers: tuple[str, ...] = ()


def _settings(home: Home, given: Path | None) -> Settings:
    try:
        from node import config  # noqa: PLC0415 - the deploy settings, when present
    except ImportError:  # pragma: no cover - a build without them
        return Settings()
    try:
        cfg = config.find(home.path, given)
    except CommuneError as e:
        return Settings(Check("settings", FAIL, e.message, "correct the settings file"))
    if cfg.source is None:
        return Settings()
    return Settings(
        Check("settings", OK, f"{cfg.source} reads well"), cfg.proxy, cfg.proxy_all, cfg.peers
    )


def run_doctor(
    ctx: Context, ask: bool, timeout: float | None, config_file: Path | None = None
) -> list[Check]:
    home = ctx.home
    checks: list[Check] = []
    if not home.identity_path.exists():
        return [
            Check(
                "folder",
                FAIL,
                f"there is no node in {home.path}",
                f"give the right --home, or `commune --home {home.path} init --name NAME`",
            )
        ]
    checks += check_folder(home)
    # Everything but the key file is encrypted under the key: it comes first.
    key_check, keys = check_key(home, ask)
    checks.append(key_check)
    if keys is None:
        checks.append(
            Check(
                "store",
                SKIP,
                "not opened: the store and the node's files are encrypted under its key",
                "run `commune doctor` with the passphrase to check them",
            )
        )
        checks.append(check_disk(home))
        return checks
    try:
        home.identity()
    except CommuneError as e:
        checks.append(Check("identity", FAIL, e.message, "restore the node from a backup"))
        return checks
    settings = _settings(home, config_file)
    if settings.check is not None:
        checks.append(settings.check)
    if timeout is None:  # Tor is slow to build a circuit
        timeout = PROXIED_TIMEOUT if settings.proxy else DEFAULT_TIMEOUT
    damaged = (
        "stop serve, then `commune resync` (a new store from what still checks and from "
        "the peers), or restore the node from a backup"
    )
    try:
        node = Node.open(home)
    except CommuneError as e:
        checks.append(
            Check("store integrity", FAIL, f"the store does not open: {e.message}", damaged)
        )
        checks.append(check_disk(home))
        return checks
    with node:
        try:
            checks += check_store(node)
        except CommuneError as e:
            # A damaged store: what needs it cannot be checked
            checks.append(Check("store integrity", FAIL, e.message, damaged))
            checks.append(check_disk(home))
            checks.append(check_serve(home, time.time()))
            return checks
        # The peers first (a round may bring this node's admission or confirm its feed),
        # then what the store says now; their lines come last.
        try:
            peer_checks = _peers(node, keys, settings, timeout)
            now = node.clock()
            checks += check_membership(node)
            checks.append(check_disk(home))
            checks.append(check_serve(home, now))
            checks.append(check_backup(node, now))
            checks += peer_checks
        except CommuneError as e:
            checks.append(Check("store", FAIL, e.message, damaged))
    return checks


def _peers(node: Node, keys: NodeKeys | None, settings: Settings, timeout: float) -> list[Check]:
    """Try each peer (a sync round, then the time, each within ``timeout``, dialled as
    the settings say), unless the key is closed or the node is in no network."""
    if keys is None:
        return [
            Check("peers", SKIP, "not tried: the key was not opened"),
            Check("clock", SKIP, "not compared: no peer was asked"),
        ]
    if node.membership() is None:
        return [Check("peers", SKIP, "not tried: this node is in no network")]
    targets = {p.url: p.name for p in peer_list.known_peers(node)}
    for url in settings.peers:
        targets.setdefault(url, "")
    if not targets:
        return [
            Check(
                "peers",
                WARN,
                "this node knows no peer to sync with",
                "`commune peer add https://HOST:PORT`",
            )
        ]
    from node import probes  # noqa: PLC0415 - asyncio and aiohttp only when doctor asks peers

    dial = probes.Dial(timeout, settings.proxy, settings.proxy_all)
    found = probes.probe_all(node, keys, targets, dial)
    membership = node.membership()
    names = {m.node_id: m.name for m in membership.members.values()} if membership else {}
    for probe in found:
        if not probe.name and probe.stats is not None and probe.stats.node_id is not None:
            probe.name = names.get(probe.stats.node_id, "")
    return [*probes._peer_checks(found), probes._clock_check(found, node, time.time())]


@click.command()
@click.option(
    "--no-passphrase",
    is_flag=True,
    help="Do not ask for the passphrase: skip opening the key, the peers and the clock.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0, max=600.0),
    default=None,
    help=f"Seconds each peer has to answer (default {DEFAULT_TIMEOUT:g}, "
    f"{PROXIED_TIMEOUT:g} with a proxy).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="COMMUNE_CONFIG",
    help="The settings file serve reads (default: $COMMUNE_CONFIG, else node.toml in the "
    "node folder): checked, and its proxy and peers used.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the checks (docs/CLI.md).")
@pass_ctx
def doctor(
    ctx: Context,
    no_passphrase: bool,
    timeout: float | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Check this node's folder and say what to fix: permissions, key, store, network,
    peers, clock, disk, serve, backup. Exits 1 when a check fails."""
    checks = run_doctor(ctx, not no_passphrase, timeout, config_file)
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], ensure_ascii=False, indent=1))
    else:
        for c in checks:
            click.echo(c.line())
    failed = sum(1 for c in checks if c.status == FAIL)
    if failed:
        fail(f"{failed} check(s) failed: see the FAIL lines")


STATUS_COMMANDS = [status, doctor]
