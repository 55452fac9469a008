"""``/healthz`` and ``/metrics`` on the web view's address (docs/CLI.md).

- ``GET /healthz``: a small JSON object: ``status`` (``ok`` or ``failing``), ``store``
  (``ok`` or ``unreadable``), ``events``, ``last_write`` (when the store file was last
  written, unix seconds), ``newest_event`` (the newest event's own time, unix
  seconds), ``sync`` (``running``, ``stopped`` or ``off`` when the view runs without
  the sync service) and ``peers`` / ``peers_failing``. Status 200, or 503 when the store
  cannot be read or the sync service has stopped.
- ``GET /metrics``: the Prometheus text format (0.0.4). Counted as things happen (the
  node's registry, node/metrics.py): sync rounds per peer and result, events and bytes
  sent and received per peer, refusals per peer and reason, web requests. Read from the
  store and the scheduler at each scrape: events by author, held events, fork
  evidence, members by state, last good sync per peer, the last call of each member
  that syncs with this node, peers backed off.

Both obey the web view's rules (GET and HEAD only, the Host check, the security
headers). Neither shows any content or key: counts, times, sizes, addresses, the
collectives' names (known to every member) and node ids cut to 12 hex digits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from crypto.errors import CommuneError
from node import failures as failing_words
from node import metrics, records, servelock
from node.daemon import Daemon
from node.store import Store
from node.web.state import STATE, WebState
from protocol import hlc

MEMBER_STATES = ("admitted", "revoked", "forked")

GaugeMaker = Callable[..., metrics.Gauge]


def sync_running(daemon: Daemon | None) -> bool | None:
    """Whether the sync service runs: its listener serves and its tasks are alive
    (None: the view runs without one)."""
    if daemon is None:
        return None
    running = getattr(daemon, "running", None)
    if isinstance(running, bool):
        return running
    # no public flag on Daemon yet: its listener and its tasks
    if getattr(daemon, "_stopping", False):
        return False
    listening = daemon._listening
    tasks = daemon._tasks
    if listening is None or not tasks or any(t.done() for t in tasks):
        return False
    listener = listening[1]
    is_serving = getattr(listener, "is_serving", None)
    return bool(is_serving()) if callable(is_serving) else True


def count_request(request: web.Request, response: web.StreamResponse) -> None:
    """One web request, by route name (``other`` for none: bounded labels), method and
    status."""
    registry = metrics.registry_for(request.app[STATE].node)
    route = request.match_info.route.name if request.match_info is not None else None
    method = request.method if request.method in ("GET", "HEAD") else "other"
    registry.counter(
        "commune_web_requests_total",
        "Requests to the web view, by route, method and status code.",
        ("route", "method", "code"),
    ).inc(route=route or "other", method=method, code=response.status)


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    report: dict[str, Any] = {"status": "ok", "store": "ok"}
    healthy = True
    try:
        store = state.data.store
        events, newest = store.count(), store.newest_ts()
        report["events"] = int(events)
        report["newest_event"] = hlc.millis(int(newest)) // 1000 if newest else None
    except CommuneError:
        healthy = False
        report["store"] = "unreadable"
    mtime = servelock.store_mtime(state.node.store.path)
    report["last_write"] = int(mtime) if mtime is not None else None
    running = sync_running(state.daemon)
    report["sync"] = {None: "off", True: "running", False: "stopped"}[running]
    if running is False:
        healthy = False
    if state.daemon is not None:
        peers = state.daemon.peers
        report["peers"] = len(peers)
        try:  # failing as status and /metrics count it: by the peer's record
            kept = records.sync_records(state.data.store)
        except CommuneError:
            kept = {}
        report["peers_failing"] = sum(
            1 for url, p in peers.items() if records.shown_backoff(kept.get(url), p)["failures"]
        )
    if not healthy:
        report["status"] = "failing"
    return web.Response(
        status=200 if healthy else 503,
        text=json.dumps(report) + "\n",
        content_type="application/json",
    )


async def metrics_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        families = [*_scraped(state), *metrics.registry_for(state.node).collect()]
    except CommuneError:
        return web.Response(
            status=503, text="the store cannot be read\n", content_type="text/plain"
        )
    body = metrics.render(families).encode()
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


def _scraped(state: WebState) -> list[metrics.Metric]:
    """The gauges read from the store and the scheduler now."""
    node = state.node
    store = state.data.store
    membership = node.membership()
    names = {m.node_id: m.name for m in membership.members.values()} if membership else {}
    if node.node_id not in names:
        names[node.node_id] = node.home.identity().name
    out: list[metrics.Metric] = []

    def gauge(name: str, help: str, labels: tuple[str, ...] = ()) -> metrics.Gauge:
        g = metrics.Gauge(name, help, labels)
        out.append(g)
        return g

    info = gauge(
        "commune_node_info",
        "This node: its short id, its collective's name and its network's name.",
        ("node", "collective", "network"),
    )
    info.set(
        1,
        node=node.node_id.hex()[:12],
        collective=names[node.node_id],
        network=membership.name if membership is not None else "",
    )
    by_author = gauge(
        "commune_events",
        "Events in the log, by author (its short node id and collective name).",
        ("node", "collective"),
    )
    total = 0
    for raw, count in store.events_by_author():
        by_author.set(count, node=raw.hex()[:12], collective=names.get(raw, ""))
        total += int(count)
    gauge("commune_events_stored", "Events in the log, all authors.").set(total)
    held, forks, newest = store.held_count(), store.fork_evidence_count(), store.newest_ts()
    gauge(
        "commune_events_held",
        "Valid events waiting to be placed (a gap before them, or an admission not seen).",
    ).set(held)
    gauge("commune_fork_evidence", "Fork evidence kept: second events at a taken place.").set(forks)
    held_back = gauge(
        "commune_events_held_back",
        "Events of an author not taken in: over the network's daily budget (PROTOCOL §4.6).",
        ("node", "collective"),
    )
    for author, (count, _) in node.held_back().items():
        held_back.set(count, node=author.hex()[:12], collective=names.get(author, ""))
    gauge(
        "commune_newest_event_timestamp_seconds",
        "The newest event's own time (its author's clock), unix seconds.",
    ).set(hlc.millis(int(newest)) / 1000 if newest else 0)
    members = gauge("commune_members", "Members of the network, by state.", ("state",))
    for member_state in MEMBER_STATES:
        members.set(0, state=member_state)
    for m in membership.members.values() if membership is not None else []:
        members.inc(state=m.state)
    gauge(
        "commune_feed_unconfirmed",
        "1 when this node must sync before it writes (a copied, restored or joined folder).",
    ).set(1 if store.get_meta("feed_unconfirmed") else 0)
    mtime = servelock.store_mtime(node.store.path)
    gauge(
        "commune_store_last_write_timestamp_seconds",
        "When the store file was last written, unix seconds.",
    ).set(mtime or 0)
    _sync_gauges(state, store, gauge)
    gauge(
        "commune_web_start_time_seconds",
        "When this process began counting (counters start from zero then), unix seconds.",
    ).set(metrics.registry_for(node).started)
    return out


def _sync_gauges(state: WebState, store: Store, gauge: GaugeMaker) -> None:
    rounds = records.sync_records(store)
    last_ok: dict[str, float] = {
        url: float(r["last_ok"]) for url, r in rounds.items() if r.get("last_ok")
    }
    # failures in a row, why and the next try: the record's, as status and the web
    # view show them (the scheduler's own state only for a peer with no record)
    shown = {url: records.shown_backoff(r, None) for url, r in rounds.items()}
    daemon = state.daemon
    if daemon is not None:
        for url, peer in daemon.peers.items():
            if peer.last_ok is not None:
                last_ok[url] = max(last_ok.get(url, 0.0), peer.last_ok)
            shown[url] = records.shown_backoff(rounds.get(url), peer)
    failures = {url: int(b["failures"]) for url, b in shown.items()}
    good = gauge(
        "commune_sync_last_success_timestamp_seconds",
        "When the last good sync round this node started with a peer ended, unix seconds.",
        ("peer",),
    )
    for url, moment in last_ok.items():
        good.set(moment, peer=url)
    failing = gauge(
        "commune_sync_failures_in_a_row",
        "Sync rounds with a peer that failed since its last good one.",
        ("peer",),
    )
    for url, n in failures.items():
        failing.set(n, peer=url)
    next_try = gauge(
        "commune_sync_next_try_timestamp_seconds",
        "When the scheduler tries a failing peer again, unix seconds (as status says).",
        ("peer",),
    )
    why = gauge(
        "commune_sync_failing",
        "Failures in a row of a failing peer, labelled with why, as a word (cause) and "
        "as the sentence status and the web view say (explanation).",
        ("peer", "cause", "explanation"),
    )
    for url, b in shown.items():
        if not b["failures"]:
            continue
        if b["next_try"] is not None:
            next_try.set(b["next_try"], peer=url)
        cause = b["cause"] or failing_words.SAID
        words = failing_words.sentence_of(cause, b["detail"])
        why.set(b["failures"], peer=url, cause=cause, explanation=words)
    running = sync_running(daemon)
    gauge("commune_sync_running", "1 while the sync service runs.").set(1 if running else 0)
    if daemon is None:
        return
    gauge(
        "commune_sync_rounds_ok",
        "Good sync rounds the scheduler ran since it started, all peers.",
    ).set(daemon.rounds)
    names: dict[bytes, str] = {}
    membership = state.node.membership()
    if membership is not None:
        names = {m.node_id: m.name for m in membership.members.values()}
    called = gauge(
        "commune_sync_last_called_timestamp_seconds",
        "When a member last synced with this node's server, unix seconds.",
        ("node", "collective"),
    )
    for node_id, moment in daemon.server.callers.items():
        called.set(moment, node=node_id.hex()[:12], collective=names.get(node_id, ""))
    now = time.monotonic()
    penalised = sum(1 for until, _ in daemon.server.penalties.values() if until > now)
    gauge(
        "commune_sync_peers_penalised",
        "Members this node's server refuses for now, after they broke the protocol.",
    ).set(penalised)
    gauge("commune_sync_live_channels", "Open live channels from members that call this node.").set(
        len(daemon.server.live)
    )
