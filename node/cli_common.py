"""What every command shares: the node folder, the passphrase, errors, times."""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from crypto.errors import WrongPassphrase
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


#: the passphrase itself, for every node this environment runs
PASSPHRASE_ENV = "COMMUNE_PASSPHRASE"  # noqa: S105 - a variable's name
#: a file holding the passphrase (one node's: two nodes on one machine each have theirs)
PASSPHRASE_FILE_ENV = "COMMUNE_PASSPHRASE_FILE"  # noqa: S105
T = TypeVar("T")
#: how many times a passphrase that does not open the key is asked for at the prompt
TRIES = 3
#: ``--passphrase-file FILE``, given before the command (it comes before the environment)
_option_file: list[Path] = []


def use_passphrase_file(path: Path | None) -> None:
    """Read the passphrase from ``path`` (``commune --passphrase-file FILE``)."""
    _option_file[:] = [path] if path is not None else []


def _read_secret(path: Path, what: str) -> bytes:
    try:
        secret = path.read_bytes()
    except OSError as e:
        fail(f"cannot read the passphrase file {path} ({what}): {e.strerror}")
    return secret.removesuffix(b"\n").removesuffix(b"\r")


def given_passphrase() -> tuple[bytes, str] | None:
    """The passphrase given without a prompt, and where from (words for a message): the
    file ``--passphrase-file`` names, else the file $COMMUNE_PASSPHRASE_FILE names,
    else $COMMUNE_PASSPHRASE, else the file ``passphrase`` in $CREDENTIALS_DIRECTORY (a
    systemd credential, or a container secret: deploy/README.md); a file less one final
    line break. None when only the prompt can give it."""
    if _option_file:
        return _read_secret(_option_file[0], "--passphrase-file"), f"the file {_option_file[0]}"
    named = os.environ.get(PASSPHRASE_FILE_ENV)
    if named:
        return _read_secret(Path(named), f"${PASSPHRASE_FILE_ENV}"), f"the file {named}"
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env.encode(), f"${PASSPHRASE_ENV}"
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / "passphrase"
        if path.exists():
            return _read_secret(path, "the passphrase credential"), f"the credential {path}"
    return None


def _prompt(label: str = "Passphrase", confirm: bool = False) -> bytes:
    try:
        text = click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True)
    except click.exceptions.Abort:
        fail(
            "no passphrase was given: this node's key, and its store and files encrypted "
            f"under it, open only with it (type it at the prompt, or set ${PASSPHRASE_ENV} "
            f"or ${PASSPHRASE_FILE_ENV})"
        )
    return str(text).encode()


def passphrase(confirm: bool = False) -> bytes:
    """The passphrase given (:func:`given_passphrase`), else asked for at the prompt:
    once, as it is; :func:`opened` tries it on a key and asks again."""
    given = given_passphrase()
    return given[0] if given is not None else _prompt(confirm=confirm)


def opened(
    attempt: Callable[[bytes], T],
    what: str,
    label: str = "Passphrase",
    *,
    which: str = "the passphrase",
    outcome: str = "",
) -> T:
    """What ``attempt`` opens with the passphrase (it raises WrongPassphrase when that
    does not open ``what``). The passphrase given without a prompt is tried first;
    when it does not open ``what`` (another node's, with two on one machine), at a
    terminal that is said in one line and the passphrase asked for; without one, the
    command fails in one line naming what to set. At the prompt it is asked for
    :data:`TRIES` times (each try costs the key derivation, about 0.2 s). ``which``
    names the passphrase in messages, ``outcome`` says what a failure left undone."""
    then = f"; {outcome}" if outcome else ""
    given = given_passphrase()
    if given is not None:
        secret, source = given
        try:
            return attempt(secret)
        except WrongPassphrase:
            if not sys.stdin.isatty():
                fail(
                    f"{which} does not open {what} (it came from {source}): set "
                    f"${PASSPHRASE_FILE_ENV} (or give --passphrase-file) to a file holding "
                    f"its own, or run the command at a terminal to type it{then}"
                )
            click.echo(
                f"{which[:1].upper()}{which[1:]} from {source} does not open {what}; type "
                "that node's.",
                err=True,
            )
    for left in range(TRIES - 1, -1, -1):
        try:
            return attempt(_prompt(label))
        except WrongPassphrase:
            if left:
                click.echo(f"wrong passphrase, try again ({left} left)", err=True)
    fail(f"{which} does not open {what} ({TRIES} tries at the prompt){then}")


def passphrase_given() -> bool:
    """Whether :func:`given_passphrase` has one (without reading a file)."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return bool(
        _option_file
        or os.environ.get(PASSPHRASE_FILE_ENV)
        or PASSPHRASE_ENV in os.environ
        or (credentials and (Path(credentials) / "passphrase").exists())
    )


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
            self._keys = opened(self.home.unlock, f"the key of the node in {self.home.path}")
        return self._keys

    def keys_without_asking(self) -> NodeKeys | None:
        """The keys if they open without a prompt (no passphrase, or one in the
        environment or a credential); None when only a prompt would open them."""
        if self._keys is not None:
            return self._keys
        if self.home.key_is_encrypted() and not passphrase_given():
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
