"""What every command shares: the node folder, the passphrase, errors, times."""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from crypto.errors import KeyfileError, WrongPassphrase
from crypto.identity import NodeKeys
from node.home import Home
from node.service import Node
from protocol import hlc

INSECURE_WARNING = (
    "WARNING: this node's key is stored without a passphrase; anyone who copies its folder "
    "has its identity. Use it for demos and tests only."
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _moment(ts: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hlc.millis(ts) / 1000, tz=datetime.UTC)


def suspect(ts: int) -> bool:
    """A timestamp far ahead of this machine's clock (docs/PROTOCOL.md §3.2): shown as
    such, never refused."""
    return hlc.is_suspect(ts, int(time.time() * 1000))


def human_time(ts: int) -> str:
    text = _moment(ts).strftime("%Y-%m-%d %H:%M UTC")
    return f"{text} (suspect: in the future)" if suspect(ts) else text


def iso_time(ts: int) -> str:
    return _moment(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def passphrase(confirm: bool = False) -> bytes:
    """From $COMMUNE_PASSPHRASE; else from the file ``passphrase`` in
    $CREDENTIALS_DIRECTORY (a systemd credential, or a container secret: deploy/README.md),
    less one final line break; else asked for at the prompt."""
    env = os.environ.get("COMMUNE_PASSPHRASE")
    if env is not None:
        return env.encode()
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / "passphrase"
        try:
            secret = path.read_bytes()
        except FileNotFoundError:
            pass
        except OSError as e:
            fail(f"cannot read the passphrase credential {path}: {e.strerror}")
        else:
            return secret.removesuffix(b"\n").removesuffix(b"\r")
    try:
        text = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    except click.exceptions.Abort:
        fail(
            "no passphrase was given: this node's key, and its store and files encrypted "
            "under it, open only with it (type it at the prompt, or set $COMMUNE_PASSPHRASE)"
        )
    return str(text).encode()


class Context:
    def __init__(self, home: Path) -> None:
        self.home = Home(home)
        self._keys: NodeKeys | None = None

    def node(self) -> Node:
        """The node, its keys opened first (its store and files are encrypted under
        them): asked for at most once per command."""
        self.keys()
        return Node.open(self.home)

    def keys(self) -> NodeKeys:
        self.home.require()
        if self._keys is not None:
            return self._keys
        if not self.home.key_is_encrypted():
            self._keys = self.home.unlock(None)
        else:
            try:
                self._keys = self.home.unlock(passphrase())
            except WrongPassphrase as e:
                raise KeyfileError(e.message) from None
        return self._keys

    def keys_without_asking(self) -> NodeKeys | None:
        """The keys if they open without a prompt (no passphrase, or one in the
        environment or a credential); None when only a prompt would open them."""
        if self._keys is not None:
            return self._keys
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        given = "COMMUNE_PASSPHRASE" in os.environ or (
            credentials is not None and (Path(credentials) / "passphrase").exists()
        )
        if self.home.key_is_encrypted() and not given:
            return None
        return self.keys()


pass_ctx = click.make_pass_decorator(Context)


def peer_rows(node: Node) -> list[dict[str, Any]]:
    """``peer list``'s and ``show peers``' rows (docs/CLI.md): each address this node
    syncs with, named as ``status`` names it: a peer given by ``peer add`` is known by
    the node id its certificate proved at the last sync with it, and that member's name."""
    from node import records  # noqa: PLC0415 - the peers' records only where listed
    from node.peers import known_peers  # noqa: PLC0415

    membership = node.membership()
    members = membership.members if membership is not None else {}
    names = {node_id.hex(): m.name for node_id, m in members.items()}
    synced = records.sync_records(node.store)
    rows = []
    for peer in known_peers(node):
        proved = synced.get(peer.url, {}).get("node_id")
        peer_id = peer.node_id.hex() if peer.node_id else proved
        rows.append(
            {
                "id": peer_id,
                "url": peer.url,
                "name": peer.name or names.get(peer_id or "", ""),
                "source": peer.source,
            }
        )
    return rows


def peer_line(row: dict[str, Any]) -> str:
    """One peer of ``peer list``'s text: its address, its name (or that it is not known
    yet: no sync with it has proved who it is) and where the address came from."""
    name = row["name"] or ("name not known yet" if row["id"] is None else row["id"][:12])
    return f"{row['url']:<40} {name:<24} {row['source']}"
