"""Sync figures: a full transfer, an in-sync round, a gap, live latency along a line.

Real nodes on 127.0.0.1 (real folders, SQLite files, mutual TLS), in one process:

    .venv/bin/python -m bench.sync_bench [EVENTS]

Prints the figures and writes them to docs/BENCHMARKS.md (section "Sync").
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from node import sync
from protocol.kinds import POSTABLE
from tests.net import close_all, link, make_network, until


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _round(a, b) -> sync.Stats:  # type: ignore[no-untyped-def]
    service = sync.Sync(a.node, a.keys)
    async with sync.client_session(service) as session:
        return await sync.sync_with(service, session, b.url)


async def main(events: int) -> list[str]:
    lines: list[str] = []
    spec = POSTABLE["report"]
    with tempfile.TemporaryDirectory() as tmp:
        la, sv, india, za = members = make_network(
            Path(tmp), ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]
        )
        try:
            for start in range(0, events, 2000):
                la.node.post(
                    la.keys,
                    [
                        ("report", spec.build({"title": f"r{i}", "body": "x" * 900}))
                        for i in range(start, min(events, start + 2000))
                    ],
                )
            for m in members[1:]:  # every member has written: four authors
                m.post(f"from {m.name}")
                la.node.ingest([e.raw for e in m.node.store.events() if e.author == m.keys.node_id])
            for m in members:
                await m.start()
            size = sum(len(e.raw) for e in la.node.store.events()) / la.node.store.count()
            rss_before = _rss_mib()
            started = time.perf_counter()
            stats = await _round(sv, la)
            took = time.perf_counter() - started
            lines.append(
                f"| full transfer, {stats.received} events of {size:.0f} B | {took:.2f} s | "
                f"{stats.received / took:,.0f} events/s | "
                f"{stats.bytes_received / 2**20:.1f} MiB in |"
            )
            lines.append(
                f"| peak memory growth of the process during it | | | "
                f"{_rss_mib() - rss_before:.0f} MiB |"
            )
            times = []
            for _ in range(20):
                started = time.perf_counter()
                stats = await _round(sv, la)
                times.append(time.perf_counter() - started)
            lines.append(
                f"| in-sync round ({len(la.node.store.heads())} authors), median of 20 | "
                f"{statistics.median(times) * 1000:.1f} ms "
                f"| one request, no push | {stats.bytes_sent} B out, {stats.bytes_received} B in |"
            )
            la.node.post(
                la.keys,
                [
                    ("report", spec.build({"title": f"gap {i}", "body": "x" * 900}))
                    for i in range(100)
                ],
            )
            started = time.perf_counter()
            stats = await _round(sv, la)
            took = time.perf_counter() - started
            lines.append(
                f"| a gap of 100 events | {took * 1000:.0f} ms | {stats.received} received | "
                f"{stats.bytes_received / 1024:.0f} KiB in "
                f"({stats.bytes_received / 100:.0f} B per event) |"
            )
            link(sv, la)
            link(india, sv)
            link(za, india)
            await until(lambda: len({m.state() for m in members}) == 1, timeout=600)
            delays = []
            for i in range(10):
                la.post(f"live {i}")
                delays.append(await until(lambda i=i: f"live {i}" in za.titles(), timeout=30))
            lines.append(
                f"| live: a new event from LA reaches ZA over 3 hops, median of 10 | "
                f"{statistics.median(delays) * 1000:.0f} ms | max {max(delays) * 1000:.0f} ms | |"
            )
        finally:
            for m in members:
                await m.stop()
            close_all(members)
    return lines


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rows = asyncio.run(main(count))
    body = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. "
        "Real nodes on 127.0.0.1 with mutual TLS 1.3, each with its own SQLite file "
        "(WAL, synchronous=FULL).",
        "",
        "| what | time | rate | bytes |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Reproduce: `.venv/bin/python -m bench.sync_bench {count}`.",
    ]
    print("\n".join(body))
    write_section("Sync", "\n".join(body))
