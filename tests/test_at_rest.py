"""The node folder at rest (issue 16): the store encrypted with SQLCipher under a random
store key wrapped in the key file, the files beside it sealed, a folder written before
that brought to it on first open with nothing lost, and clear words for a wrong
passphrase or a damaged store. Every command runs as its own process, as users run it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from crypto import keyfile
from crypto.identity import NodeKeys
from node.cipherdb import PLAINTEXT_HEADER, connect
from node.home import Home
from node.store import Store
from tests.helpers import OTHER_PASSPHRASE, commune

FIXTURE = Path(__file__).parent / "data" / "node-before-encryption.tar.gz"
#: the passphrase of the fixture's node (tests/data/README.md)
OLD_PASSPHRASE = "quiet harbour lantern orchard"
#: what the fixture's node wrote: reports, a plan, a contact, its own name, the
#: network's name, a redacted report, a peer's address
MARKERS = [
    b"MARKREPORT",
    b"MARKBODY",
    b"MARKPLAN",
    b"MARKOWNER",
    b"MARKCONTACT",
    b"MARKNODE",
    b"MARKNET",
    b"MARKREDACTED",
    b"198.51.100.7",
]


def unpack(tmp_path: Path) -> Path:
    """The fixture, as if its folder had always been here: unpacking gives the store a
    new file, which the node would rightly take for a copy (node/ownfeed.py), so the
    store's record of its own file is set to this one, as it was where it was made."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    store = tmp_path / "la" / "store.sqlite"
    stat = store.stat()
    conn = connect(store, None, isolation_level=None)
    try:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'store_file'", (f"{stat.st_dev}:{stat.st_ino}",)
        )
    finally:
        conn.close()
    return tmp_path


def run(home: Path, *args: str, passphrase: str = OLD_PASSPHRASE, **kw: object) -> str:
    result = commune(home, *args, env={"COMMUNE_PASSPHRASE": passphrase}, **kw)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(home: Path, *args: str, passphrase: str = OLD_PASSPHRASE) -> str:
    result = commune(home, *args, env={"COMMUNE_PASSPHRASE": passphrase})
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    return result.stderr


def hits(folder: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    """Which of ``needles`` each file under ``folder`` holds (none, when all is well)."""
    found: dict[str, list[bytes]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            there = [n for n in needles if n in data or n.hex().encode() in data]
            if there:
                found[str(path.relative_to(folder))] = there
    return found


def same_rows(shown: list[dict[str, object]], before: list[dict[str, object]]) -> bool:
    """The rows the version before printed, field for field (a newer version may add
    fields: a report's state, say)."""
    return len(shown) == len(before) and all(
        {k: row.get(k) for k in old} == old for row, old in zip(shown, before, strict=True)
    )


def test_a_folder_written_before_encryption_is_encrypted_on_first_open_nothing_lost(
    tmp_path: Path,
) -> None:
    fixture = unpack(tmp_path)
    home = fixture / "la"
    assert (home / "store.sqlite").read_bytes().startswith(PLAINTEXT_HEADER)
    assert hits(home, MARKERS)  # today's main left all of it readable
    # The first command with the passphrase brings the folder up to date.
    for what in ("reports", "plans", "contacts"):
        shown = json.loads(run(home, "show", what, "--json"))
        assert same_rows(shown, json.loads((fixture / f"{what}.json").read_text())), what
    logged = json.loads(run(home, "log", "--json"))
    assert same_rows(logged, json.loads((fixture / "log.json").read_text()))
    assert {row["author_name"] for row in logged} == {"Los Angeles MARKNODE"}
    # the projections are folded again from the log by this version's kinds (a report
    # of the version before reads as a draft): the same state a rebuild gives
    upgraded = run(home, "state-hash")
    run(home, "rebuild")
    assert run(home, "state-hash") == upgraded
    run(home, "verify")
    # Nothing of it is readable any more, in any file of the folder.
    assert not (home / "store.sqlite").read_bytes().startswith(PLAINTEXT_HEADER)
    assert hits(home, MARKERS) == {}
    names = ["node.json", "node.key", "own-head", "store.sqlite"]
    assert sorted(p.name for p in home.iterdir()) == names
    secret = keyfile.unlock((home / "node.key").read_bytes(), OLD_PASSPHRASE.encode())
    assert NodeKeys.from_bytes(secret).store_key is not None
    # The same store, not a copy: the node writes on at once (no "copied" block).
    run(home, "post", "report", "--title", "after the upgrade")
    assert "after the upgrade" in run(home, "show", "reports")
    assert "without a passphrase" not in commune(home, "status").stderr
    # Without the passphrase nothing opens.
    assert "passphrase does not open" in refused(home, "show", "reports", passphrase="wrong one")


def test_a_backup_written_before_encryption_restores_into_an_encrypted_folder(
    tmp_path: Path,
) -> None:
    fixture = unpack(tmp_path)
    home = tmp_path / "restored"
    run(home, "restore", str(fixture / "la-backup.json"))
    reports = json.loads(run(home, "show", "reports", "--json"))
    assert same_rows(reports, json.loads((fixture / "reports.json").read_text()))
    assert hits(home, MARKERS) == {}
    assert not (home / "store.sqlite").read_bytes().startswith(PLAINTEXT_HEADER)


def test_a_new_backup_and_its_store_copy_show_nothing_and_restore_whole(tmp_path: Path) -> None:
    fixture = unpack(tmp_path)
    home = fixture / "la"
    backup = tmp_path / "stick" / "la.backup"
    backup.parent.mkdir()
    run(home, "backup", str(backup), "--with-store")
    assert hits(backup.parent, MARKERS) == {}
    doc = json.loads(backup.read_text())
    assert doc["version"] == 3
    assert set(doc) == {"type", "version", "key_file", "key_encrypted", "sealed", "sha256"}
    restored = tmp_path / "restored"
    run(restored, "restore", str(backup))
    # the same state as the node's own, whose projections the version before built
    assert json.loads(run(restored, "show", "reports", "--json")) == json.loads(
        run(home, "show", "reports", "--json")
    )
    assert run(restored, "state-hash") == run(home, "state-hash")
    assert hits(restored, MARKERS) == {}
    # A sealed backup opens with its passphrase only, and one altered byte is refused.
    other = tmp_path / "other"
    assert "passphrase does not open" in refused(other, "restore", str(backup), passphrase="nope")
    assert not other.exists() or not any(other.iterdir())
    altered = json.loads(backup.read_text())
    sealed = bytearray(altered["sealed"].encode())
    sealed[40] = ord("A") if sealed[40] != ord("A") else ord("B")
    altered["sealed"] = sealed.decode()
    altered.pop("sha256")
    altered["sha256"] = hashlib.sha256(
        json.dumps(altered, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    backup.write_text(json.dumps(altered))
    assert "altered" in refused(other, "restore", str(backup))


def test_the_store_and_its_write_ahead_log_hold_no_plaintext(tmp_path: Path) -> None:
    home = Home(tmp_path / "la")
    home.init("Los Angeles MARKNODE", None)
    store = home.open_store()
    try:
        with store.write():
            for i in range(50):
                store.set_meta(f"note:{i}", f"MARKREPORT {i} " * 20)
        wal = Path(f"{home.store_path}-wal")
        assert wal.exists()
        assert wal.stat().st_size > 0
        assert hits(home.path, MARKERS) == {}
    finally:
        store.close()
    # Opened under the right key it reads; as plain SQLite or under another key it does not.
    with home.open_store() as again:
        assert again.get_meta("note:3") == "MARKREPORT 3 " * 20
    with pytest.raises(Exception, match="damaged"):
        Store(home.store_path)
    with pytest.raises(Exception, match="damaged"):
        Store(home.store_path, bytes(32))


def test_passwd_rewraps_the_store_key_and_leaves_the_store_as_it_is(tmp_path: Path) -> None:
    fixture = unpack(tmp_path)
    home = fixture / "la"
    run(home, "show", "reports")  # encrypted now
    before = (home / "store.sqlite").read_bytes()
    result = commune(
        home,
        "passwd",
        env={"COMMUNE_PASSPHRASE": OLD_PASSPHRASE, "COMMUNE_NEW_PASSPHRASE": OTHER_PASSPHRASE},
    )
    assert result.returncode == 0, result.stderr
    assert (home / "store.sqlite").read_bytes() == before
    assert "Asamblea MARKREPORT" in run(home, "show", "reports", passphrase=OTHER_PASSPHRASE)
    assert "passphrase does not open" in refused(home, "show", "reports")


@pytest.mark.parametrize("where", ["header", "page", "truncated"])
def test_a_damaged_store_says_damaged_in_one_line(tmp_path: Path, where: str) -> None:
    fixture = unpack(tmp_path)
    home = fixture / "la"
    run(home, "show", "reports")  # encrypted now
    store = home / "store.sqlite"
    data = bytearray(store.read_bytes())
    if where == "truncated":
        data = data[: len(data) // 3 + 100]
    else:
        at = 20 if where == "header" else 4096 * 2 + 300
        data[at] ^= 0xFF
    store.write_bytes(bytes(data))
    error = refused(home, "show", "reports")
    assert "damaged" in error
    assert len(error.strip().splitlines()) <= 2, error


def test_a_key_file_of_another_node_does_not_open_this_folder(tmp_path: Path) -> None:
    fixture = unpack(tmp_path)
    home = fixture / "la"
    run(home, "show", "reports")
    other = Home(tmp_path / "x")
    other.init("X", OLD_PASSPHRASE.encode())
    shutil.copy(other.key_path, home / "node.key")
    assert "does not belong" in refused(home, "show", "reports")
