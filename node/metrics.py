"""The in-process registry of counters and gauges with labels, rendered in the
Prometheus text exposition format (version 0.0.4), for ``/metrics``: one registry per
open node (:func:`registry_for`), so two nodes in one process (the demo, the tests)
never mix. What a node records of its rounds is node/records.py; the serve lock,
node/servelock.py.

Nothing here reads or records content or keys: counts, sizes, times, addresses, and
node ids shortened.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.service import Node

log = logging.getLogger("commune.sync")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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
