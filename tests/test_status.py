"""``commune status`` and ``commune doctor``: each a real process on real node folders,
with real peers (sync servers on 127.0.0.1 with mutual TLS) where they matter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node import peers as peer_list
from node import records, servelock
from node.checks import Check
from node.probes import SKEW_FAIL, Probe, _clock_check
from node.sync import Stats
from node.words import ago
from protocol import hlc
from protocol.kinds import POSTABLE
from tests.helpers import ROOT, store_db
from tests.net import Member, close_all, free_port, make_network, serve_process

# ``status`` and ``doctor`` as the installed command runs them
LAUNCH = "from node.cli import main\nmain()\n"
PASSPHRASE = "a long passphrase for the tests"


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COMMUNE_PASSPHRASE", None)
    env.pop("COMMUNE_CONFIG", None)
    env.update(extra or {})
    return env


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=ROOT,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode, result.stdout, result.stderr


async def arun(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """:func:`run` without blocking the event loop (the peers it calls run in it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        "--home",
        str(home),
        *args,
        cwd=ROOT,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def lines_of(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(status + " ")]


def report(m: Member, title: str) -> None:
    m.node.post(m.keys, [("report", POSTABLE["report"].build({"title": title}))])


def no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


# --- status ---------------------------------------------------------------------------------


async def test_status_and_doctor_of_a_working_node(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"], passphrase=PASSPHRASE.encode())
    la, sv = members
    report(la, "Assembly in Boyle Heights")
    report(la, "Second report")
    report(sv, "Informe de la asamblea")
    await sv.start()
    sv_url = sv.url
    peer_list.add_manual(la.node, sv_url)
    env = {"COMMUNE_PASSPHRASE": PASSPHRASE}
    try:
        code, out, err = await arun(la.home.path, "doctor", "--timeout", "20", env=env)
        assert code == 0, out + err
        no_traceback(err)
        assert not lines_of(out, "FAIL"), out
        for expected in (
            f"OK    folder: {la.home.path} is mode 700",
            "OK    key file: node.key is mode 600",
            "OK    key: opens with the passphrase and matches node.json",
            "OK    store integrity: SQLite finds the store whole",
            "OK    search index: holds the words of every visible item",
            "OK    events: all 4 events check (signatures, chains)",
            "OK    network: a member of Red (admitted)",
            f"OK    peer: {sv_url} (El Salvador) answered and synced: ",
            "OK    clock: this machine's clock agrees with its peers' within about a second",
            "WARN  serve: not running",
            "WARN  backup: no backup of this node is recorded here. Fix: `commune backup FILE`",
        ):
            assert expected in out, f"{expected!r} not in:\n{out}"
        # every check on a line of its own, each a known status
        for line in out.splitlines():
            assert line.split()[0] in ("OK", "WARN", "FAIL", "SKIP"), line

        code, as_json, _ = await arun(la.home.path, "doctor", "--json", env=env)
        assert code == 0
        checks = json.loads(as_json)
        assert {"check", "status", "detail", "fix"} == set(checks[0])
        assert {c["check"] for c in checks} >= {"folder", "key", "events", "peer", "clock"}

        # status: another process; what the doctor's rounds recorded in the store. LA's
        # and SV's at once, both within seconds of the last round ("just now")
        (code, out, err), sv_status = await asyncio.gather(
            arun(la.home.path, "status", env=env), arun(sv.home.path, "status", env=env)
        )
        assert code == 0, err
        la_id = la.node.node_id.hex()
        assert out.splitlines()[0] == (
            f"This node: Los Angeles ({la_id[:12]}), folder {la.home.path}"
        )
        assert "Network: Red, 2 members (2 admitted)" in out
        assert "  Los Angeles  admin   admitted  (this node)" in out
        assert "  El Salvador  member  admitted" in out
        assert "Log: 5 events from 2 authors, 4 of them written here" in out
        assert "  none held" in out
        assert "  no fork evidence" in out
        assert f"Peers: 1\n  {sv_url} (El Salvador): last good sync just now; " in out
        assert "in all 2 good rounds" in out
        assert "Serve: not running" in out
        assert "Backup: none recorded here" in out

        code, out, _ = await arun(la.home.path, "status", "--json", env=env)
        assert code == 0
        status = json.loads(out)
        assert status["node"] == {"id": la_id, "name": "Los Angeles", "home": str(la.home.path)}
        assert status["network"]["name"] == "Red"
        assert [m["name"] for m in status["members"]] == ["El Salvador", "Los Angeles"]
        assert status["events"]["total"] == la.node.store.count() == 5
        assert status["events"]["held"] == 0
        assert status["events"]["forks"] == 0
        assert status["feed_unconfirmed"] == ""
        (peer,) = status["peers"]
        assert peer["url"] == sv_url
        assert peer["id"] == sv.node.node_id.hex()
        assert peer["name"] == "El Salvador"
        assert abs(peer["last_ok"] - time.time()) < 120
        assert peer["rounds_ok"] == 2
        assert peer["failures"] == 0
        assert peer["received"] == 1  # sv's report, in the first round
        assert peer["bytes_received"] > 0
        assert status["serve"] == {"running": False}
        assert status["backup"] == {"last": None, "age": None}
        assert status["callers"] == []  # nobody calls LA

        # SV, which LA called: it lists LA among the members that call it
        code, out, err = sv_status
        assert code == 0, err
        assert "Members that call this node: 1\n" in out
        assert f"  Los Angeles ({la_id[:12]}): last served just now; in all " in out
        code, out, _ = await arun(sv.home.path, "status", "--json", env=env)
        (caller,) = json.loads(out)["callers"]
        assert caller["id"] == la_id
        assert caller["name"] == "Los Angeles"
        assert caller["requests_ok"] >= 2  # a sync in each round, a push when LA has news
        assert caller["requests_refused"] == 0
        assert caller["received"] == 2  # LA's two reports (SV had the rest)
        assert caller["sent"] == 1  # SV's report
        assert caller["bytes_sent"] > 0
        assert caller["bytes_received"] > 0
    finally:
        await sv.stop()
        close_all(members)


def test_status_tells_a_running_serve_and_a_failing_peer(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la = members[0]
    home = la.home.path
    try:
        peer_list.add_manual(la.node, "https://127.0.0.1:9")
        for _ in range(2):
            records.record_sync(la.node, "https://127.0.0.1:9", None, "cannot sync: refused")
        records.record_backup(la.node.store, time.time() - 3 * 86400)
        with servelock.serve_lock(home, listen="127.0.0.1:8470") as running:
            running.note(web="http://127.0.0.1:8471/")
            with pytest.raises(servelock.ServeRunning, match=f"pid {os.getpid()}"):
                servelock.serve_lock(home).__enter__()
            code, out, err = run(home, "status")
            assert code == 0, err
            assert re.search(  # "for 0 s", or more on a busy machine
                rf"Serve: running \(pid {os.getpid()}, for \d+ s\); sync server on "
                r"127\.0\.0\.1:8470; web view http://127\.0\.0\.1:8471/",
                out,
            ), out
            _, as_json, _ = run(home, "status", "--json")
            serve = json.loads(as_json)["serve"]
            assert serve["running"] is True
            assert serve["pid"] == os.getpid()
            assert serve["web"] == "http://127.0.0.1:8471/"
        assert (home / "serve.pid").exists()  # left behind, but no longer locked
        assert servelock.serve_running(home) is None
        code, out, _ = run(home, "status")
        assert "Serve: not running" in out
        assert (
            "  https://127.0.0.1:9 (name not known yet): never synced; failing: the last 2 "
            "tries failed (last just now): cannot sync: refused"
        ) in out
        assert "Backup: made 3 days ago" in out
        # a new serve takes the lock again
        with servelock.serve_lock(home):
            assert servelock.serve_running(home) is not None
    finally:
        close_all(members)


@pytest.mark.skipif(
    "serve_lock" not in (ROOT / "node" / "cli_serve.py").read_text(),
    reason="serve does not hold the serve lock yet (node/cli_serve.py)",
)
def test_a_running_serve_is_seen_by_status(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles"])
    home = members[0].home.path
    close_all(members)
    server = serve_process(home, free_port())
    try:
        code, out, _ = run(home, "status")
        assert code == 0
        assert f"Serve: running (pid {server.pid}" in out
    finally:
        server.terminate()
        server.wait(30)
    _, out, _ = run(home, "status")
    assert "Serve: not running" in out


@pytest.mark.skipif(
    "record_sync" not in (ROOT / "node" / "daemon.py").read_text(),
    reason="the scheduler and `sync` do not record their rounds yet (node/daemon.py)",
)
async def test_sync_records_its_rounds_for_status(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la, sv = members
    await sv.start()
    peer_list.add_manual(la.node, sv.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node", "--home", str(la.home.path), "sync", cwd=ROOT
    )
    assert await proc.wait() == 0
    try:
        code, out, _ = await arun(la.home.path, "status", "--json")
        assert code == 0
        (peer,) = json.loads(out)["peers"]
        assert peer["rounds_ok"] == 1
        assert peer["last_ok"] is not None
    finally:
        await sv.stop()
        close_all(members)


# --- doctor ----------------------------------------------------------------------------------


def test_doctor_says_what_to_fix_and_fails(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles"], passphrase=PASSPHRASE.encode())
    la = members[0]
    home = la.home.path
    close_all(members)
    os.chmod(home, 0o755)
    os.chmod(la.home.key_path, 0o644)
    assert os.stat(la.home.store_path).st_mode & 0o777 == 0o600  # as the store makes it
    os.chmod(la.home.store_path, 0o644)  # as an older version, or a copy, left it
    code, out, err = run(home, "doctor", "--no-passphrase")
    assert code == 1
    no_traceback(err)
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: 3 check(s) failed: see the FAIL lines"
    ]
    assert f"FAIL  folder: {home} is mode 755" in out
    assert f"Fix: chmod 700 {home}" in out
    assert f"FAIL  key file: {la.home.key_path} is mode 644: other users can read it" in out
    assert f"Fix: chmod 600 {la.home.key_path}, and consider the key exposed" in out
    assert "FAIL  store files: store.sqlite can be read by other users" in out
    assert "SKIP  key: not opened (--no-passphrase)" in out
    # the store is encrypted under the key: without it, what needs the store waits
    assert "SKIP  store: not opened: the store and the node's files are encrypted" in out
    assert "peers" not in out
    code, out, _ = run(home, "doctor", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    assert code == 1
    assert "FAIL  key: not opened: other users can read the key file" in out

    os.chmod(home, 0o700)
    os.chmod(la.home.key_path, 0o600)
    code, out, err = run(home, "doctor", env={"COMMUNE_PASSPHRASE": "not the passphrase"})
    assert code == 1
    assert "FAIL  key: does not open: " in out
    assert not [line for line in lines_of(out, "FAIL") if "folder" in line]

    with make_network(tmp_path / "again", ["Los Angeles"])[0].node as node:
        peer_list.add_manual(node, f"https://127.0.0.1:{free_port()}")
        home = node.home.path
    code, out, err = run(home, "doctor", "--timeout", "5")
    assert code == 1
    no_traceback(err)
    assert "WARN  peer: https://127.0.0.1:" in out
    assert " did not sync: Nothing answers at that address" in out
    assert "FAIL  peers: none of the 1 peers could be reached" in out
    assert "SKIP  clock: no peer answered" in out
    _, out, _ = run(home, "status")
    assert "never synced; failing: the last try failed" in out


def test_doctor_finds_a_damaged_store(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles"])
    la = members[0]
    for i in range(50):
        report(la, f"Report {i} " + "x" * 180)
    home = la.home.path
    close_all(members)
    with contextlib.closing(store_db(la.home.path)) as db, db:
        row_id, raw = db.execute(
            "SELECT rowid, raw FROM events WHERE kind = 'report' ORDER BY rowid LIMIT 1"
        ).fetchone()
        changed = raw[:-5] + bytes([raw[-5] ^ 1]) + raw[-4:]  # one bit of the body
        db.execute("UPDATE events SET raw = ? WHERE rowid = ?", (changed, row_id))
    db.close()
    code, out, err = run(home, "doctor", "--no-passphrase")
    assert code == 1, out
    no_traceback(err)
    assert "OK    store integrity" in out
    assert "FAIL  events: 1 of 51 stored events fail their checks" in out
    assert "`commune verify` lists them" in out

    with open(la.home.store_path, "r+b") as f:
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))
    code, out, err = run(home, "doctor", "--no-passphrase")
    assert code == 1, out
    no_traceback(err)
    assert "FAIL  store integrity: " in out


def test_doctor_warns_of_an_unconfirmed_feed_and_notes_a_backup(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    sv = members[1]
    home = sv.home.path
    code, out, _ = run(home, "doctor", "--no-passphrase")
    assert code == 0, out
    assert "WARN  own feed: not confirmed yet (join)" in out
    assert "Fix: `commune sync` once a peer can be reached" in out
    assert "WARN  backup: no backup of this node is recorded here" in out
    records.record_backup(sv.node.store)
    _, out, _ = run(home, "doctor", "--no-passphrase")
    assert "OK    backup: the last one was made just now" in out
    _, out, _ = run(home, "status")
    assert "This node must sync before it writes" in out
    close_all(members)


def test_doctor_in_a_folder_without_a_node(tmp_path: Path) -> None:
    code, out, err = run(tmp_path / "nothing", "doctor")
    assert code == 1
    assert out.startswith(f"FAIL  folder: there is no node in {tmp_path / 'nothing'}")
    no_traceback(err)


def _probe(skew: float | None) -> Probe:
    return Probe(
        "https://127.0.0.1:1", "El Salvador", Stats() if skew is not None else None, "", skew
    )


def test_the_clock_check_in_words(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la, sv = members
    now = time.time()
    try:
        check: Check = _clock_check([_probe(0.4), _probe(-0.9)], la.node, now)
        assert check.status == "OK"
        check = _clock_check([_probe(0.4), _probe(300.0)], la.node, now)
        assert check.status == "WARN"
        assert "5 minutes ahead of El Salvador's" in check.detail
        assert "timedatectl set-ntp true" in check.fix
        check = _clock_check([_probe(-SKEW_FAIL - 3600)], la.node, now)
        assert check.status == "FAIL"
        assert "behind" in check.detail
        # no peer answered, and nothing from another author
        assert _clock_check([_probe(None)], la.node, now).status == "SKIP"
        # another author's newest event is dated an hour after this clock
        ahead = hlc.pack(int((now + 3600) * 1000))
        sv.node.clock = lambda: now + 3600
        report(sv, "From a clock an hour ahead")
        la.node.ingest([e.raw for e in sv.node.store.events()])
        assert max(h.ts for h in la.node.store.heads().values()) >= ahead
        check = _clock_check([_probe(None)], la.node, now)
        assert check.status == "WARN"
        assert "this clock may be behind" in check.detail
    finally:
        close_all(members)


def test_ages_in_words() -> None:
    assert ago(2) == "just now"
    assert ago(59) == "59 seconds ago"
    assert ago(61) == "1 minute ago"
    assert ago(3 * 3600 + 5) == "3 hours ago"
    assert ago(-2 * 86400) == "in 2 days"


def test_doctor_checks_the_settings_file(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles"])
    home = members[0].home.path
    close_all(members)
    (home / "node.toml").write_text("[sync]\nintervall = 30\n")
    code, out, _ = run(home, "doctor", "--no-passphrase")
    assert code == 1
    assert "FAIL  settings: " in out
    assert "intervall" in out
    (home / "node.toml").write_text("[sync]\ninterval = 30\n")
    code, out, _ = run(home, "doctor", "--no-passphrase")
    assert code == 0, out
    assert f"OK    settings: {home / 'node.toml'} reads well" in out
