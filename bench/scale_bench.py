"""Scale: syncing up to 1 M events between two nodes in separate processes, and how the
in-sync round and a gap of 100 events cost as the log grows.

    .venv/bin/python -m bench.scale_bench [SIZE ...]     (default 10000 100000 200000)
    .venv/bin/python -m bench.scale_bench 10000 100000 1000000

The source node's log is written in this process, in batches (as bench/ingest_bench.py
makes its log), and grown from one size to the next. It is served by a real
``commune serve`` process. At each size a fresh member (joined by invite, empty) runs
the real ``commune sync --peer URL`` in its own process, so the peak RSS read from
``wait4`` is that process's alone: the receiving node's. Then, from this process, the
member's in-sync round and a gap of 100 events (posted on the source) are timed.

The bound measured in the same run for memory: the peak RSS of the same ``commune
sync`` when nothing is new (the interpreter, the libraries, an open store), so the
growth a transfer adds is what is left.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from bench.sync_bench import machine, reports, round_with
from crypto.identity import NodeKeys
from node import network
from node.home import Home
from node.service import Node
from tests.helpers import ROOT
from tests.net import Member, free_port, serve_process

#: issue 18's goal for the 1,000,000-event sync, from twice Hypercore's speed
SPEED_GOAL_S = 90
TARGET_MIB = 150
BATCH = 2000
BODY = 200


def commune_sync(home: Path, url: str) -> tuple[float, float, str]:
    """``commune sync --peer url`` in its own process: seconds, its peak RSS in MiB,
    and its last line of output."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "node", "--home", str(home), "sync", "--peer", url],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"commune sync failed ({proc.returncode}): {text[-2000:]}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return took, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def peak_rss_mib(pid: int) -> float:
    """A running process's peak resident set (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Source:
    """The sending node: a network founded here, members admitted (one per size),
    its log grown in batches of reports of about 450 B."""

    def __init__(self, base: Path, members: int) -> None:
        self.home = Home(base / "source")
        _, self.keys = self.home.init("Los Angeles", None)
        self.node = Node.open(self.home)
        network.found(self.node, self.keys, "Red")
        network.set_limits(self.node, self.keys, 10**8, 2**40)  # PROTOCOL §4.6
        self.sinks: list[Home] = []
        for n in range(members):
            sink = Home(base / f"sink-{n}")
            sink.init(f"El Salvador {n}", None)
            _, invite = network.admit(self.node, self.keys, sink.identity().card.to_text(), False)
            with Node.open(sink) as joined:
                network.join(joined, invite.to_text())
            self.sinks.append(sink)
        self.written = 0

    def grow_to(self, events: int) -> float:
        started = time.perf_counter()
        while self.node.store.count() < events:
            n = min(BATCH, events - self.node.store.count())
            self.node.post(self.keys, reports(n, self.written, body=BODY))  # type: ignore[arg-type]
            self.written += n
        return time.perf_counter() - started


async def rounds_at(sink: Home, url: str, source: Source, runs: int) -> dict[str, float]:
    """The member's in-sync round (median of ``runs``), then a gap of 100 events."""
    keys: NodeKeys = sink.unlock(None)
    node = Node.open(sink)
    member = Member("sink", sink, node, keys)
    try:
        times, stats = [], None
        for _ in range(runs):
            started = time.perf_counter()
            stats = await round_with(member, url)
            times.append(time.perf_counter() - started)
            assert stats.received == 0
        assert stats is not None
        source.grow_to(source.node.store.count() + 100)
        started = time.perf_counter()
        gap = await round_with(member, url)
        gap_time = time.perf_counter() - started
        assert gap.received == 100, gap.summary()
        return {
            "insync_ms": statistics.median(times) * 1000,
            "insync_bytes": stats.bytes_sent + stats.bytes_received,
            "gap_ms": gap_time * 1000,
            "gap_bytes": gap.bytes_sent + gap.bytes_received,
        }
    finally:
        node.close()


async def main(sizes: list[int], runs: int) -> list[dict[str, float]]:
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        source = Source(Path(tmp), len(sizes))
        port = free_port()
        server = serve_process(source.home.path, port)
        url = f"https://127.0.0.1:{port}"
        try:
            for n, size in enumerate(sizes):
                built = source.grow_to(size)
                stored = source.node.store.count()
                print(f"source holds {stored:,} events ({built:.0f} s to write)", flush=True)
                sink = source.sinks[n]
                took, rss, last = commune_sync(sink.path, url)
                with Node.open(sink) as check:
                    got = check.store.count()
                print(f"  full sync: {took:.1f} s, peak RSS {rss:.0f} MiB, {last}", flush=True)
                _, idle_rss, _ = commune_sync(sink.path, url)  # nothing new: the baseline
                r = await rounds_at(sink, url, source, runs)
                match = re.search(r"([0-9.]+) s$", last)
                r.update(
                    round_s=float(match.group(1)) if match else took,
                    stored=stored,
                    received=got,
                    sync_s=took,
                    rss=rss,
                    idle_rss=idle_rss,
                    server_rss=peak_rss_mib(server.pid),
                    size=os.path.getsize(sink.store_path) / 2**20,
                )
                print(f"  {r}", flush=True)
                results.append(r)
        finally:
            server.terminate()
            server.wait(30)
            source.node.close()
    return results


def report(results: list[dict[str, float]], runs: int) -> str:
    rows, grow = [], []
    for r in results:
        rows.append(
            f"| {r['stored']:,.0f} | {r['sync_s']:.1f} s | {r['round_s']:.1f} s "
            f"({r['received'] / r['round_s']:,.0f} events/s) | {r['rss']:.0f} MiB "
            f"({r['rss'] - r['idle_rss']:+.0f} over {r['idle_rss']:.0f} idle) "
            f"| {r['server_rss']:.0f} MiB | {r['size']:,.0f} MiB |"
        )
        grow.append(
            f"| {r['stored']:,.0f} | {r['insync_ms']:.1f} ms | {r['insync_bytes']:,.0f} B "
            f"| {r['gap_ms']:.0f} ms | {r['gap_bytes'] / 1024:,.0f} KiB |"
        )
    top = results[-1]
    met = top["rss"] < TARGET_MIB
    first = results[0]
    return "\n".join(
        [
            "A fresh member syncs the whole log from a `commune serve` process (its own "
            "process: `commune sync --peer URL`, peak RSS from `wait4`); events of about "
            "450 B, one author. The source's peak RSS is `serve`'s VmHWM, cumulative over "
            "the run (it served every size).",
            "",
            "| events stored | `commune sync`, wall (process start included) | the round "
            "itself (as `sync` reports it) | receiver's peak RSS | sender (`serve`) peak RSS "
            "| receiver's store |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"**Target (flat memory under {TARGET_MIB} MB): "
            f"{'met' if met else 'not met'}** at {top['stored']:,.0f} events: the receiver "
            f"peaked at {top['rss']:.0f} MiB against {first['rss']:.0f} MiB at "
            f"{first['stored']:,.0f}; the idle process (same command, nothing new) is the "
            "bound measured in the same run. Events are taken in batches of 2,000 (or 2 MiB) "
            "and committed one batch at a time, and the sender reads its log 512 rows at a "
            "time, so neither side holds more than a batch.",
            *speed(top),
            "",
            f"How a round costs as the log grows (a member in this process, median of {runs} "
            "in-sync rounds on new connections; the gap is 100 new events on the source):",
            "",
            "| events stored | in-sync round | its bytes (bodies) | gap of 100 | its bytes |",
            "| --- | --- | --- | --- | --- |",
            *grow,
            "",
            f"From {first['stored']:,.0f} to {top['stored']:,.0f} events the in-sync round "
            f"went from {first['insync_ms']:.0f} to {top['insync_ms']:.0f} ms "
            f"({top['insync_ms'] / first['insync_ms']:.1f}×) and the gap from "
            f"{first['gap_ms']:.0f} to {top['gap_ms']:.0f} ms "
            f"({top['gap_ms'] / first['gap_ms']:.1f}×), for "
            f"{top['stored'] / first['stored']:.0f}× the events; their bytes do not "
            "depend on the log's size (the hellos hold one entry per author). Both are "
            "lookups by (author, seq) and a scan from the first missing row on. Not "
            "measured here: with many authors, a gap in one author's feed whose first "
            "missing event is old makes the sender scan every row stored after it "
            "(node/sync.py `Sync.outgoing` walks the log by rowid and filters authors in "
            "Python), so such a gap costs in proportion to what was stored since.",
        ]
    )


def speed(top: dict[str, float]) -> list[str]:
    """Issue 18's goal for the 1,000,000-event sync, when this run went that far."""
    if top["stored"] < 1_000_000:
        return []
    met = top["sync_s"] <= SPEED_GOAL_S
    return [
        "",
        f"**Speed (issue 18: the {top['stored']:,.0f}-event sync in about "
        f"{SPEED_GOAL_S} s): {'met' if met else 'not met'}**: the round that brings the "
        f"log took {top['round_s']:.0f} s ({top['received'] / top['round_s']:,.0f} events "
        f"a second), and the whole command {top['sync_s']:.0f} s, the items catching up "
        "with the log after the round included (node/sync_client.py: outside the "
        "round's time limit). The round's rate is the receiving node's checking and "
        'storing ("Ingest against the verify bound"). Measured before on this machine: '
        "524 s for the round with the items merged in each batch (load 3 to 5), and 245 s "
        "with the items behind the log but the events found by an index by id alone, "
        'whose cost grew with the log ("Storing as the log grows").',
    ]


if __name__ == "__main__":
    chosen = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 200_000]
    where = machine()
    out = asyncio.run(main(chosen, 5))
    body = "\n".join(
        [
            where,
            "",
            report(out, 5),
            "",
            f"Reproduce: `.venv/bin/python -m bench.scale_bench {' '.join(map(str, chosen))}` "
            "(the default stops at 200,000; give 1000000 for the full size, about "
            "a quarter of an hour here).",
        ]
    )
    print(body)
    write_section("Scale", body)
