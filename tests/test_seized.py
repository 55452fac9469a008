"""A seized folder shows nothing (issue 16, scenario 7): three nodes, each run as users
run them (every command its own process, ``serve`` too), post reports, plans, contacts
and members with unique markers, sync, redact one item, back up and export a bundle,
and stop. Then every byte of every file that any node or command wrote (node folders,
stores with their WAL and SHM, serve's logs, backups with their store copy, bundles,
temporary files: TMPDIR points below the test's folder) is searched for every marker,
the network's name, the members' names, the peers' addresses and every key in every
usual form: zero hits.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, open_home
from tests.net import free_port

NAMES = {"la": "Los Angeles QXNAMELA", "sv": "San Salvador QXNAMESV", "in": "Mumbai QXNAMEIN"}
PASSPHRASES = {
    "la": "copper meadow violin parsnip",
    "sv": "lluvia tardía sobre el mercado de flores",
    "in": "monsoon kettle saffron bicycle lantern",
}
NETWORK = "Red QXNETWORK"
MARKERS = [
    "QXREPORTTITLE",
    "QXREPORTBODY",
    "QXPLANTITLE",
    "QXPLANOWNER",
    "QXCONTACTNAME",
    "QXCONTACTPHONE",
    "QXREDACTED",
]


class Nodes:
    """The three node folders, the logs, a stick and a TMPDIR, all under one root, so
    that every file the commands write is found below it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.stick = root / "stick"
        self.tmp = root / "tmp"
        for folder in (self.logs, self.stick, self.tmp):
            folder.mkdir()
        self.ports = {name: free_port() for name in NAMES}
        self.serving: dict[str, subprocess.Popen[str]] = {}

    def home(self, name: str) -> Path:
        return self.root / name

    def env(self, name: str) -> dict[str, str]:
        env = dict(os.environ, COMMUNE_PASSPHRASE=PASSPHRASES[name], TMPDIR=str(self.tmp))
        env.pop("COMMUNE_NEW_PASSPHRASE", None)
        return env

    def run(self, name: str, *args: str) -> str:
        """A command of node ``name``. What it prints goes to the user's terminal, not
        to a file (it names the node and the network, for the user): not searched.
        ``serve``'s log, which a service manager keeps on disk, is."""
        done = subprocess.run(
            [sys.executable, "-m", "node", "--home", str(self.home(name)), *args],
            capture_output=True,
            text=True,
            env=self.env(name),
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    def serve(self, name: str) -> None:
        with (self.logs / f"{name}-serve.log").open("a") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node",
                    "--home",
                    str(self.home(name)),
                    "serve",
                    "--listen",
                    f"127.0.0.1:{self.ports[name]}",
                    "--interval",
                    "3600",
                    "--web",
                    "127.0.0.1:0",
                    "--log-level",
                    "debug",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=self.env(name),
                cwd=ROOT,
            )
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Serving on")
        self.serving[name] = proc

    def stop(self) -> None:
        for proc in self.serving.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in self.serving.items():
            out, _ = proc.communicate(timeout=60)
            (self.logs / f"{name}-serve.out").write_text(out)
            assert proc.returncode == 0, name

    def shown(self, name: str, what: str) -> list[dict[str, object]]:
        return list(json.loads(self.run(name, "show", what, "--json")))


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def forms(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b32encode(secret),
    ]


def test_a_seized_stopped_node_or_stick_shows_nothing(tmp_path: Path) -> None:
    nodes = Nodes(tmp_path)
    cards = {name: nodes.run(name, "init", "--name", NAMES[name]).strip() for name in NAMES}
    nodes.run("la", "found", NETWORK)
    for name in ("sv", "in"):
        invite = nodes.run("la", "admit", cards[name]).strip()
        nodes.run(name, "join", invite)
    nodes.serve("la")
    la_url = f"https://127.0.0.1:{nodes.ports['la']}"
    for name in ("sv", "in"):
        nodes.run(name, "peer", "add", la_url)
        nodes.serve(name)

    nodes.run("la", "post", "report", "--title", "Asamblea QXREPORTTITLE", "--body", "QXREPORTBODY")
    redacted = nodes.run("la", "post", "report", "--title", "Borrar QXREDACTED").strip()
    nodes.run("sv", "post", "plan", "--title", "QXPLANTITLE", "--owner", "QXPLANOWNER")
    la_id = open_home(nodes.home("la"), PASSPHRASES["la"]).identity().node_id.hex()
    nodes.run(
        "in", "post", "contact", "--name", "QXCONTACTNAME", "--phone", "QXCONTACTPHONE",
        "--to", la_id,
    )  # fmt: skip
    for name in ("sv", "in"):
        nodes.run(name, "sync")
    nodes.run("sv", "sync")  # IN's contact, through LA
    wait_for(lambda: len(nodes.shown("sv", "reports")) == 2, "SV has LA's reports")
    assert [c["name"] for c in nodes.shown("la", "contacts")] == ["QXCONTACTNAME"]
    nodes.run("la", "redact", redacted)
    for name in ("sv", "in"):
        nodes.run(name, "sync")
    wait_for(lambda: len(nodes.shown("in", "reports")) == 1, "the redaction reaches IN")
    nodes.run("la", "backup", str(nodes.stick / "la.backup"), "--with-store")
    nodes.run("sv", "export", str(nodes.stick / "sv.commune"))
    nodes.stop()

    needles: dict[str, bytes] = {m: m.encode() for m in MARKERS}
    needles["network name"] = b"QXNETWORK"
    for name, full in NAMES.items():
        needles[f"{name}'s name"] = full.split()[-1].encode()
        needles[f"{name}'s address"] = f"127.0.0.1:{nodes.ports[name]}".encode()
        needles[f"{name}'s passphrase"] = PASSPHRASES[name].encode()
        keys = open_home(nodes.home(name), PASSPHRASES[name]).unlock(PASSPHRASES[name].encode())
        assert keys.store_key is not None
        for label, secret in (
            ("signing seed", keys.signing.seed),
            ("sealing key", keys.sealing),
            ("store key", keys.store_key),
        ):
            for i, form in enumerate(forms(secret)):
                needles[f"{name}'s {label} ({i})"] = form
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    written = {p.relative_to(tmp_path).as_posix() for p in files}
    # the files were there to be searched: stores, logs, the backup and its copy, the bundle
    assert {"la/store.sqlite", "sv/store.sqlite", "in/store.sqlite"} <= written
    assert {"stick/la.backup", "stick/la.backup.store.sqlite", "stick/sv.commune"} <= written
    assert {"logs/la-serve.log", "logs/sv-serve.log", "logs/in-serve.log"} <= written
    assert (tmp_path / "logs" / "la-serve.log").stat().st_size > 0
    found: dict[str, list[str]] = {}
    for path in files:
        data = path.read_bytes()
        for what, needle in needles.items():
            if needle in data:
                found.setdefault(path.relative_to(tmp_path).as_posix(), []).append(what)
    assert found == {}
    # ...and yet it was all there, for the owners: the markers came through the sync
    assert [r["title"] for r in nodes.shown("sv", "reports")] == ["Asamblea QXREPORTTITLE"]
