"""Builders shared by the tests: real keys, real events, real node folders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crypto.atrest import sqlcipher_key
from crypto.identity import NodeKeys
from crypto.sign import SigningKey
from node import network
from node.cipherdb import connect
from node.home import Home
from protocol import encoding, signed
from protocol.envelope import NO_NETWORK, VERSION, Event, create_event
from protocol.kinds import member

ROOT = Path(__file__).resolve().parent.parent

#: Passphrases that pass the minimum of init, passwd and restore (node/strength.py):
#: for tests that type or give one through the command line.
PASSPHRASE = "copper meadow violin parsnip"
OTHER_PASSPHRASE = "lluvia tardía sobre el mercado de flores"


def fixed_key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def payload(title: str = "t", body: str = "b") -> bytes:
    return encoding.encode({"v": 1, "title": title, "body": body})


def feed(
    key: SigningKey,
    count: int,
    *,
    network: bytes = NO_NETWORK,
    kind: str = "report",
    start_ts: int = 1_000 << 16,
    title: str = "report",
) -> list[Event]:
    """A valid feed of ``count`` events by ``key``."""
    events: list[Event] = []
    for i in range(count):
        prev = events[-1] if events else None
        events.append(
            create_event(
                key,
                network=network,
                seq=i + 1,
                prev=prev.id if prev else None,
                ts=start_ts + i,
                kind=kind,
                body=payload(f"{title} {i + 1}"),
            )
        )
    return events


def forge(
    key: SigningKey | None,
    *,
    version: Any = VERSION,
    network: Any = NO_NETWORK,
    author: Any = None,
    seq: Any = 1,
    prev: Any = None,
    ts: Any = 1 << 16,
    kind: Any = "report",
    body: Any = None,
    body_hash: Any = None,
    signature: Any = None,
    extra: Sequence[Any] = (),
) -> bytes:
    """Raw bytes of an event with any field set as given; signed by ``key`` when the
    signature is not given."""
    if body is None:
        body = payload()
    if author is None:
        assert key is not None
        author = key.public
    if body_hash is None:
        body_hash = signed.body_hash(body) if isinstance(body, bytes) else bytes(32)
    header = [version, network, author, seq, prev, ts, kind, body_hash]
    if signature is None:
        assert key is not None
        signature = signed.sign_event(key, encoding.encode(header))
    return encoding.encode([*header, signature, body, *extra])


def commune(
    home: Path,
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``commune`` command in a separate process (``preexec_fn`` runs in it
    first: a resource limit, say)."""
    full_env = dict(os.environ)
    full_env.pop("COMMUNE_PASSPHRASE", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "node", "--home", str(home), *args],
        capture_output=True,
        text=True,
        input=input,
        env=full_env,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=preexec_fn,
    )


def refused(
    home: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> str:
    """Run a command that must fail: the one clear `error:` line it prints, checked to
    come with a non-zero exit and no traceback."""
    result = commune(home, *args, input=input, env=env)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def open_home(home: Path, passphrase: str | None = None) -> Home:
    """A node folder with its keys opened (``passphrase``, else :data:`PASSPHRASE` for a
    key file that has one): what its encrypted store and files need."""
    opened = Home(home)
    encrypted = opened.key_is_encrypted()
    opened.unlock((passphrase or PASSPHRASE).encode() if encrypted else None)
    return opened


def store_db(home: Path, passphrase: str | None = None, path: Path | None = None) -> Any:
    """A connection to the store of the node in ``home`` (or to ``path``, a file under
    the same store key: a store copy), opened with the node's key as the node opens it.
    Use it as ``with store_db(...) as db:``: the changes are committed at the end."""
    opened = open_home(home, passphrase)
    return connect(path or opened.store_path, sqlcipher_key(opened.store_key))


def read_only_db(home: Home) -> Any:
    """A read-only connection to the store of ``home`` (its keys opened), as another
    process would read it."""
    return connect(
        f"file:{home.store_path}?mode=ro", sqlcipher_key(home.store_key), uri=True, timeout=30
    )


def store_plaintext(home: Path, passphrase: str | None = None, path: Path | None = None) -> bytes:
    """Every byte of the store of the node in ``home`` (or of ``path``) decrypted, as one
    plaintext SQLite file: to search what it holds for what must not be there."""
    opened = open_home(home, passphrase)
    source = path or opened.store_path
    plain = source.with_name(source.name + ".plaintext-for-test")
    plain.unlink(missing_ok=True)
    conn = connect(source, sqlcipher_key(opened.store_key), isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(plain),))
        conn.execute("SELECT sqlcipher_export('plain')")
        conn.execute("DETACH DATABASE plain")
    finally:
        conn.close()
    try:
        return plain.read_bytes()
    finally:
        plain.unlink()


def node_keys() -> NodeKeys:
    return NodeKeys.generate()


def found_network(node: Any, keys: NodeKeys, *members: SigningKey, name: str = "Red") -> bytes:
    """Found a network on ``node`` and admit ``members``; the network id."""
    genesis = network.found(node, keys, name)
    actions = [
        (member.ADMIT, member.action_payload(member.Admit(m.public, f"m{i}", bytes(32), False)))
        for i, m in enumerate(members)
    ]
    if actions:
        node.post(keys, actions)
    return bytes(genesis.id)
