"""``commune doctor``'s checks of the node folder, one :class:`Check` each: permissions,
key, store, membership and own feed, disk, serve, backup. Each says what is wrong and
how to fix it."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.errors import CommuneError, UnsafeKeyfile
from crypto.identity import NodeKeys
from node import records, servelock
from node.cli_common import opened, passphrase
from node.home import Home
from node.service import SEARCH_INDEX, Node

if TYPE_CHECKING:
    pass

from node.words import ago, size, span

MiB = 1024 * 1024
#: free space below which the store may not be able to take in a sync
DISK_FAIL = 64 * MiB
DISK_WARN = 512 * MiB


OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"


@dataclass
class Check:
    """One line of ``doctor``."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.check}: {self.detail}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_folder(home: Home) -> list[Check]:
    """The folder and the files in it: who may read them."""
    out = []
    path = home.path
    if not path.is_dir():
        return [
            Check(
                "folder",
                FAIL,
                f"{path} does not exist",
                "give the right --home, or run `commune init`",
            )
        ]
    folder_mode = _mode(path)
    if folder_mode & 0o077:
        out.append(
            Check(
                "folder",
                FAIL if folder_mode & 0o007 else WARN,
                f"{path} is mode {folder_mode:o}: other users can list or read it (the "
                "store holds the network's reports and plans)",
                f"chmod 700 {path}",
            )
        )
    else:
        out.append(Check("folder", OK, f"{path} is mode {folder_mode:o}, this user's only"))
    if path.stat().st_uid != os.getuid():
        out.append(
            Check(
                "folder owner",
                WARN,
                f"{path} belongs to another user (uid {path.stat().st_uid})",
                "run commune as the user that owns the folder (or chown it)",
            )
        )
    if not home.key_path.exists():
        out.append(
            Check("key file", FAIL, f"{home.key_path} is missing", "restore it from a backup")
        )
    else:
        mode = _mode(home.key_path)
        if mode & 0o077:
            out.append(
                Check(
                    "key file",
                    FAIL,
                    f"{home.key_path} is mode {mode:o}: other users can read it",
                    f"chmod 600 {home.key_path}, and consider the key exposed",
                )
            )
        else:
            out.append(Check("key file", OK, f"{home.key_path.name} is mode {mode:o}"))
    loose = [
        p.name
        for p in (home.store_path, Path(f"{home.store_path}-wal"), Path(f"{home.store_path}-shm"))
        if p.exists() and _mode(p) & 0o077
    ]
    if loose and folder_mode & 0o011:  # others can reach the files through the folder
        out.append(
            Check(
                "store files",
                FAIL if folder_mode & 0o001 else WARN,
                f"{', '.join(loose)} can be read by other users",
                f"chmod 700 {path}; chmod 600 {home.store_path}*",
            )
        )
    return out


def check_key(home: Home, ask: bool) -> tuple[Check, NodeKeys | None]:
    if not home.key_path.exists():
        return Check("key", SKIP, "no key file to open"), None
    try:
        encrypted = home.key_is_encrypted()
        if encrypted and not ask:
            return Check("key", SKIP, "not opened (--no-passphrase)"), None
        if encrypted and sys.stdin.isatty():  # another node's passphrase given: ask
            keys = opened(home.unlock, f"the key of the node in {home.path}")
        else:
            keys = home.unlock(passphrase() if encrypted else None)
    except UnsafeKeyfile:
        return (
            Check(
                "key",
                FAIL,
                "not opened: other users can read the key file, so commune refuses it",
                f"chmod 600 {home.key_path}, and consider the key exposed",
            ),
            None,
        )
    except CommuneError as e:
        return (
            Check(
                "key",
                FAIL,
                f"does not open: {e.message}",
                "give the right passphrase; if it is lost, restore the key from a backup "
                "(with its passphrase) or have an admin admit a new node",
            ),
            None,
        )
    if not encrypted:
        return (
            Check(
                "key",
                WARN,
                "opens, but it is stored without a passphrase: whoever copies this folder "
                "has this node's identity",
                "`commune passwd` gives it one",
            ),
            keys,
        )
    return Check("key", OK, "opens with the passphrase and matches node.json"), keys


def check_store(node: Node) -> list[Check]:
    out = []
    rows = [(line,) for line in node.store.integrity_check()]
    problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    if problems:
        out.append(
            Check(
                "store integrity",
                FAIL,
                f"SQLite finds the store damaged: {'; '.join(problems[:3])}",
                "stop serve, then `commune resync` (a new store from what still checks and "
                "from the peers), or restore the node from a backup",
            )
        )
    else:
        out.append(Check("store integrity", OK, "SQLite finds the store whole"))
    checked = node.verify()
    faults = [f for f in checked if f.code != SEARCH_INDEX]
    total = node.store.count()
    index = [f for f in checked if f.code == SEARCH_INDEX]
    if index:
        out.append(
            Check(
                "search index",
                FAIL,
                f"{len(index)} difference(s) from the items (first: {index[0].message})",
                "`commune rebuild` makes the search index again from the log",
            )
        )
    else:
        out.append(Check("search index", OK, "holds the words of every visible item"))
    if faults:
        out.append(
            Check(
                "events",
                FAIL,
                f"{len(faults)} of {total} stored events fail their checks (first: {faults[0]})",
                "`commune verify` lists them; restore the store from a backup or from peers",
            )
        )
    else:
        out.append(Check("events", OK, f"all {total} events check (signatures, chains)"))
    return out


def check_membership(node: Node) -> list[Check]:
    out = []
    membership = node.membership()
    if membership is None:
        return [
            Check(
                "network",
                WARN,
                "this node belongs to no network yet",
                "`commune found NAME`, or `commune join INVITE` with an invite from an admin",
            )
        ]
    me = membership.get(node.node_id)
    if me is None:
        out.append(
            Check(
                "network",
                WARN,
                f"joined {membership.name}, but its admission has not reached it yet",
                "`commune sync` with the node that admitted it",
            )
        )
    elif me.state == "revoked":
        out.append(
            Check(
                "network",
                FAIL,
                f"this node was revoked from {membership.name} after its event {me.cutoff}; "
                "nothing it writes now counts",
                "ask an admin; a collective whose node was revoked makes a new node",
            )
        )
    elif me.state == "forked":
        out.append(
            Check(
                "network",
                FAIL,
                f"this node's own feed split in two at event {me.forked_at} (two copies of "
                "the folder wrote): nothing it writes from there counts",
                "stop every copy but one; an admin admits a new node for this collective",
            )
        )
    else:
        out.append(Check("network", OK, f"a member of {membership.name} ({me.state})"))
    reason = node.store.get_meta("feed_unconfirmed")
    problem = node.feed_problem()
    if problem is not None:
        fix = "`commune sync` once a peer can be reached"
        if problem.code == "behind":
            fix += (
                "; if no peer ever received the missing events, `commune sync --accept-loss` "
                "writes from this store's head"
            )
        out.append(Check("own feed", FAIL, f"writing is blocked: {problem.message}", fix))
    elif reason:
        out.append(
            Check(
                "own feed",
                WARN,
                f"not confirmed yet ({reason}): a peer may hold more of this node's feed than "
                "this store, so it syncs before it writes",
                "`commune sync` once a peer can be reached",
            )
        )
    held = node.store.held_count()
    forks = node.store.fork_seqs()
    if forks:
        names = {m.node_id: m.name for m in membership.members.values()}
        who = ", ".join(names.get(a, a.hex()[:12]) for a in forks)
        out.append(
            Check(
                "forks",
                WARN,
                f"fork evidence for {who}: that feed split in two, and the network stops "
                "counting it from there",
                "tell that collective: one of its folders was copied and both copies wrote",
            )
        )
    if held:
        out.append(
            Check(
                "held events",
                WARN,
                f"{held} events wait for earlier ones or for their author's admission",
                "sync with more peers; they fill the gap",
            )
        )
    return out


def check_disk(home: Home) -> Check:
    try:
        usage = shutil.disk_usage(home.path)
    except OSError as e:
        return Check("disk", WARN, f"cannot tell the free space: {e.strerror}")
    store_size = sum(
        p.stat().st_size for p in (home.store_path, Path(f"{home.store_path}-wal")) if p.exists()
    )
    free = usage.free
    detail = f"{size(free)} free; the store takes {size(store_size)}"
    if free < DISK_FAIL:
        return Check("disk", FAIL, detail, "free space on this disk: the store cannot grow")
    if free < max(DISK_WARN, store_size):
        return Check("disk", WARN, detail, "free some space on this disk soon")
    return Check("disk", OK, detail)


def check_serve(home: Home, now: float) -> Check:
    running = servelock.serve_running(home.path)
    if running is None:
        return Check(
            "serve",
            WARN,
            "not running: this node syncs only when someone runs `commune sync`",
            "`commune serve` (deploy/README.md runs it as a service)",
        )
    since = f", for {span(now - running.started)}" if running.started else ""
    return Check("serve", OK, f"running (pid {running.pid}{since})")


def check_backup(node: Node, now: float) -> Check:
    made = records.backup_time(node.store)
    if made is None:
        return Check(
            "backup",
            WARN,
            "no backup of this node is recorded here",
            "`commune backup FILE`, and keep FILE (and the passphrase) off this machine",
        )
    return Check("backup", OK, f"the last one was made {ago(now - made)}")
