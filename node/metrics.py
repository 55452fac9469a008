"""What a node records about its own running, for ``/metrics``, ``/healthz`` and
``commune status`` (docs/CLI.md):

- a small **in-process registry** of counters and gauges with labels, rendered in the
  Prometheus text exposition format (version 0.0.4): one registry per open node
  (:func:`registry_for`), so two nodes in one process (the demo, the tests) never mix;
- **sync results in the store** (:func:`record_sync`): the scheduler and ``sync`` call
  it after each round with a peer; it counts the round in the registry, logs it
  (``sync.ok`` / ``sync.failed``) and keeps the peer's totals and its last good sync in
  the store's ``meta`` table under ``sync:URL``, where ``status`` (another process)
  reads them;
- **requests this node serves** (:func:`record_served`): the sync server calls it after
  each request a member makes, and keeps that member's totals under ``served:NODE_ID``,
  so ``status`` also lists members that only call this node (behind NAT, over Tor);
- the **serve lock** (:func:`serve_lock`): ``serve`` holds ``NODE_HOME/serve.pid``
  locked while it runs, so ``status`` can tell whether it runs (a lock dies with its
  process: a file left by a crash does not count) and a second ``serve`` on the same
  folder is refused.

Nothing here reads or records content or keys: counts, sizes, times, addresses, and
node ids shortened.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto.errors import CommuneError
from node import logs
from node.store import Store

if TYPE_CHECKING:
    from node.service import Node
    from node.sync import Stats

log = logging.getLogger("commune.sync")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SYNC_META = "sync:"
BACKUP_META = "backup_at"
SERVE_FILE = "serve.pid"
#: what a peer's record adds up over every round (or every request served)
TOTALS = ("sent", "received", "bytes_sent", "bytes_received")
#: an error kept with a peer's record is cut to this length
MAX_ERROR = 300

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


# --- the registry ---------------------------------------------------------------------


class Metric:
    """One metric family: a name, its help text, its label names, and a value for each
    combination of label values seen."""

    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Iterable[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a metric name")
        names = tuple(labels)
        for label in names:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a label name")
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: a label name is repeated")
        self.name = name
        self.help = help
        self.labels = names
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, object]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes the labels {self.labels}, not {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def get(self, **labels: object) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[tuple[tuple[str, ...], float]]:
        with self._lock:
            return sorted(self._values.items())


class Counter(Metric):
    """Only goes up (reset when the process starts again)."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(Metric):
    """A value that is set (a count of something now, a time)."""

    kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Registry:
    """The metrics of one node in this process."""

    def __init__(self) -> None:
        self.started = time.time()
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def _get(self, cls: type[Metric], name: str, help: str, labels: Iterable[str]) -> Metric:
        wanted = tuple(labels)
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                metric = self._metrics[name] = cls(name, help, wanted)
        if type(metric) is not cls or metric.labels != wanted:
            raise ValueError(f"{name} is registered already as another {metric.kind}")
        return metric

    def counter(self, name: str, help: str, labels: Iterable[str] = ()) -> Counter:
        metric = self._get(Counter, name, help, labels)
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help: str, labels: Iterable[str] = ()) -> Gauge:
        metric = self._get(Gauge, name, help, labels)
        assert isinstance(metric, Gauge)
        return metric

    def collect(self) -> list[Metric]:
        with self._lock:
            return list(self._metrics.values())


_registries: weakref.WeakKeyDictionary[Node, Registry] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def registry_for(node: Node) -> Registry:
    """The registry of this open node (made on first use, gone with the node)."""
    with _registries_lock:
        registry = _registries.get(node)
        if registry is None:
            registry = _registries[node] = Registry()
        return registry


# --- the text exposition format (0.0.4) ---------------------------------------------------


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(metrics: Iterable[Metric]) -> str:
    """The families in the Prometheus text format: for each, its ``# HELP`` and
    ``# TYPE`` lines, then one line per sample; each name once."""
    lines: list[str] = []
    seen: set[str] = set()
    for metric in metrics:
        if metric.name in seen:
            raise ValueError(f"{metric.name} is given twice")
        seen.add(metric.name)
        lines.append(f"# HELP {metric.name} {escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for values, number in metric.samples():
            if values:
                pairs = ",".join(
                    f'{label}="{escape_label(value)}"'
                    for label, value in zip(metric.labels, values, strict=True)
                )
                lines.append(f"{metric.name}{{{pairs}}} {format_value(number)}")
            else:
                lines.append(f"{metric.name} {format_value(number)}")
    return "\n".join(lines) + "\n"


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


def sync_records(store: Store) -> dict[str, dict[str, Any]]:
    """Every peer's record, by URL."""
    return _all_stored(store, SYNC_META)


def record_sync(node: Node, url: str, stats: Stats | None, error: str = "") -> dict[str, Any]:
    """After a sync round with ``url`` (``stats``, or None and the ``error`` when it
    failed): count it in the node's registry, log it, and keep the peer's record in the
    store (for ``status``). A store that cannot be written is logged, never raised: a
    round that worked must not fail because of its bookkeeping. The new record."""
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
        "failures": int(record.get("failures") or 0),
        "rounds_ok": int(record.get("rounds_ok") or 0),
        "rounds_failed": int(record.get("rounds_failed") or 0),
        **totals(record),
        "last": record.get("last"),
    }
    if stats is None:
        counters.rounds.inc(peer=url, result="failed")
        record["failures"] += 1
        record["rounds_failed"] += 1
        record["last_error"] = logs.safe_text(error)[:MAX_ERROR]
        logs.event(
            log,
            "sync.failed",
            logging.WARNING,
            peer=url,
            failures=record["failures"],
            error=error,
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


# --- the serve lock ----------------------------------------------------------------------


class ServeRunning(CommuneError):
    """Another ``serve`` runs on this node folder."""

    code = "serve-running"


@dataclass(frozen=True, slots=True)
class ServeInfo:
    """What a running ``serve`` says about itself in ``serve.pid``."""

    pid: int
    started: float
    listen: str = ""
    web: str = ""


def _read_info(text: str) -> ServeInfo | None:
    """``serve.pid``: the pid on its first line (as tools expect), then a JSON line."""
    first, _, rest = text.partition("\n")
    try:
        pid = int(first.strip())
        extra = json.loads(rest) if rest.strip() else {}
    except ValueError:
        return None
    if not isinstance(extra, dict):
        extra = {}
    return ServeInfo(
        pid,
        float(extra.get("started") or 0.0),
        str(extra.get("listen") or ""),
        str(extra.get("web") or ""),
    )


class ServeLock:
    """Held by a running ``serve``: see :func:`serve_lock`."""

    def __init__(self, home: Path, listen: str = "", web: str = "") -> None:
        self.path = home / SERVE_FILE
        self.info = ServeInfo(os.getpid(), time.time(), listen, web)
        self._fd: int | None = None

    def __enter__(self) -> ServeLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_info(os.read(fd, 4096).decode("utf-8", "replace"))
            os.close(fd)
            pid = f" (pid {other.pid})" if other is not None else ""
            raise ServeRunning(
                f"another `commune serve`{pid} is running on {self.path.parent}; stop it "
                "first (one folder, one serve)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write()
        return self

    def note(self, *, listen: str | None = None, web: str | None = None) -> None:
        """Say where it listens, once it knows (a port chosen by the system)."""
        info = self.info
        self.info = ServeInfo(
            info.pid,
            info.started,
            info.listen if listen is None else listen,
            info.web if web is None else web,
        )
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        info = self.info
        extra = {"started": info.started, "listen": info.listen, "web": info.web}
        data = f"{info.pid}\n{json.dumps(extra)}\n".encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # not unlinked: another serve may have it open
        os.close(self._fd)  # the lock goes with it
        self._fd = None


def serve_lock(home: Path, *, listen: str = "", web: str = "") -> ServeLock:
    """``with serve_lock(home, listen=...) as running:`` around ``serve``'s life; raises
    :class:`ServeRunning` when another process holds it. ``running.note(web=URL)`` once
    the web view listens."""
    return ServeLock(home, listen, web)


def serve_running(home: Path) -> ServeInfo | None:
    """The running ``serve`` of this folder (from any process), or None."""
    try:
        fd = os.open(home / SERVE_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 4096).decode("utf-8", "replace")
            return _read_info(text) or ServeInfo(0, 0.0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def store_mtime(store_path: Path | str) -> float | None:
    """When the store was last written: the newer of the database and its WAL file."""
    times = []
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            times.append(os.stat(f"{store_path}{suffix}").st_mtime)
    return max(times) if times else None
