"""What a node records of its own running, in its store, for ``commune status`` (another
process) and ``/metrics`` (docs/CLI.md):

- **sync results** (:func:`record_sync`): the scheduler and ``sync`` call it after each
  round with a peer; it counts the round in the registry (node/metrics.py), logs it
  (``sync.ok`` / ``sync.failed``) and keeps the peer's totals and its last good sync in
  the store's ``meta`` table under ``sync:URL``;
- **requests this node serves** (:func:`record_served`): the sync server calls it after
  each request a member makes, and keeps that member's totals under ``served:NODE_ID``,
  so ``status`` also lists members that only call this node (behind NAT, over Tor);
- when the last backup was made.

Nothing here reads or records content or keys: counts, sizes, times, addresses, and
node ids shortened.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crypto.errors import CommuneError
from node import failures, logs
from node.failures import Failure
from node.metrics import Counter, Registry, registry_for
from node.store import Store

if TYPE_CHECKING:
    from node.service import Node
    from node.sync import Stats

log = logging.getLogger("commune.sync")

SYNC_META = "sync:"
BACKUP_META = "backup_at"
#: what a peer's record adds up over every round (or every request served)
TOTALS = ("sent", "received", "bytes_sent", "bytes_received")
#: an error kept with a peer's record is cut to this length
MAX_ERROR = 300


# --- sync rounds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncCounters:
    rounds: Counter
    events_sent: Counter
    events_received: Counter
    bytes_sent: Counter
    bytes_received: Counter
    refused: Counter
    held: Counter
    forks: Counter

    @classmethod
    def of(cls, registry: Registry) -> SyncCounters:
        peer = ("peer",)
        return cls(
            rounds=registry.counter(
                "commune_sync_rounds_total",
                "Sync rounds this node started with a peer, by result (ok or failed).",
                ("peer", "result"),
            ),
            events_sent=registry.counter(
                "commune_sync_events_sent_total", "Events sent to a peer in sync rounds.", peer
            ),
            events_received=registry.counter(
                "commune_sync_events_received_total",
                "New events received from a peer in sync rounds.",
                peer,
            ),
            bytes_sent=registry.counter(
                "commune_sync_bytes_sent_total", "Bytes sent to a peer in sync rounds.", peer
            ),
            bytes_received=registry.counter(
                "commune_sync_bytes_received_total",
                "Bytes received from a peer in sync rounds.",
                peer,
            ),
            refused=registry.counter(
                "commune_sync_events_refused_total",
                "Events from a peer that were refused, by reason (the error code).",
                ("peer", "reason"),
            ),
            held=registry.counter(
                "commune_sync_events_held_total",
                "Events from a peer held back (a gap before them, or an admission not seen).",
                peer,
            ),
            forks=registry.counter(
                "commune_sync_fork_evidence_total",
                "Fork evidence received from a peer.",
                peer,
            ),
        )


def _stored(store: Store, key: str) -> dict[str, Any]:
    """The record kept in the store's meta table under ``key`` (empty if none, or not a
    JSON object)."""
    try:
        value = json.loads(store.get_meta(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _all_stored(store: Store, prefix: str) -> dict[str, dict[str, Any]]:
    """Every record kept under ``prefix``, by the rest of its key."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in store.meta_with_prefix(prefix):
        try:
            record = json.loads(value)
        except ValueError:
            continue
        if isinstance(record, dict):
            out[str(key)[len(prefix) :]] = record
    return out


def totals(old: Mapping[str, Any]) -> dict[str, Any]:
    """The running totals of a peer's record, from its previous version."""
    totals: dict[str, Any] = {name: int(old.get(name) or 0) for name in TOTALS}
    totals["refused"] = dict(old.get("refused") or {})
    return totals


def _add(
    record: dict[str, Any], counters: SyncCounters | ServedCounters, stats: Stats, **labels: str
) -> None:
    """Count what one round or request moved, in the registry and in the record."""
    counters.events_sent.inc(stats.sent, **labels)
    counters.events_received.inc(stats.received, **labels)
    counters.bytes_sent.inc(stats.bytes_sent, **labels)
    counters.bytes_received.inc(stats.bytes_received, **labels)
    for reason, n in stats.refused.items():
        counters.refused.inc(n, **labels, reason=reason)
        record["refused"][reason] = int(record["refused"].get(reason, 0)) + n
    for name in TOTALS:
        record[name] += int(getattr(stats, name))


def _keep(store: Store, key: str, record: dict[str, Any], event: str, /, **fields: str) -> None:
    """Write ``record`` under ``key``; a store that cannot be written is logged as
    ``event``, never raised: what worked must not fail because of its bookkeeping."""
    try:
        with store.write():
            store.set_meta(key, json.dumps(record, sort_keys=True))
    except CommuneError as e:
        logs.event(log, event, logging.WARNING, error=e.message, **fields)


def sync_record(store: Store, url: str) -> dict[str, Any]:
    """What the store keeps about syncing with ``url`` (empty if nothing yet)."""
    return _stored(store, SYNC_META + url)


def forget_sync(store: Store, url: str) -> None:
    """Drop what the store keeps about syncing with ``url`` (a peer taken off the list).
    Call inside :meth:`Store.write`."""
    store.delete_meta(SYNC_META + url)


def sync_records(store: Store) -> dict[str, dict[str, Any]]:
    """Every peer's record, by URL."""
    return _all_stored(store, SYNC_META)


def backoff(record: Mapping[str, Any]) -> dict[str, Any]:
    """Why a peer's rounds fail and when the scheduler tries again, from its record:
    what ``status``, the web view and ``/metrics`` all show. ``cause`` is a word of
    node/failures.py ("" while it syncs), ``detail`` the error as it came (for
    ``--verbose``), ``next_try`` unix seconds (None when it is not failing, or when no
    ``serve`` scheduled it)."""
    if not record.get("failures"):
        return {"cause": "", "detail": "", "next_try": None}
    next_try = record.get("next_try")
    # a record of an older version kept its error alone: it is said as it was
    cause = str(record.get("cause") or failures.SAID)
    return {
        "cause": cause,
        "detail": str(record.get("detail") or record.get("last_error") or ""),
        "next_try": None if next_try is None else float(next_try),
    }


def shown_backoff(kept: Mapping[str, Any] | None, peer: Any) -> dict[str, Any]:
    """A peer the scheduler dials (``peer``, node/daemon.py's PeerState) as the web view
    and ``/metrics`` show it: its failures in a row, why and when the next try is, from
    its record in the store (the numbers ``status`` shows); from the scheduler's own
    state when there is no record (the store could not be written)."""
    if kept or peer is None:
        return {"failures": int((kept or {}).get("failures") or 0), **backoff(kept or {})}
    return {
        "failures": int(peer.failures),
        "cause": "",
        "detail": str(peer.last_error),
        "next_try": peer.next_try,
    }


def record_sync(
    node: Node,
    url: str,
    stats: Stats | None,
    error: Failure | str = "",
    *,
    retry: Callable[[int], float] | None = None,
) -> dict[str, Any]:
    """After a sync round with ``url`` (``stats``, or None and the ``error`` when it
    failed): count it in the node's registry, log it, and keep the peer's record in the
    store (for ``status``, the web view and ``/metrics``, which all read it). ``retry``
    (the scheduler's) gives the seconds until the next try after this many failures in
    a row; the record keeps that moment as ``next_try``. A store that cannot be written
    is logged, never raised: a round that worked must not fail because of its
    bookkeeping. The new record."""
    now = node.clock()
    counters = SyncCounters.of(registry_for(node))
    try:
        record = sync_record(node.store, url)
    except CommuneError:
        record = {}
    record = {
        "url": url,
        "node_id": record.get("node_id"),
        "last_ok": record.get("last_ok"),
        "last_attempt": now,
        "last_error": "",
        "cause": "",
        "detail": "",
        # the scheduler's next try after failures; a round from elsewhere keeps it
        "next_try": record.get("next_try") if retry is None else None,
        "failures": int(record.get("failures") or 0),
        "rounds_ok": int(record.get("rounds_ok") or 0),
        "rounds_failed": int(record.get("rounds_failed") or 0),
        **totals(record),
        "last": record.get("last"),
    }
    if stats is None:
        failure = error if isinstance(error, Failure) else Failure(failures.SAID, error)
        counters.rounds.inc(peer=url, result="failed")
        record["failures"] += 1
        record["rounds_failed"] += 1
        record["cause"] = failure.cause
        record["detail"] = logs.safe_text(failure.detail)[:MAX_ERROR]
        record["last_error"] = failures.sentence_of(failure.cause, record["detail"])
        if retry is not None:
            record["next_try"] = round(now + retry(record["failures"]), 3)
        logs.event(
            log,
            "sync.failed",
            logging.WARNING,
            peer=url,
            node=str(record.get("node_id") or "")[:12],
            failures=record["failures"],
            cause=failure.cause,
            error=failure.detail,
        )
    else:
        refused = sum(stats.refused.values())
        counters.rounds.inc(peer=url, result="ok")
        counters.held.inc(stats.held, peer=url)
        counters.forks.inc(stats.forks, peer=url)
        _add(record, counters, stats, peer=url)
        if stats.node_id is not None:
            record["node_id"] = stats.node_id.hex()
        record["last_ok"] = now
        record["failures"] = 0
        record["next_try"] = None
        record["rounds_ok"] += 1
        record["last"] = {
            "sent": stats.sent,
            "received": stats.received,
            "held": stats.held,
            "forks": stats.forks,
            "refused": refused,
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "seconds": round(stats.seconds, 3),
        }
        moved = stats.sent or stats.received or stats.forks or refused
        logs.event(
            log,
            "sync.ok",
            logging.INFO if moved else logging.DEBUG,
            peer=url,
            node=logs.short_id(stats.node_id),
            sent=stats.sent,
            received=stats.received,
            held=stats.held,
            forks=stats.forks,
            refused=refused,
            bytes_sent=stats.bytes_sent,
            bytes_received=stats.bytes_received,
            seconds=round(stats.seconds, 3),
        )
    _keep(node.store, SYNC_META + url, record, "sync.unrecorded", peer=url)
    return record


# --- requests this node serves -----------------------------------------------------------

SERVED_META = "served:"


@dataclass(frozen=True, slots=True)
class ServedCounters:
    requests: Counter
    events_sent: Counter
    events_received: Counter
    bytes_sent: Counter
    bytes_received: Counter
    refused: Counter

    @classmethod
    def of(cls, registry: Registry) -> ServedCounters:
        caller = ("node",)
        return cls(
            requests=registry.counter(
                "commune_served_requests_total",
                "Sync requests members made to this node, by route (sync or push) and "
                "result (ok or refused).",
                ("node", "route", "result"),
            ),
            events_sent=registry.counter(
                "commune_served_events_sent_total",
                "Events this node sent to a member that called it.",
                caller,
            ),
            events_received=registry.counter(
                "commune_served_events_received_total",
                "New events a member that called this node pushed to it.",
                caller,
            ),
            bytes_sent=registry.counter(
                "commune_served_bytes_sent_total",
                "Bytes this node sent to a member that called it.",
                caller,
            ),
            bytes_received=registry.counter(
                "commune_served_bytes_received_total",
                "Bytes a member that called this node sent to it.",
                caller,
            ),
            refused=registry.counter(
                "commune_served_events_refused_total",
                "Events a member that called this node pushed that were refused, by reason.",
                ("node", "reason"),
            ),
        )


def served_records(store: Store) -> dict[str, dict[str, Any]]:
    """What the store keeps about each member that calls this node, by node id (hex)."""
    return _all_stored(store, SERVED_META)


def record_served(
    node: Node, caller: bytes, route: str, stats: Stats | None, error: str = ""
) -> dict[str, Any]:
    """After this node answered a member's sync request (``route`` is ``sync`` or
    ``push``; ``stats`` None and the ``error`` when the request was refused): count it
    and keep the caller's totals in the store under ``served:NODE_ID``, for ``status``.
    Never raises for its bookkeeping. The new record."""
    now = node.clock()
    short = logs.short_id(caller)
    counters = ServedCounters.of(registry_for(node))
    key = SERVED_META + caller.hex()
    try:
        old = _stored(node.store, key)
    except CommuneError:
        old = {}
    record: dict[str, Any] = {
        "node_id": caller.hex(),
        "last_ok": old.get("last_ok"),
        "last_call": now,
        "last_error": "",
        "requests_ok": int(old.get("requests_ok") or 0),
        "requests_refused": int(old.get("requests_refused") or 0),
        **totals(old),
    }
    if stats is None:
        counters.requests.inc(node=short, route=route, result="refused")
        record["requests_refused"] += 1
        record["last_error"] = logs.safe_text(error)[:MAX_ERROR]
    else:
        counters.requests.inc(node=short, route=route, result="ok")
        _add(record, counters, stats, node=short)
        record["last_ok"] = now
        record["requests_ok"] += 1
        refused = sum(stats.refused.values())
        moved = stats.sent or stats.received or stats.forks or refused
        logs.event(
            log,
            "serve.ok",
            logging.INFO if moved else logging.DEBUG,
            node=short,
            route=route,
            sent=stats.sent,
            received=stats.received,
            held=stats.held,
            refused=refused,
            bytes_sent=stats.bytes_sent,
            bytes_received=stats.bytes_received,
            seconds=round(stats.seconds, 3),
        )
    _keep(node.store, key, record, "serve.unrecorded", node=short)
    return record


def record_backup(store: Store, when: float | None = None) -> None:
    """Note that a backup of this node was just made (``status`` and ``doctor`` say how
    old it is). Call inside no transaction."""
    with store.write():
        store.set_meta(BACKUP_META, str(int(time.time() if when is None else when)))


def backup_time(store: Store) -> float | None:
    value = store.get_meta(BACKUP_META)
    try:
        return float(value) if value else None
    except ValueError:
        return None
