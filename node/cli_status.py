"""Commands that say how the node is doing: ``status`` and ``doctor`` (docs/CLI.md).

``status`` reads the node folder only (the store, and ``serve.pid`` to tell whether
``serve`` runs): it runs in its own process and cannot see a running ``serve``, so what
it says about peers is what sync rounds recorded in the store (node/metrics.py).

``doctor`` checks the folder and says what to fix, one line per check: ``OK``,
``WARN``, ``FAIL`` or ``SKIP``; it exits 1 when any check fails. It tries a real sync
round with each known peer (so it writes what they send, as ``sync`` would) and asks
each for the time; aiohttp is imported only then.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import shutil
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from crypto.errors import CommuneError, UnsafeKeyfile
from crypto.identity import NodeKeys
from node import metrics
from node import peers as peer_list
from node.cli_common import Context, fail, iso_time, pass_ctx, passphrase
from node.home import Home
from node.service import Node
from protocol import hlc

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from node.sync import Stats

MiB = 1024 * 1024
#: free space below which the store may not be able to take in a sync
DISK_FAIL = 64 * MiB
DISK_WARN = 512 * MiB
#: clock differences with a peer: up to a minute is fine; beyond a day, other nodes
#: mark this node's events as suspect and its clock cannot follow theirs
SKEW_WARN = 60.0
SKEW_FAIL = hlc.MAX_AHEAD_MS / 1000
DEFAULT_TIMEOUT = 10.0
PROXIED_TIMEOUT = 60.0


# --- words for times and sizes -------------------------------------------------------------


def ago(seconds: float) -> str:
    """``3 minutes ago``; ``in 2 hours`` for a time ahead."""
    ahead = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            n = int(seconds // size)
            if unit == "second" and n < 5:
                return "just now"
            words = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    return "just now"  # pragma: no cover


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def span(seconds: float) -> str:
    """A duration in words: ``4 minutes``, ``2 s``."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return ago(seconds).removesuffix(" ago")


# --- status ------------------------------------------------------------------------------


def gather_status(node: Node, home: Home) -> dict[str, Any]:
    """What ``status --json`` prints (docs/CLI.md)."""
    now = node.clock()
    identity = home.identity()
    membership = node.membership()
    store = node.store
    members = []
    if membership is not None:
        for m in sorted(membership.members.values(), key=lambda m: (m.name.casefold(), m.node_id)):
            members.append(
                {
                    "node_id": m.node_id.hex(),
                    "name": m.name,
                    "roles": ["admin"] if m.is_admin else [],
                    "state": m.state,
                    "this_node": m.node_id == node.node_id,
                }
            )
    heads = store.heads()
    own = heads.get(node.node_id)
    newest = max((h.ts for h in heads.values()), default=None)
    records = metrics.sync_records(store)
    peers = []
    names = {m["node_id"]: m["name"] for m in members}
    for peer in peer_list.known_peers(node):
        record = records.get(peer.url, {})
        peer_id = peer.node_id.hex() if peer.node_id else record.get("node_id")
        peers.append(
            {
                "url": peer.url,
                "id": peer_id,
                "name": peer.name or names.get(peer_id or "", ""),
                "source": peer.source,
                **_as_shown(
                    record, now, "last_attempt", ("failures", "rounds_ok", "rounds_failed")
                ),
            }
        )
    callers = [
        {
            "id": caller_id,
            "name": names.get(caller_id, ""),
            **_as_shown(record, now, "last_call", ("requests_ok", "requests_refused")),
        }
        for caller_id, record in metrics.served_records(store).items()
    ]
    callers.sort(key=lambda c: (str(c["name"]).casefold(), c["id"]))
    running = metrics.serve_running(home.path)
    serve: dict[str, Any] = {"running": running is not None}
    if running is not None:
        serve.update(
            pid=running.pid or None,
            started=running.started or None,
            listen=running.listen or None,
            web=running.web or None,
        )
    backup = metrics.backup_time(store)
    return {
        "node": {"id": node.node_id.hex(), "name": identity.name, "home": str(home.path)},
        "network": None
        if membership is None
        else {"id": membership.network_id.hex(), "name": membership.name},
        "members": members,
        "events": {
            "total": store.count(),
            "held": store.held_count(),
            "forks": len(store.fork_seqs()),
            "fork_evidence": store.fork_evidence_count(),
            "authors": len(heads),
            "own": own.seq if own is not None else 0,
            "newest": iso_time(newest) if newest is not None else None,
        },
        "feed_unconfirmed": store.get_meta("feed_unconfirmed") or "",
        "writes_blocked": _blocked(node),
        "held_back": [
            {
                "id": author.hex(),
                "name": next((m["name"] for m in members if m["node_id"] == author.hex()), ""),
                "events": count,
                "last": last,
            }
            for author, (count, last) in sorted(node.held_back().items())
        ],
        "peers": peers,
        "callers": callers,
        "serve": serve,
        "backup": {"last": backup, "age": None if backup is None else round(now - backup)},
    }


def _blocked(node: Node) -> str:
    problem = node.feed_problem()
    return "" if problem is None else problem.message


def _as_shown(
    record: dict[str, Any], now: float, last_try: str, counts: tuple[str, ...]
) -> dict[str, Any]:
    """A peer's or a caller's record as ``status --json`` shows it: its last good
    exchange and last try, its last error, its ``counts`` and its running totals."""
    last_ok = record.get("last_ok")
    return {
        "last_ok": last_ok,
        "last_ok_ago": None if last_ok is None else round(now - float(last_ok)),
        last_try: record.get(last_try),
        "last_error": record.get("last_error") or "",
        **{name: int(record.get(name) or 0) for name in counts},
        **metrics.totals(record),
    }


def describe(report: dict[str, Any], now: float) -> list[str]:
    """``status`` in words."""
    me = report["node"]
    lines = [f"This node: {me['name']} ({me['id'][:12]}), folder {me['home']}"]
    lines += _network_words(report)
    lines += _log_words(report)
    peers = report["peers"]
    if not peers:
        lines.append("Peers: none yet (`commune peer add https://HOST:PORT`)")
    else:
        lines.append(f"Peers: {len(peers)}")
        for p in peers:
            lines.append(
                f"  {p['url']} ({p['name'] or 'name not known yet'}): {_peer_words(p, now)}"
            )
    callers = report["callers"]
    if callers:
        lines.append(f"Members that call this node: {len(callers)}")
        for c in callers:
            who = c["name"] or "a node no longer listed"
            lines.append(f"  {who} ({c['id'][:12]}): {_caller_words(c, now)}")
    lines.append(_serve_words(report["serve"], now))
    backup = report["backup"]
    if backup["last"] is None:
        lines.append("Backup: none recorded here (`commune backup FILE`, kept off this machine)")
    else:
        lines.append(f"Backup: made {ago(now - backup['last'])}")
    return lines


def _network_words(report: dict[str, Any]) -> list[str]:
    network = report["network"]
    members = report["members"]
    if network is None:
        return [
            "Network: none yet. `commune found NAME` starts one; `commune join INVITE` joins one."
        ]
    states: dict[str, int] = {}
    for m in members:
        states[m["state"]] = states.get(m["state"], 0) + 1
    counted = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    lines = [f"Network: {network['name']}, {len(members)} members ({counted})"]
    width = max((len(m["name"]) for m in members), default=0)
    for m in members:
        role = "admin" if m["roles"] else "member"
        mark = "  (this node)" if m["this_node"] else ""
        lines.append(f"  {m['name']:<{width}}  {role:<6}  {m['state']}{mark}")
    me = next((m for m in members if m["this_node"]), None)
    if me is not None and me["state"] == "forked":
        lines.append(
            "  THIS NODE'S FEED FORKED: another copy of its key (a copied folder, or a "
            "restored backup run beside it) wrote events too, so members refuse it and "
            "nothing it writes counts. Stop every copy but one; the collective needs a new "
            "node (`commune init` in a new folder), admitted by an admin."
        )
    return lines


def _log_words(report: dict[str, Any]) -> list[str]:
    events = report["events"]
    lines = [
        f"Log: {plural(events['total'], 'event')} from {plural(events['authors'], 'author')}, "
        f"{events['own']} of them written here; newest dated {events['newest'] or '-'}"
    ]
    if events["held"]:
        lines.append(
            f"  {events['held']} held: they wait for earlier events or for their author's "
            "admission; syncing usually brings what they wait for"
        )
    else:
        lines.append("  none held (waiting for earlier events)")
    if events["forks"]:
        lines.append(
            f"  fork evidence for {events['forks']} member(s): a feed split in two; "
            "`commune show members` names them"
        )
    else:
        lines.append("  no fork evidence")
    for row in report["held_back"]:
        who = row["name"] or row["id"][:12]
        lines.append(
            f"  {who}: {plural(row['events'], 'event')} held back, over the network's daily "
            "budget (or dated days ahead): taken in once an admin raises the budget "
            "(`commune limits`), or their day comes"
        )
    if report["writes_blocked"]:
        lines.append(f"  Writing is blocked: {report['writes_blocked']}")
    elif report["feed_unconfirmed"]:
        lines.append(
            "  This node must sync before it writes (its folder was joined, copied or "
            "restored): `commune sync`"
        )
    return lines


def _serve_words(serve: dict[str, Any], now: float) -> str:
    if not serve["running"]:
        return (
            "Serve: not running; nothing syncs on its own until `commune serve` runs "
            "(or use `commune sync`)"
        )
    first = f"running (pid {serve['pid']}"
    if serve.get("started"):
        first += f", for {span(now - serve['started'])}"
    parts = [first + ")"]
    if serve.get("listen"):
        parts.append(f"sync server on {serve['listen']}")
    if serve.get("web"):
        parts.append(f"web view {serve['web']}")
    return "Serve: " + "; ".join(parts)


def _peer_words(p: dict[str, Any], now: float) -> str:
    if p["last_ok"] is None:
        words = "never synced"
    else:
        words = (
            f"last good sync {ago(now - p['last_ok'])}; "
            f"in all {plural(p['rounds_ok'], 'good round')}, {_moved_words(p)}"
        )
    if p["failures"]:
        when = f" {ago(now - p['last_attempt'])}" if p["last_attempt"] else ""
        tries = "the last try" if p["failures"] == 1 else f"the last {p['failures']} tries"
        words += f"; failing: {tries} failed (last{when}): {p['last_error']}"
    return words


def _moved_words(r: dict[str, Any]) -> str:
    """What went both ways in all, and what was refused: ``12 events sent, 3 received,
    14.1 KiB out, 3.2 KiB in; 1 refused (1 bad-signature)``."""
    words = (
        f"{plural(r['sent'], 'event')} sent, {r['received']} received, "
        f"{size(r['bytes_sent'])} out, {size(r['bytes_received'])} in"
    )
    refused = sum(r["refused"].values())
    if refused:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(r["refused"].items()))
        words += f"; {refused} refused ({reasons})"
    return words


def _caller_words(c: dict[str, Any], now: float) -> str:
    if c["last_ok"] is None:
        words = "never served"
    else:
        words = (
            f"last served {ago(now - c['last_ok'])}; "
            f"in all {plural(c['requests_ok'], 'request')}, {_moved_words(c)}"
        )
    if c["requests_refused"]:
        words += f"; {plural(c['requests_refused'], 'request')} refused, the last: "
        words += c["last_error"] or "?"
    return words


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object for scripts (docs/CLI.md).")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """What this node is doing, in plain words: its network and members, its log, its
    peers and their last good sync, and whether `serve` runs."""
    with ctx.node() as node:
        report = gather_status(node, ctx.home)
        now = node.clock()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    for line in describe(report, now):
        click.echo(line)


# --- doctor ------------------------------------------------------------------------------

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
    faults = node.verify()
    total = node.store.count()
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
    running = metrics.serve_running(home.path)
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
    made = metrics.backup_time(node.store)
    if made is None:
        return Check(
            "backup",
            WARN,
            "no backup of this node is recorded here",
            "`commune backup FILE`, and keep FILE (and the passphrase) off this machine",
        )
    return Check("backup", OK, f"the last one was made {ago(now - made)}")


@dataclass
class Probe:
    url: str
    name: str
    stats: Stats | None
    error: str
    #: this machine's clock minus the peer's, in seconds (None: not measured)
    skew: float | None = None


@dataclass(frozen=True)
class Dial:
    """How ``doctor`` reaches its peers: as ``serve`` would (its settings file's proxy)."""

    timeout: float
    proxy: str | None = None
    proxy_all: bool = False


async def _probe(node: Node, keys: NodeKeys, url: str, name: str, dial: Dial) -> Probe:
    """A sync round with the peer at ``url`` (recorded as ``sync`` records its rounds),
    then its time, each within ``dial.timeout``."""
    import aiohttp  # noqa: PLC0415 - aiohttp only where needed

    from node import sync  # noqa: PLC0415

    service = sync.Sync(node, keys)
    async with sync.client_session(service, proxy=dial.proxy, proxy_all=dial.proxy_all) as session:
        try:
            async with asyncio.timeout(dial.timeout):
                stats: Stats | None = await sync.sync_with(service, session, url)
            error = ""
        except TimeoutError:
            stats, error = None, f"no answer within {dial.timeout:g} s"
        except Exception as e:  # as the scheduler: any failure is this peer's line
            stats, error = None, getattr(e, "message", str(e))
        metrics.record_sync(node, url, stats, error)
        probe = Probe(url, name, stats, error)
        if stats is not None:
            try:
                async with asyncio.timeout(dial.timeout):
                    probe.skew = await _clock_skew(session, url)
            except (TimeoutError, OSError, ValueError, aiohttp.ClientError):
                probe.skew = None  # the time is not known, that is all
    return probe


async def _clock_skew(session: ClientSession, url: str) -> float | None:
    """This machine's clock minus the peer's, from the HTTP Date header of its answer to
    a HEAD request on the sync route (it answers 405: a member may ask; nothing is sent
    or penalised). The header counts whole seconds: good to about a second plus half the
    round trip."""
    from node import sync  # noqa: PLC0415

    before = time.time()
    async with session.head(url.rstrip("/") + sync.PREFIX + "/sync") as response:
        after = time.time()
        date = response.headers.get("Date")
    if not date:
        return None
    theirs = email.utils.parsedate_to_datetime(date).timestamp() + 0.5
    return (before + after) / 2 - theirs


def _peer_checks(probes: list[Probe]) -> list[Check]:
    out = []
    for p in probes:
        who = f"{p.url} ({p.name})" if p.name else p.url
        if p.stats is not None:
            out.append(Check("peer", OK, f"{who} answered and synced: {p.stats.summary()}"))
        else:
            out.append(
                Check(
                    "peer",
                    WARN,
                    f"{who} cannot be reached: {p.error}",
                    "check the address (`commune peer list`), that it runs `serve`, and the "
                    "network between (or the proxy, for .onion peers)",
                )
            )
    if probes and all(p.stats is None for p in probes):
        out.append(
            Check(
                "peers",
                FAIL,
                f"none of the {len(probes)} peers could be reached: this node cannot sync",
                "check this machine's network; ask the other collectives whether their "
                "nodes run and at which address",
            )
        )
    return out


def _clock_check(probes: list[Probe], node: Node, now: float) -> Check:
    measured = [p for p in probes if p.skew is not None]
    if measured:
        worst = max(measured, key=lambda p: abs(p.skew or 0.0))
        skew = worst.skew or 0.0
        who = worst.name or worst.url
        direction = "ahead of" if skew > 0 else "behind"
        compared = f"asked {plural(len(measured), 'peer')} for the time, by HTTP Date"
        if abs(skew) < 2:
            detail = (
                f"this machine's clock agrees with its peers' within about a second ({compared})"
            )
        else:
            detail = (
                f"this machine's clock is {span(skew)} {direction} {who}'s "
                f"(the largest difference; {compared})"
            )
        if abs(skew) > SKEW_FAIL:
            return Check(
                "clock",
                FAIL,
                detail + "; other nodes mark its events as suspect",
                "set this machine's time (turn on NTP: `timedatectl set-ntp true`)",
            )
        if abs(skew) > SKEW_WARN:
            return Check(
                "clock",
                WARN,
                detail + "; event times and the order of edits will be off",
                "set this machine's time (turn on NTP: `timedatectl set-ntp true`)",
            )
        return Check("clock", OK, detail)
    # No peer answered: the newest event of another author says something, not much.
    others = [h.ts for a, h in node.store.heads().items() if a != node.node_id]
    if not others:
        return Check("clock", SKIP, "no peer answered and no other author's event to compare with")
    newest = hlc.millis(max(others)) / 1000
    ahead = newest - now
    if ahead > SKEW_WARN:
        return Check(
            "clock",
            WARN,
            f"no peer answered; the newest event of another author is dated {span(ahead)} "
            "after this machine's time: this clock may be behind (or that author's ahead)",
            "check this machine's time (NTP: `timedatectl set-ntp true`)",
        )
    return Check(
        "clock",
        SKIP,
        f"no peer answered to compare clocks with (the newest event of another author is "
        f"dated {ago(now - newest)}, which says nothing about this clock)",
    )


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
    try:
        home.identity()
    except CommuneError as e:
        checks.append(Check("identity", FAIL, e.message, "restore node.json from a backup"))
        return checks
    key_check, keys = check_key(home, ask)
    checks.append(key_check)
    settings = _settings(home, config_file)
    if settings.check is not None:
        checks.append(settings.check)
    if timeout is None:  # Tor is slow to build a circuit
        timeout = PROXIED_TIMEOUT if settings.proxy else DEFAULT_TIMEOUT
    dial = Dial(timeout, settings.proxy, settings.proxy_all)
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
            peer_checks = _peers(node, keys, list(settings.peers), dial)
            now = node.clock()
            checks += check_membership(node)
            checks.append(check_disk(home))
            checks.append(check_serve(home, now))
            checks.append(check_backup(node, now))
            checks += peer_checks
        except CommuneError as e:
            checks.append(Check("store", FAIL, e.message, damaged))
    return checks


def _peers(node: Node, keys: NodeKeys | None, extra: list[str], dial: Dial) -> list[Check]:
    """Try each peer (a sync round, then the time), unless the key is closed or the
    node is in no network."""
    if keys is None:
        return [
            Check("peers", SKIP, "not tried: the key was not opened"),
            Check("clock", SKIP, "not compared: no peer was asked"),
        ]
    if node.membership() is None:
        return [Check("peers", SKIP, "not tried: this node is in no network")]
    targets = {p.url: p.name for p in peer_list.known_peers(node)}
    for url in extra:
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
    probes = asyncio.run(_probe_all(node, keys, targets, dial))
    membership = node.membership()
    names = {m.node_id: m.name for m in membership.members.values()} if membership else {}
    for probe in probes:
        if not probe.name and probe.stats is not None and probe.stats.node_id is not None:
            probe.name = names.get(probe.stats.node_id, "")
    return [*_peer_checks(probes), _clock_check(probes, node, time.time())]


async def _probe_all(
    node: Node, keys: NodeKeys, targets: dict[str, str], dial: Dial
) -> list[Probe]:
    probes = (_probe(node, keys, url, name, dial) for url, name in targets.items())
    return list(await asyncio.gather(*probes))


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
