"""``commune status`` (docs/CLI.md): what the node is doing, in words or as JSON.

It reads the node folder only (the store, and ``serve.pid`` to tell whether ``serve``
runs): it runs in its own process and cannot see a running ``serve``, so what it says
about peers is what sync rounds recorded in the store (node/records.py)."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import click

from node import peers as peer_list
from node import records, servelock
from node.cli_common import Context, iso_time, pass_ctx
from node.home import Home
from node.service import Node

if TYPE_CHECKING:
    pass

from node.words import ago, plural, size, span


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
    rounds = records.sync_records(store)
    peers = []
    names = {m["node_id"]: m["name"] for m in members}
    for peer in peer_list.known_peers(node):
        record = rounds.get(peer.url, {})
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
                **records.backoff(record),
            }
        )
    callers = [
        {
            "id": caller_id,
            "name": names.get(caller_id, ""),
            **_as_shown(record, now, "last_call", ("requests_ok", "requests_refused")),
        }
        for caller_id, record in records.served_records(store).items()
    ]
    callers.sort(key=lambda c: (str(c["name"]).casefold(), c["id"]))
    running = servelock.serve_running(home.path)
    serve: dict[str, Any] = {"running": running is not None}
    if running is not None:
        serve.update(
            pid=running.pid or None,
            started=running.started or None,
            listen=running.listen or None,
            web=running.web or None,
            # with its one-time token: only the account that runs the node can read it
            web_address=servelock.web_address(home.path) if running.web else None,
        )
    backup = records.backup_time(store)
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
        **records.totals(record),
    }


def describe(report: dict[str, Any], now: float, verbose: bool = False) -> list[str]:
    """``status`` in words (``verbose``: with each failing peer's error as it came)."""
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
            words = _peer_words(p, now, report["serve"]["running"], verbose)
            lines.append(f"  {p['url']} ({p['name'] or 'name not known yet'}): {words}")
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
        parts.append(f"web view {serve.get('web_address') or serve['web']}")
    return "Serve: " + "; ".join(parts)


def _peer_words(p: dict[str, Any], now: float, running: bool, verbose: bool) -> str:
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
        words += f"; failing: {tries} failed (last{when}"
        if p["next_try"] is not None and running:
            words += f", next {next_try_words(p['next_try'], now)}"
        words += f"): {p['last_error']}"
        if verbose and p["detail"] and p["detail"] != p["last_error"]:
            words += f" (the error: {p['detail']})"
    return words


def next_try_words(moment: float, now: float) -> str:
    """When the scheduler tries a failing peer again: ``try in 8 s, at 14:03:05 UTC``."""
    at = datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).strftime("%H:%M:%S UTC")
    if moment <= now:
        return f"try due now, at {at}"
    return f"try in {span(moment - now)}, at {at}"


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
@click.option(
    "--verbose", "-v", is_flag=True, help="With a failing peer, also the error as it came."
)
@pass_ctx
def status(ctx: Context, as_json: bool, verbose: bool) -> None:
    """What this node is doing, in plain words: its network and members, its log, its
    peers and their last good sync, and whether `serve` runs."""
    with ctx.node() as node:
        report = gather_status(node, ctx.home)
        now = node.clock()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    for line in describe(report, now, verbose):
        click.echo(line)


# --- doctor ------------------------------------------------------------------------------
