"""Full replication between two ``serve`` processes, and the same with Hypercore, in one
run (docs/BENCHMARKS.md, "Full replication and a peer (Hypercore)").

    .venv/bin/python -m bench.replication_bench [EVENTS] [RUNS] [--profile] [--no-doc]

1. Commune: a source node holds EVENTS reports of ~250 B of body; it runs ``commune
   serve``. Each run, a fresh sink (joined, holding the admissions only) starts ``commune
   serve`` with the source as its only peer, dialled through the byte-counting relay of
   bench/wire.py (mutual TLS 1.3 end to end; the relay sees TCP only). Timed from the
   relay's first connection until the sink's store holds every event.
2. Hypercore (bench/hypercore, npm ci there first): a core of EVENTS entries of 250 B,
   served by one Node process and replicated into a fresh core by another, through the
   same kind of relay, timed the same way.
3. Both in-sync exchanges: a sync between two nodes that already hold the same events.

The runs alternate (Commune, Hypercore, Commune, ...) so both meet the same noise;
medians of RUNS runs. ``--profile`` runs each Commune sink under cProfile and prints
where its main thread spends the time; ``--no-doc`` leaves docs/BENCHMARKS.md alone.
"""

from __future__ import annotations

import contextlib
import cProfile  # noqa: F401 - named for readers: --profile runs the sink under it
import os
import platform
import pstats
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import write_section
from bench.wire import Relay
from node import network
from node import peers as peer_list
from node.home import Home
from node.service import Node
from protocol.kinds import POSTABLE
from tests.helpers import ROOT
from tests.net import free_port

BODY = 250
BATCH = 2000
HYPERCORE = Path(__file__).resolve().parent / "hypercore"
TIMEOUT = 900.0


@dataclass
class Run:
    seconds: float
    wire: int
    up: int
    down: int
    #: CPU seconds (user + system) of the serving and the receiving process
    cpu_source: float
    cpu_sink: float


def make_log(base: Path, events: int, sinks: int) -> tuple[Home, list[bytes], list[Home]]:
    """A source that founded a network, admitted ``sinks`` nodes (each joined and took the
    admissions, as after a first sync), then wrote ``events`` reports of BODY bytes of
    body. The source's folder, the reports' raw events, and the sinks' folders."""
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
        admissions = [e.raw for e in node.store.events()]
        for sink in homes:
            with Node.open(sink) as joined:
                joined.ingest(admissions)
                # As after a first sync with the source: its own (empty) feed is confirmed.
                with joined.store.write():
                    joined.store.set_meta("feed_unconfirmed", "")
        for start in range(0, events, BATCH):
            node.post(
                keys,
                [
                    ("report", spec.build({"title": f"r{i}", "body": "x" * BODY}))
                    for i in range(start, min(events, start + BATCH))
                ],
            )
        reports = [e.raw for e in node.store.events()][len(admissions) :]
    return home, reports, homes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (and its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commune(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "node", "--home", str(home), *args]


def start_serve(home: Path, *, profile: Path | None = None) -> tuple[subprocess.Popen[str], int]:
    """``commune serve`` on 127.0.0.1 without the web view, once it listens."""
    port = free_port()
    argv = commune(home, "serve", "--listen", f"127.0.0.1:{port}", "--no-web")
    argv += ["--interval", "3600", "--log-level", "warning"]
    if profile is not None:
        argv[1:1] = ["-m", "cProfile", "-o", str(profile)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("Serving on"), line
    return proc, port


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, as systemd stops a node."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def count(store: Path) -> int:
    """Events in a store, read by another process while the node writes (WAL)."""
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0)


def commune_run(
    source: subprocess.Popen[str], relay: Relay, sink: Home, total: int, profile: Path | None
) -> Run:
    relay.reset()
    cpu_before = cpu_seconds(source.pid)
    proc, _ = start_serve(sink.path, profile=profile)
    started = time.monotonic()
    while count(sink.store_path) < total:
        if time.monotonic() - started > TIMEOUT:
            stop(proc)
            raise AssertionError(f"the sink holds {count(sink.store_path)} of {total} events")
        time.sleep(0.02)
    done = time.monotonic()
    run_ = Run(
        seconds=done - (relay.first_connect or started),
        wire=relay.total,
        up=relay.up,
        down=relay.down,
        cpu_source=cpu_seconds(source.pid) - cpu_before,
        cpu_sink=cpu_seconds(proc.pid),
    )
    stop(proc)
    return run_


def commune_in_sync(relay: Relay, sink: Home, url: str) -> tuple[int, str]:
    """``commune sync`` between two nodes holding the same events: wire bytes, summary."""
    relay.reset()
    result = subprocess.run(
        commune(sink.path, "sync", "--peer", url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    time.sleep(0.2)  # the relay sees the connection close
    return relay.total, result.stdout.strip()


def node_script(*args: str) -> list[str]:
    return ["node", str(HYPERCORE / "replicate.mjs"), *args]


def hypercore_run(
    server: subprocess.Popen[str], relay: Relay, key: str, port: int, store: Path, total: int
) -> Run:
    relay.reset()
    cpu_before = cpu_seconds(server.pid)
    proc = subprocess.Popen(
        node_script("read", str(store), key, str(port), str(total)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    done = time.monotonic()
    cpu_sink = cpu_seconds(proc.pid)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert line.startswith(f"done {total}"), (line, err)
    return Run(
        seconds=done - (relay.first_connect or done),
        wire=relay.total,
        up=relay.up,
        down=relay.down,
        cpu_source=cpu_seconds(server.pid) - cpu_before,
        cpu_sink=cpu_sink,
    )


def median_run(runs: list[Run]) -> Run:
    pick = statistics.median
    return Run(
        pick(r.seconds for r in runs),
        int(pick(r.wire for r in runs)),
        int(pick(r.up for r in runs)),
        int(pick(r.down for r in runs)),
        pick(r.cpu_source for r in runs),
        pick(r.cpu_sink for r in runs),
    )


def profile_summary(files: list[Path]) -> str:
    stats = pstats.Stats(*(str(f) for f in files if f.exists()))
    stats.sort_stats("cumulative")
    lines: list[str] = []
    rows = []
    for (file, line, name), (_, calls, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((ct, tt, calls, f"{Path(file).name}:{line} {name}"))
    rows.sort(reverse=True)
    lines.append("cumulative s | own s | calls | function")
    for ct, tt, calls, where in rows[:40]:
        lines.append(f"{ct:10.2f} | {tt:6.2f} | {calls:8d} | {where}")
    return "\n".join(lines)


def versions() -> tuple[str, str]:
    node_version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    package = (HYPERCORE / "node_modules" / "hypercore" / "package.json").read_text()
    import json  # noqa: PLC0415

    return node_version, json.loads(package)["version"]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    profile = "--profile" in sys.argv
    events = int(args[0]) if args else 100_000
    runs = int(args[1]) if len(args) > 1 else 3
    if not (HYPERCORE / "node_modules" / "hypercore").exists():
        sys.exit("Hypercore is not installed: (cd bench/hypercore && npm ci) first")
    node_version, hypercore_version = versions()
    commune_runs: list[Run] = []
    hyper_runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        print(f"making a log of {events:,} events…", file=sys.stderr)
        source_home, reports, sinks = make_log(base, events, runs)
        raw_bytes = sum(len(r) for r in reports)
        total = count(source_home.store_path)
        print("making a Hypercore of as many entries…", file=sys.stderr)
        subprocess.run(
            node_script("write", str(base / "hyper-source"), str(events), str(BODY)),
            check=True,
            capture_output=True,
        )
        source, source_port = start_serve(source_home.path)
        relay = Relay(("127.0.0.1", source_port))
        url = f"https://127.0.0.1:{relay.start()}"
        hyper = subprocess.Popen(
            node_script("serve", str(base / "hyper-source")), stdout=subprocess.PIPE, text=True
        )
        assert hyper.stdout is not None
        _, key, hyper_port, length = hyper.stdout.readline().split()
        assert int(length) == events
        hyper_relay = Relay(("127.0.0.1", int(hyper_port)))
        hyper_relay_port = hyper_relay.start()
        profiles = [base / f"sink-{n}.prof" for n in range(runs)]
        try:
            for n, sink in enumerate(sinks):
                with Node.open(sink) as node:
                    peer_list.add_manual(node, url)
                commune_runs.append(
                    commune_run(source, relay, sink, total, profiles[n] if profile else None)
                )
                c = commune_runs[-1]
                print(f"Commune run {n + 1}: {events / c.seconds:,.0f} events/s", file=sys.stderr)
                hyper_runs.append(
                    hypercore_run(
                        hyper, hyper_relay, key, hyper_relay_port, base / f"hyper-{n}", events
                    )
                )
                h = hyper_runs[-1]
                rate = events / h.seconds
                print(f"Hypercore run {n + 1}: {rate:,.0f} entries/s", file=sys.stderr)
            same = [
                subprocess.run(
                    commune(h, "state-hash"), cwd=ROOT, capture_output=True, text=True, check=True
                ).stdout
                for h in (source_home.path, sinks[-1].path)
            ]
            assert same[0] == same[1], same
            commune_idle, summary = commune_in_sync(relay, sinks[-1], url)
            hyper_idle = hypercore_run(
                hyper, hyper_relay, key, hyper_relay_port, base / f"hyper-{runs - 1}", events
            ).wire
        finally:
            stop(source)
            hyper.send_signal(signal.SIGTERM)
            hyper.wait(30)
            relay.close()
            hyper_relay.close()
        if profile:
            print(profile_summary(profiles))
    c, h = median_run(commune_runs), median_run(hyper_runs)
    c_rate, h_rate = events / c.seconds, events / h.seconds
    payload = events * BODY
    speed_met = c_rate >= 2 * h_rate
    wire_met = c.wire <= 1.3 * raw_bytes
    body = "\n".join(
        [
            f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, Node.js {node_version}, Hypercore "
            f"{hypercore_version}. Medians of {runs} runs, Commune's and Hypercore's taking "
            "turns in the same run. Timed from the first TCP connection (seen by a relay on "
            "loopback) until the receiving side holds every event; the relay counts every "
            "byte both ways at TCP level (TLS 1.3 for Commune, Hypercore's Noise stream for "
            "Hypercore; handshakes included). The receiving process's start-up is not timed.",
            "",
            "| what | time | rate | bytes on the wire | against the payload |",
            "| --- | --- | --- | --- | --- |",
            f"| Commune: {events:,} reports of {BODY} B of body ({raw_bytes / events:.0f} B "
            f"per signed event, {raw_bytes / 2**20:.1f} MiB in all), `serve` to `serve` over "
            f"mutual TLS 1.3 | {c.seconds:.1f} s | {c_rate:,.0f} events/s | "
            f"{c.wire / 2**20:.1f} MiB ({c.down / 2**20:.1f} MiB down, {c.up / 1024:.0f} KiB "
            f"up) | {c.wire / raw_bytes:.3f}× the events' bytes; {c.wire / payload:.2f}× the "
            "bodies |",
            f"| Hypercore: {events:,} entries of {BODY} B ({payload / 2**20:.1f} MiB) | "
            f"{h.seconds:.1f} s | {h_rate:,.0f} entries/s | {h.wire / 2**20:.1f} MiB "
            f"({h.down / 2**20:.1f} MiB down, {h.up / 1024:.0f} KiB up) | "
            f"{h.wire / payload:.3f}× the entries' bytes |",
            f"| Commune ÷ Hypercore | | {c_rate / h_rate:.2f}× | | |",
            f"| in-sync exchange (nothing new): Commune, `commune sync` to a node holding the "
            f"same {total:,} events | | | {commune_idle:,} B | one connection: TLS handshake, "
            "one pull |",
            f"| in-sync exchange: Hypercore, a complete core reconnecting | | | "
            f"{hyper_idle:,} B | one connection: Noise handshake, one update |",
            "",
            f"CPU seconds during a transfer (median): Commune's serving process "
            f"{c.cpu_source:.1f} s, receiving process {c.cpu_sink:.1f} s (with its start-up); "
            f"Hypercore's {h.cpu_source:.1f} s and {h.cpu_sink:.1f} s.",
            "",
            "Targets (issue 8): Commune at least twice as fast as Hypercore: "
            f"{'met' if speed_met else 'not met'} ({c_rate / h_rate:.2f}×); wire bytes at "
            f"most 1.3× the events' bytes: {'met' if wire_met else 'not met'} "
            f"({c.wire / raw_bytes:.3f}×).",
            "",
            f"Reproduce: `(cd bench/hypercore && npm ci) && .venv/bin/python -m "
            f"bench.replication_bench {events} {runs}` (add `--profile` to see where the "
            "receiving node's main thread spends its time). Last `commune sync` summary of "
            f"the in-sync exchange: `{summary}`.",
        ]
    )
    print(body)
    if "--no-doc" not in sys.argv:
        write_section("Full replication and a peer (Hypercore)", body)


if __name__ == "__main__":
    main()
