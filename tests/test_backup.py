"""Key safety through the real command line: passwd, backup and restore (scenarios 7
and 9: a seized disk, a lost node), each command a separate process on real folders."""

from __future__ import annotations

import base64
import contextlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from crypto import atrest, keyfile
from crypto.errors import WrongPassphrase
from crypto.identity import NodeKeys
from node import backup
from node.home import Home, identity_document
from tests.helpers import PASSPHRASE, commune, open_home, refused, store_db, store_plaintext
from tests.net import free_port, serve_process

OLD = "una frase vieja y larga"
NEW = "ein neuer langer Satz"


def ok(home: Path, *args: str, **kw: Any) -> str:
    """A command that must work; given OLD, the passphrase of these tests' nodes, unless
    the test gives its own environment (a node without one ignores it)."""
    kw.setdefault("env", secret(OLD))
    result = commune(home, *args, **kw)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def secret(phrase: str, new: str | None = None) -> dict[str, str]:
    env = {"COMMUNE_PASSPHRASE": phrase}
    if new is not None:
        env["COMMUNE_NEW_PASSPHRASE"] = new
    return env


def meta(home: Path) -> dict[str, str]:
    with contextlib.closing(store_db(home, OLD)) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def peer_rows(home: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(store_db(home, OLD)) as db:
        return db.execute("SELECT node_id, name, card, url FROM peers ORDER BY node_id").fetchall()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwd_changes_the_passphrase_and_a_wrong_one_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "sv"
    ok(home, "init", "--name", "El Salvador", env=secret(OLD))
    key = home / "node.key"
    before = key.read_bytes()

    error = refused(home, "passwd", env=secret("not it", NEW))
    assert "current passphrase does not open" in error
    assert "nothing was changed" in error
    assert refused(home, "passwd", env=secret(OLD, "")).endswith(
        "the new passphrase is empty; the key file was left as it was"
    )
    assert key.read_bytes() == before

    ok(home, "passwd", env=secret(OLD, NEW))
    assert key.read_bytes() != before
    assert mode(key) == 0o600
    with pytest.raises(WrongPassphrase):
        Home(home).unlock(OLD.encode())
    opened = Home(home)
    assert opened.unlock(NEW.encode()).node_id == opened.identity().node_id
    assert "passphrase does not open" in refused(home, "found", "Red", env=secret(OLD))
    ok(home, "found", "Red", env=secret(NEW))

    # At the prompt: the current one, then the new one twice.
    ok(home, "passwd", env={}, input=f"{NEW}\n{PASSPHRASE}\n{PASSPHRASE}\n")
    Home(home).unlock(PASSPHRASE.encode())


def test_passwd_gives_an_insecure_node_a_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "za"
    ok(home, "init", "--name", "South Africa", "--insecure-no-passphrase")
    assert "without a passphrase" in commune(home, "card").stderr
    out = commune(home, "passwd", env={"COMMUNE_NEW_PASSPHRASE": NEW})
    assert out.returncode == 0, out.stderr
    assert "stored in the clear" in out.stderr
    assert Home(home).key_is_encrypted()
    assert "without a passphrase" not in commune(home, "card").stderr
    Home(home).unlock(NEW.encode())


def test_backup_of_a_node_without_passphrase_needs_insecure(tmp_path: Path) -> None:
    home = tmp_path / "in"
    ok(home, "init", "--name", "India", "--insecure-no-passphrase")
    file = tmp_path / "in.backup"
    error = refused(home, "backup", str(file))
    assert "no passphrase" in error
    assert "commune passwd" in error
    assert "--insecure" in error
    assert not file.exists()

    ok(home, "backup", str(file), "--insecure")
    assert mode(file) == 0o600
    target = tmp_path / "in-again"
    target.mkdir()  # an empty folder is fine
    out = commune(target, "restore", str(file))
    assert out.returncode == 0, out.stderr
    assert "without a passphrase" in out.stderr
    assert "no network" in out.stderr
    assert Home(target).identity() == Home(home).identity()
    assert meta(target)["feed_unconfirmed"] == "restored"
    assert sorted(p.name for p in target.iterdir()) == ["node.json", "node.key", "store.sqlite"]


def test_a_damaged_backup_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(home, "found", "Red")
    file = tmp_path / "la.backup"
    ok(home, "backup", str(file), "--insecure")
    data = file.read_bytes()
    backup.parse(data)

    # Every single byte changed, everywhere in the file, is caught.
    for at in range(len(data)):
        damaged = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        with pytest.raises(backup.BadBackup):
            backup.parse(damaged)

    target = tmp_path / "la-again"
    middle = len(data) // 2
    flipped = tmp_path / "flipped.backup"
    flipped.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :])
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(data[: len(data) - 40])
    for bad in (flipped, truncated):
        error = refused(target, "restore", str(bad))
        assert "is damaged" in error, error
        assert "nothing was written" in error
        assert not target.exists()
    assert "not a Commune backup" in refused(target, "restore", str(home / "node.json"))
    assert not target.exists()


def test_restore_refuses_a_folder_that_holds_a_node(tmp_path: Path) -> None:
    la = tmp_path / "la"
    za = tmp_path / "za"
    ok(la, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(za, "init", "--name", "South Africa", "--insecure-no-passphrase")
    file = tmp_path / "la.backup"
    ok(la, "backup", str(file), "--insecure")
    before = {p.name: p.read_bytes() for p in za.iterdir() if p.name.startswith("node.")}
    error = refused(za, "restore", str(file))
    assert str(za) in error
    assert "already holds a node" in error
    assert {p.name: p.read_bytes() for p in za.iterdir() if p.name.startswith("node.")} == before
    assert Home(za).identity().name == "South Africa"


def _variants(secret_bytes: bytes) -> list[bytes]:
    return [
        secret_bytes,
        secret_bytes.hex().encode(),
        secret_bytes.hex().upper().encode(),
        base64.b64encode(secret_bytes),
        base64.urlsafe_b64encode(secret_bytes),
        base64.b32encode(secret_bytes),
        base64.b32encode(secret_bytes).lower(),
    ]


def test_backup_and_restore_bring_a_lost_node_back_without_forking_it(tmp_path: Path) -> None:
    """Scenario 9: SV's laptop is destroyed; it restores its key from its backup and
    gets its own feed back from LA, then writes on without forking it."""
    la, sv, sv2 = tmp_path / "la", tmp_path / "sv", tmp_path / "sv-restored"
    port = free_port()
    la_url = f"https://127.0.0.1:{port}"
    ok(la, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(la, "found", "Red")
    card = ok(sv, "init", "--name", "El Salvador", env=secret(OLD)).strip()
    ok(sv, "join", ok(la, "admit", card).strip())
    ok(sv, "peer", "add", la_url)
    for title in ("uno", "dos"):
        ok(sv, "post", "report", "--title", title, env=secret(OLD))  # LA is not serving yet
    ok(sv, "post", "contact", "--name", "Priya", "--phone", "+91 22 5550 1234", env=secret(OLD))
    bundle = tmp_path / "sv.commune"
    ok(sv, "export", str(bundle))
    ok(la, "import", str(bundle))

    file = tmp_path / "sv.backup"
    assert "passphrase does not open" in refused(sv, "backup", str(file), env=secret("no"))
    assert not file.exists()
    out = commune(sv, "backup", str(file), env=secret(OLD))
    assert out.returncode == 0, out.stderr
    assert "off this machine" in out.stderr
    assert "passphrase" in out.stderr
    assert mode(file) == 0o600

    # Nothing secret in the file: not the passphrase, not the keys in any usual form.
    data = file.read_bytes()
    keys = Home(sv).unlock(OLD.encode())
    assert OLD.encode() not in data
    for key in (keys.signing.seed, keys.sealing, keys.to_bytes()):
        for form in _variants(key):
            assert form not in data
    doc = json.loads(data)
    assert doc["type"] == "commune-node-backup"
    assert doc["version"] == 3  # all but the key file sealed under the key inside it
    assert doc["key_file"].encode() == (sv / "node.key").read_bytes()
    assert b"El Salvador" not in data
    assert b"Los Angeles" not in data

    # A wrong passphrase writes nothing; the right one brings the node back.
    assert "nothing was written" in refused(sv2, "restore", str(file), env=secret("no"))
    assert not sv2.exists()
    out = commune(sv2, "restore", str(file), env=secret(OLD))
    assert out.returncode == 0, out.stderr
    assert "commune --home" in out.stderr
    assert "sync" in out.stderr
    assert "contacts" in out.stderr
    assert open_home(sv2, OLD).identity() == open_home(sv, OLD).identity()
    assert (sv2 / "node.key").read_bytes() == (sv / "node.key").read_bytes()
    assert mode(sv2) == 0o700
    assert mode(sv2 / "node.key") == 0o600
    restored, original = meta(sv2), meta(sv)
    for name in ("network", "genesis", "peer_urls"):
        assert restored[name] == original[name]
    assert restored["feed_unconfirmed"] == "restored"
    assert peer_rows(sv2) == peer_rows(sv)
    members = json.loads(ok(sv2, "show", "members", "--json"))
    assert [m["name"] for m in members] == ["Los Angeles"]  # from the founding event
    assert meta(sv2)["feed_unconfirmed"] == "restored"  # opening it changed nothing

    # It writes nothing before a peer has told it how far its own feed goes.
    error = refused(sv2, "post", "report", "--title", "tres", env=secret(OLD))
    assert "restored" in error
    assert [row["author"] for row in json.loads(ok(sv2, "log", "--json"))] == [
        Home(la).identity().node_id.hex()  # the founding event only
    ]

    server = serve_process(la, port)
    try:
        ok(sv2, "sync", env=secret(OLD))
        assert not meta(sv2)["feed_unconfirmed"]
        # its contacts come back with its feed: they are sealed to itself
        contacts = json.loads(ok(sv2, "show", "contacts", "--json", env=secret(OLD)))
        assert [(c["name"], c["phone"]) for c in contacts] == [("Priya", "+91 22 5550 1234")]
        assert "Priya" not in ok(la, "show", "contacts")  # LA relays it, cannot read it
        ok(sv2, "post", "report", "--title", "tres", env=secret(OLD))
        ok(sv2, "sync", env=secret(OLD))
    finally:
        server.terminate()
        server.wait(timeout=30)
    mine = open_home(sv, OLD).identity().node_id.hex()
    for home in (sv2, la):
        log = json.loads(ok(home, "log", "--json"))
        assert [row["seq"] for row in log if row["author"] == mine] == [1, 2, 3, 4]
        assert ok(home, "verify").startswith("ok:")
        shown = ok(home, "show", "reports", "--json", env=secret(OLD))  # sealed events: keys
        titles = {r["title"] for r in json.loads(shown)}
        assert titles == {"uno", "dos", "tres"}
        states = {m["name"]: m["state"] for m in json.loads(ok(home, "show", "members", "--json"))}
        assert states == {"Los Angeles": "admitted", "El Salvador": "admitted"}  # no fork


def test_a_backup_with_the_store_brings_the_log_back_without_any_peer(tmp_path: Path) -> None:
    la, la2 = tmp_path / "la", tmp_path / "la-restored"
    ok(la, "init", "--name", "Los Angeles", env=secret(OLD))
    ok(la, "found", "Red", env=secret(OLD))
    for title in ("uno", "dos", "tres"):
        ok(la, "post", "report", "--title", title, env=secret(OLD))
    ok(la, "post", "contact", "--name", "Ana", env=secret(OLD))
    file = tmp_path / "la.backup"
    out = ok(la, "backup", str(file), "--with-store", env=secret(OLD))
    copy = backup.store_copy_path(file)
    assert "Copied the store" in out
    assert mode(copy) == 0o600
    assert b"Ana" not in copy.read_bytes()  # the contact stays sealed in the copy
    ok(la2, "restore", str(file), env=secret(OLD))
    assert meta(la2)["feed_unconfirmed"] == "restored"
    assert ok(la2, "verify").startswith("ok:")
    assert json.loads(ok(la2, "log", "--json")) == json.loads(ok(la, "log", "--json"))
    shown = json.loads(ok(la2, "show", "contacts", "--json", env=secret(OLD)))
    assert [c["name"] for c in shown] == ["Ana"]
    assert ok(la2, "state-hash") == ok(la, "state-hash")


def _rewrite(file: Path, change: Any) -> None:
    """Alter a backup the way an attacker who knows the format, and even the passphrase,
    would: open its sealed content, change it, compute its checksum again, seal it again
    and compute the file's checksum again. Only the node's signature stands in the way."""
    doc = json.loads(file.read_bytes())
    keys = NodeKeys.from_bytes(keyfile.unlock(doc["key_file"].encode(), OLD.encode()))
    assert keys.store_key is not None
    sealed = base64.b64decode(doc["sealed"])
    inner = json.loads(atrest.open_file(keys.store_key, backup.SEALED_PURPOSE, sealed))
    inner.pop(backup.CHECKSUM)
    change(inner)
    inner[backup.CHECKSUM] = backup.checksum(inner)
    sealed = atrest.seal_file(keys.store_key, backup.SEALED_PURPOSE, json.dumps(inner).encode())
    doc["sealed"] = base64.b64encode(sealed).decode()
    doc.pop(backup.CHECKSUM)
    doc[backup.CHECKSUM] = backup.checksum(doc)
    file.write_text(json.dumps(doc))


def test_an_altered_backup_is_refused_even_with_its_checksum_made_again(tmp_path: Path) -> None:
    la, za = tmp_path / "la", tmp_path / "za"
    ok(la, "init", "--name", "Los Angeles", env=secret(OLD))
    ok(la, "found", "Red", env=secret(OLD))
    ok(za, "init", "--name", "Stranger", "--insecure-no-passphrase")
    file = tmp_path / "la.backup"
    ok(la, "backup", str(file), env=secret(OLD))
    stranger = json.loads(identity_document(Home(za).identity().card))
    for change in (
        # a stranger planted as a peer, another address, another own_seq, no signature
        lambda d: d["peers"].append(
            {
                "node_id": stranger["node_id"],
                "name": "Stranger",
                "card": stranger["card"],
                "url": "https://198.51.100.9:8470",
            }
        ),
        lambda d: d["peer_urls"].append("https://198.51.100.9:8470"),
        lambda d: d.update(own_seq=99),
        lambda d: d.pop(backup.SIGNATURE),
    ):
        altered = tmp_path / "altered.backup"
        altered.write_bytes(file.read_bytes())
        _rewrite(altered, change)
        error = refused(tmp_path / "target", "restore", str(altered), env=secret(OLD))
        assert "altered" in error or "signature is missing" in error, error
        assert "nothing was written" in error or "malformed" in error
        assert not (tmp_path / "target").exists()


def test_an_unsigned_backup_is_restored_only_when_asked_and_its_peers_give_no_trust(
    tmp_path: Path,
) -> None:
    la, za = tmp_path / "la", tmp_path / "za"
    ok(la, "init", "--name", "Los Angeles", env=secret(OLD))
    ok(la, "found", "Red", env=secret(OLD))
    ok(za, "init", "--name", "Stranger", "--insecure-no-passphrase")
    file = tmp_path / "la.backup"
    ok(la, "backup", str(file), env=secret(OLD))
    stranger = json.loads(identity_document(Home(za).identity().card))

    def older(doc: dict[str, Any]) -> None:
        # as an older Commune wrote it (no signature), with a stranger among its peers
        doc.pop(backup.SIGNATURE)
        doc["version"] = 1
        doc["peers"].append(
            {
                "node_id": stranger["node_id"],
                "name": "Stranger",
                "card": stranger["card"],
                "url": "https://198.51.100.9:8470",
            }
        )

    _rewrite(file, older)
    target = tmp_path / "target"
    assert "--unsigned" in refused(target, "restore", str(file), env=secret(OLD))
    assert not target.exists()
    ok(target, "restore", "--unsigned", str(file), env=secret(OLD))
    from node import peers as peer_list  # noqa: PLC0415
    from node.service import Node  # noqa: PLC0415

    with Node.open(open_home(target, OLD)) as node:
        assert bytes.fromhex(stranger["node_id"]) not in peer_list.trusted_ids(node)
        assert peer_list.trusted_ids(node) == set()  # the founder is this node itself


def test_a_tampered_store_copy_is_checked_event_by_event(tmp_path: Path) -> None:
    la, za, la2 = tmp_path / "la", tmp_path / "za", tmp_path / "la-restored"
    ok(la, "init", "--name", "Los Angeles", env=secret(OLD))
    ok(la, "found", "Red", env=secret(OLD))
    ok(za, "init", "--name", "Stranger", "--insecure-no-passphrase")
    ok(za, "found", "Otra red")
    ok(za, "post", "report", "--title", "de otra red")
    secret_report = ok(
        la, "post", "report", "--title", "borrado", "--body", "secreto", env=secret(OLD)
    )
    ok(la, "post", "report", "--title", "queda", env=secret(OLD))
    target_id = bytes.fromhex(secret_report.strip())
    with contextlib.closing(store_db(la, OLD)) as db:
        (unerased,) = db.execute("SELECT raw FROM events WHERE id = ?", (target_id,)).fetchone()
    ok(la, "redact", secret_report.strip(), env=secret(OLD))
    file = tmp_path / "la.backup"
    ok(la, "backup", str(file), "--with-store", env=secret(OLD))
    copy = backup.store_copy_path(file)
    original_log = json.loads(ok(la, "log", "--json"))
    # The attacker adds events of another network, a report with a broken signature,
    # meta that would let the node write at once, and text a redaction erased.
    with contextlib.closing(store_db(za)) as theirs:
        foreign = theirs.execute("SELECT id, author, seq, ts, kind, raw FROM events").fetchall()
    # (the copy is encrypted under LA's store key: this attacker has LA's passphrase)
    assert b"queda" not in copy.read_bytes()
    with contextlib.closing(store_db(la, OLD, copy)) as db, db:
        db.executemany(
            "INSERT INTO events (id, author, seq, ts, kind, raw) VALUES (?,?,?,?,?,?)", foreign
        )
        (raw,) = db.execute("SELECT raw FROM events WHERE kind = 'report' LIMIT 1").fetchone()
        broken = bytearray(raw)
        broken[-3] ^= 0xFF
        db.execute(
            "INSERT INTO events (id, author, seq, ts, kind, raw) VALUES (?,?,?,?,?,?)",
            (b"x" * 32, b"y" * 32, 1, 0, "report", bytes(broken)),
        )
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('feed_unconfirmed', '')")
        # ...and puts back the text a redaction had erased
        db.execute("UPDATE events SET raw = ? WHERE id = ?", (unerased, target_id))
    assert b"secreto" in store_plaintext(la, OLD, copy)
    out = commune(la2, "restore", str(file), env=secret(OLD))
    assert out.returncode == 0, out.stderr
    assert "refused" in out.stderr
    assert json.loads(ok(la2, "log", "--json")) == original_log
    assert meta(la2)["feed_unconfirmed"] == "restored"
    titles = {r["title"] for r in json.loads(ok(la2, "show", "reports", "--json"))}
    assert titles == {"queda"}
    assert b"secreto" not in store_plaintext(la2, OLD)
    assert ok(la2, "state-hash") == ok(la, "state-hash")
