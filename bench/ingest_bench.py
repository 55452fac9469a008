"""Ingest against the verify bound, measured in the same run (docs/BENCHMARKS.md).

    .venv/bin/python -m bench.ingest_bench [EVENTS] [RUNS]

1. The bound: Ed25519 verifications per second with the library the node uses
   (PyNaCl / libsodium), on one thread and on both cores.
2. Ingest: EVENTS events of another node's log, checked (decode, author key, body hash,
   signature) and stored (chain rules, SQLite transaction, projections), in batches of
   2,000 as an import does (``Node.ingest_batches``: the next batch is checked on the
   other cores while this one is stored).

Medians of RUNS runs; the machine is shared and noisy, so the ratio matters more than
the figures.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.report import write_section
from crypto.sign import verify
from node import network
from node.home import Home
from node.service import Node
from protocol.kinds import POSTABLE

BATCH = 2000


def make_log(base: Path, events: int, sinks: int) -> tuple[list[bytes], list[Home]]:
    """A source node that founded a network, admitted ``sinks`` nodes (which joined),
    then wrote ``events`` reports; its log, and the sinks' folders."""
    home = Home(base / "source")
    _, keys = home.init("Los Angeles", None)
    spec = POSTABLE["report"]
    homes = []
    with Node.open(home) as node:
        network.found(node, keys, "Red")
        for n in range(sinks):
            sink = Home(base / f"sink-{n}")
            sink.init(f"El Salvador {n}", None)
            _, invite = network.admit(node, keys, sink.identity().card.to_text(), False)
            with Node.open(sink) as joined:
                network.join(joined, invite.to_text())
            homes.append(sink)
        for start in range(0, events, BATCH):
            node.post(
                keys,
                [
                    ("report", spec.build({"title": f"r{i}", "body": "x" * 200}))
                    for i in range(start, min(events, start + BATCH))
                ],
            )
        raws = [e.raw for e in node.store.events()]
    return raws, homes


def verify_rate(raws: list[bytes], threads: int) -> float:
    from protocol.envelope import decode_event  # noqa: PLC0415

    events = [decode_event(r) for r in raws]
    jobs = [(e.author, e.header, e.signature) for e in events]
    from protocol import signed  # noqa: PLC0415

    messages = [(a, signed.EVENT_SIGNATURE + h, s) for a, h, s in jobs]
    started = time.perf_counter()
    if threads == 1:
        for a, m, s in messages:
            verify(a, m, s)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda j: verify(*j), messages, chunksize=256))
    return len(messages) / (time.perf_counter() - started)


def ingest_rate(raws: list[bytes], home: Home) -> float:
    with Node.open(home) as node:
        started = time.perf_counter()
        batches = (raws[start : start + BATCH] for start in range(0, len(raws), BATCH))
        for result in node.ingest_batches(batches):  # checks the next while storing this
            assert result.refused_total == 0, result.summary()
        took = time.perf_counter() - started
        assert node.store.count() == len(raws)
    return len(raws) / took


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        raws, sinks = make_log(base, events, runs)
        size = sum(len(r) for r in raws) / len(raws)
        one, two, ingest = [], [], []
        for run in range(runs):
            one.append(verify_rate(raws[:20_000], 1))
            two.append(verify_rate(raws[:20_000], 2))
            ingest.append(ingest_rate(raws, sinks[run]))
    v1, v2, ing = (statistics.median(x) for x in (one, two, ingest))
    body = "\n".join(
        [
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}. Medians of {runs} runs.",
            "",
            "| what | rate | against the two-core bound |",
            "| --- | --- | --- |",
            f"| verify only, PyNaCl, one thread | {v1:,.0f} /s | {v1 / v2:.0%} |",
            f"| verify only, PyNaCl, two threads (the bound) | {v2:,.0f} /s | 100% |",
            f"| ingest {events:,} events of {size:.0f} B from another node's log "
            f"(batches of {BATCH:,}) | {ing:,.0f} events/s | {ing / v2:.0%} |",
            "",
            f"Reproduce: `.venv/bin/python -m bench.ingest_bench {events} {runs}`. The target "
            "(issue 8) is ingest at 70% of the two-core bound or more.",
        ]
    )
    print(body)
    write_section("Ingest against the verify bound", body)


if __name__ == "__main__":
    main()
