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
medians of RUNS runs. ``--profile`` adds one more Commune run (not in the medians) with
the receiving ``serve`` under cProfile, and tells where its main thread spends the
time; ``--no-doc`` leaves docs/BENCHMARKS.md alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.ingest_bench import source_log, verify_rate
from bench.report import write_section
from bench.wire import Relay
from crypto.atrest import sqlcipher_key
from node import coding, sync
from node import peers as peer_list
from node.cipherdb import connect, sqlite3
from node.home import Home
from node.projector import ITEMS_UPTO
from node.service import Node, check_many
from protocol import sync as proto
from tests.helpers import ROOT
from tests.net import free_port

BODY = 250
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
    #: from the first connection until the receiver's items had caught up with its log
    #: (node/projector.py "Items behind the log": what its web view and commands show)
    caught_up: float = 0.0
    #: the transactions a sync of these events makes (one per batch)
    batches: int = 0
    #: the receiving serve's sync rounds (sync.ok log lines) and failed ones
    rounds: int = 0
    failed: int = 0


def make_log(base: Path, events: int, sinks: int) -> tuple[Home, list[bytes], list[Home]]:
    """A source that founded a network, admitted ``sinks`` nodes (each joined and took the
    admissions, as after a first sync), then wrote ``events`` reports of about BODY bytes
    of title and body, prose in four languages (bench/texts.py: sync bodies are coded
    with zstd, and prose compresses as people's reports do, one letter repeated would
    not). The source's folder, the reports' raw events, and the sinks' folders."""
    home, raws, homes, admissions = source_log(
        base, events, sinks, body=BODY, sinks_in_step=True, prose=True
    )
    return home, raws[admissions:], homes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (and its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commune(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "node", "--home", str(home), *args]


def start_serve(
    home: Path, *, profile: Path | None = None, log: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``commune serve`` on 127.0.0.1 without the web view, once it listens; its log
    lines (one per sync round) go to ``log``."""
    port = free_port()
    argv = commune(home, "serve", "--listen", f"127.0.0.1:{port}", "--no-web")
    argv += ["--interval", "3600", "--log-level", "info" if log else "warning"]
    if profile is not None:
        argv[1:1] = ["-m", "cProfile", "-o", str(profile)]
    with open(log or os.devnull, "w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
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


def count(home: Home) -> int:
    """Events in a node's (encrypted) store, read by another process while the node
    writes (WAL). A read that meets the writer at a bad moment (busy, or SQLite's
    "locking protocol" while the WAL index is rebuilt) counts as none yet: the caller
    asks again."""
    key = sqlcipher_key(home.store_key)
    try:
        with contextlib.closing(connect(f"file:{home.store_path}?mode=ro", key, uri=True)) as db:
            return int(db.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return -1


def items_behind(home: Home) -> bool:
    """Whether the node's items are still behind its log (the mark of
    node/projector.py is there), read by another process as :func:`count` reads."""
    key = sqlcipher_key(home.store_key)
    try:
        with contextlib.closing(connect(f"file:{home.store_path}?mode=ro", key, uri=True)) as db:
            row = db.execute("SELECT 1 FROM meta WHERE key = ?", (ITEMS_UPTO,)).fetchone()
            return row is not None
    except sqlite3.OperationalError:
        return True


def commune_run(
    source: subprocess.Popen[str], relay: Relay, sink: Home, total: int, profile: Path | None
) -> Run:
    relay.reset()
    cpu_before = cpu_seconds(source.pid)
    log = sink.path / "serve.log"
    proc, _ = start_serve(sink.path, profile=profile, log=log)
    started = time.monotonic()
    while count(sink) < total:
        failed = [line for line in log.read_text().splitlines() if "event=sync.failed" in line]
        if failed or time.monotonic() - started > TIMEOUT:
            # a failed round is retried only after the interval: do not wait for it
            stop(proc)
            raise AssertionError(f"the sink holds {count(sink)} of {total} events; {failed}")
        time.sleep(0.02)
    done = time.monotonic()
    cpu_sink = cpu_seconds(proc.pid)  # up to the log's completion, as Hypercore's
    while items_behind(sink):
        assert time.monotonic() - started < TIMEOUT, "the sink's items did not catch up"
        time.sleep(0.02)
    caught_up = time.monotonic()
    run_ = Run(
        caught_up=caught_up - (relay.first_connect or started),
        seconds=done - (relay.first_connect or started),
        wire=relay.total,
        up=relay.up,
        down=relay.down,
        cpu_source=cpu_seconds(source.pid) - cpu_before,
        cpu_sink=cpu_sink,
    )
    stop(proc)
    text = log.read_text()
    run_.rounds = text.count("event=sync.ok")
    run_.failed = text.count("event=sync.failed")
    for line in text.splitlines():
        if "event=sync.failed" in line:
            print(f"  the receiving serve logged: {line}", file=sys.stderr)
    return run_


def commune_in_sync(relay: Relay, sink: Home, url: str) -> tuple[int, str]:
    """``commune sync`` between two nodes holding the same events: wire bytes, summary."""
    relay.reset()
    for _ in range(3):
        result = subprocess.run(
            commune(sink.path, "sync", "--peer", url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode == 0:
            break
        print(f"  commune sync failed: {result.stdout}{result.stderr}", file=sys.stderr)
        relay.reset()
    assert result.returncode == 0, result.stdout + result.stderr
    time.sleep(0.2)  # the relay sees the connection close
    return relay.total, result.stdout.strip()


async def _pull_only(home: Home, url: str) -> int:
    """A pull whose events are counted and dropped: what serving, TLS and the loopback
    cost without the receiver's checks and writes. The events received."""

    with Node.open(home) as node:
        service = sync.Sync(node, home.unlock(None))
        hello = proto.frame(proto.HELLO, service.hello().encode())
        events = 0
        reader = proto.FrameReader()
        async with (
            sync.client_session(service) as session,
            session.post(url + sync.PREFIX + "/sync", data=hello) as response,
        ):
            assert response.status == 200, response.status
            # decoded as the node decodes it (zstd when both speak it, node/coding.py)
            coded = coding.coding_of(response.headers.get("Content-Encoding"), service.codings)
            body = coding.Decoding(response.content.readany, coded)
            while chunk := await body.read():
                events += sum(kind == proto.EVENT for kind, _ in reader.feed(chunk))
    return events


def pull_only(relay: Relay, home: Home, url: str, events: int) -> float:
    """Seconds from the first connection to the end of a pull that only counts."""
    relay.reset()
    got = asyncio.run(_pull_only(home, url))
    done = time.monotonic()
    assert got == events, (got, events)
    return done - (relay.first_connect or done)


def ingest_only(home: Home, reports: list[bytes]) -> float:
    """Seconds to check and store the events in-process, in sync's batches: the
    receiver's work without the network."""

    with Node.open(home) as node:
        started = time.monotonic()
        for start in range(0, len(reports), proto.BATCH_EVENTS):
            checked = check_many(reports[start : start + proto.BATCH_EVENTS])
            result = node.ingest_checked(checked, behind=True)
            assert result.refused_total == 0, result.summary()
        return time.monotonic() - started


def frames_only(reports: list[bytes]) -> float:
    """Seconds to cut a stream of these events into frames (protocol.sync.FrameReader),
    fed in pieces of node.sync.CHUNK bytes, as the receiver reads them."""

    stream = b"".join(proto.frame(proto.EVENT, r) for r in reports)
    reader = proto.FrameReader()
    started = time.monotonic()
    count = 0
    for at in range(0, len(stream), sync.CHUNK):
        count += len(reader.feed(stream[at : at + sync.CHUNK]))
    took = time.monotonic() - started
    assert count == len(reports)
    return took


async def _handshake(home: Home, port: int) -> None:
    with Node.open(home) as node:
        context = sync.Sync(node, home.unlock(None)).context(server=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)  # the session tickets come in
        writer.close()
        await writer.wait_closed()


def handshake_only(relay: Relay, home: Home, port: int) -> int:
    """Wire bytes of a mutual TLS 1.3 handshake alone (then a clean close), to tell it
    from the sync messages in the in-sync exchange."""
    relay.reset()
    asyncio.run(_handshake(home, port))
    time.sleep(0.2)  # the relay sees the connection close
    return relay.total


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
        pick(r.caught_up for r in runs),
    )


#: (file, function) of the receiving side's main thread, as cProfile names them
PARTS = [
    ("sync.py", "take_in", "the whole intake of the pull (`Sync.take_in`)"),
    ("service.py", "ingest_checked", "storing checked batches (`Node.ingest_checked`)"),
    ("projector.py", "apply", "of which updating the projections (`Projector.apply`)"),
    ("store.py", "add", "of which inserting the events (`Store.add`)"),
    ("store.py", "write", "of which the transactions, commit included (`Store.write`)"),
    ("sync.py", "feed", "cutting frames (`FrameReader.feed`)"),
]


def profile_summary(file: Path) -> tuple[str, list[str]]:
    """The top of the profile (printed) and rows for the parts in PARTS (the section)."""
    stats = pstats.Stats(str(file))
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(
        (
            (ct, tt, calls, f"{Path(f).name}:{line} {name}")
            for (f, line, name), (_, calls, tt, ct, _) in table.items()
        ),
        reverse=True,
    )
    top = ["cumulative s | own s | calls | function"]
    top += [f"{ct:10.2f} | {tt:6.2f} | {calls:8d} | {where}" for ct, tt, calls, where in rows[:45]]
    whole = 0.0
    parts = []
    for base, function, what in PARTS:
        ct = sum(
            v[3] for (f, _, name), v in table.items() if Path(f).name == base and name == function
        )
        whole = whole or ct
        share = f"{ct / whole:.0%}" if whole else ""
        parts.append(f"| {what} | {ct:.1f} s | {share} |")
    return "\n".join(top), parts


def versions() -> tuple[str, str]:
    node_version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    package = (HYPERCORE / "node_modules" / "hypercore" / "package.json").read_text()
    return node_version, json.loads(package)["version"]


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    text = result.stdout.strip() or "unknown"
    return text.replace("-dirty", " with uncommitted changes")


def why_slower(
    c: Run, h: Run, pull: float, ingest: float, framing: float, signatures: float
) -> str:
    """What stands in the way of the speed target, from this run's figures."""
    c_cpu = (c.cpu_source + c.cpu_sink) / c.seconds
    h_cpu = (h.cpu_source + h.cpu_sink) / h.seconds
    work = (h.cpu_source + h.cpu_sink) / (c.cpu_source + c.cpu_sink)
    return (
        "What stands in the way of the speed target is the receiving node's checking and "
        "storing, not the sync path around it: the same events checked and stored "
        f"in-process, without any network, take {ingest:.1f} s against {c.seconds:.1f} s "
        f"end to end, while serving the whole pull (reading the source's log, frames, TLS, "
        f"loopback, relay) takes {pull:.1f} s and cutting the frames {framing:.1f} s. The "
        "receiver stores one batch at a time on its event loop's thread while the next "
        f"is checked on the other cores: it kept {c_cpu:.2f} cores busy (Hypercore's two "
        f"processes: {h_cpu:.2f}) and did {work:.2f}× Hypercore's work per CPU second, so "
        "the time is the storing thread's cost per event. Each batch is one transaction "
        f"(synchronous=FULL, one fsync each: {c.batches:,} of at most {proto.BATCH_EVENTS} "
        "events for this transfer). "
        f"Twice Hypercore's speed leaves {h.seconds / 2:.1f} s for the whole transfer; "
        f"checking the events' signatures alone, on both cores and nothing else, takes "
        f"{signatures:.1f} s of it ({signatures / (h.seconds / 2):.0%}): every Commune event "
        "carries its own signature and is checked on its own (docs/PROTOCOL.md §3.6), "
        "while a Hypercore writer signs its Merkle tree and a reader checks the blocks "
        "by their hashes against a signed tree."
    )


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
    pulls: list[float] = []
    ingests: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        print(f"making a log of {events:,} events…", file=sys.stderr)
        source_home, reports, homes = make_log(base, events, 2 * runs + profile)
        sinks, probes = homes[:runs], homes[runs : 2 * runs]
        raw_bytes = sum(len(r) for r in reports)
        total = count(source_home)
        assert total > len(reports), total
        framing = frames_only(reports)
        signatures = len(reports) / statistics.median(verify_rate(reports, 2) for _ in range(3))
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
        profiled = base / "sink.prof"
        parts: list[str] = []
        try:
            for n, sink in enumerate(sinks):
                with Node.open(sink) as node:
                    peer_list.add_manual(node, url)
                commune_runs.append(commune_run(source, relay, sink, total, None))
                hyper_runs.append(
                    hypercore_run(
                        hyper, hyper_relay, key, hyper_relay_port, base / f"hyper-{n}", events
                    )
                )
                pulls.append(pull_only(relay, probes[n], url, events))
                ingests.append(ingest_only(probes[n], reports))
                c, h = commune_runs[-1], hyper_runs[-1]
                print(
                    f"run {n + 1}: Commune {events / c.seconds:,.0f} events/s, Hypercore "
                    f"{events / h.seconds:,.0f} entries/s; pull only "
                    f"{events / pulls[-1]:,.0f}/s, ingest only {events / ingests[-1]:,.0f}/s",
                    file=sys.stderr,
                )
            same = [
                subprocess.run(
                    commune(h, "state-hash"), cwd=ROOT, capture_output=True, text=True, check=True
                ).stdout
                for h in (source_home.path, sinks[-1].path)
            ]
            assert same[0] == same[1], same
            if profile:
                with Node.open(homes[-1]) as node:
                    peer_list.add_manual(node, url)
                slowed = commune_run(source, relay, homes[-1], total, profiled)
            commune_idle, summary = commune_in_sync(relay, sinks[-1], url)
            handshake = handshake_only(relay, sinks[-1], int(url.rsplit(":", 1)[1]))
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
            top, parts = profile_summary(profiled)
            print(top)
            parts = [
                "",
                f"The receiving `serve`'s main thread under cProfile, in one more run "
                f"(slowed to {events / slowed.seconds:,.0f} events/s by the profiler; the "
                "checks run on other threads and are not in it):",
                "",
                "| part | time | share of the intake |",
                "| --- | --- | --- |",
                *parts,
            ]
    c, h = median_run(commune_runs), median_run(hyper_runs)
    c.batches = -(-events // proto.BATCH_EVENTS)
    pull, ingest = statistics.median(pulls), statistics.median(ingests)
    c_rate, h_rate = events / c.seconds, events / h.seconds
    payload = events * BODY
    speed_met = c_rate >= 2 * h_rate
    wire_met = c.wire <= 1.3 * raw_bytes
    c_cpu, h_cpu = (c.cpu_source + c.cpu_sink) / c.seconds, (h.cpu_source + h.cpu_sink) / h.seconds
    c_per_cpu = events / (c.cpu_source + c.cpu_sink)
    h_per_cpu = events / (h.cpu_source + h.cpu_sink)
    rounds = ", ".join(f"{r.rounds} ok/{r.failed} failed" for r in commune_runs)
    body = "\n".join(
        [
            f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, Node.js {node_version}, Hypercore "
            f"{hypercore_version}; Commune at {code_version()}. Medians of {runs} runs, "
            "Commune's and Hypercore's taking turns in the same run. Timed from the first "
            "TCP connection (seen by a relay on loopback) until the receiving side holds "
            "every entry; the relay counts every byte both ways at TCP level (TLS 1.3 for "
            "Commune, Hypercore's Noise stream for Hypercore; handshakes included). The "
            "receiving process's start-up is not timed.",
            "",
            "| what | time | rate | bytes on the wire | against the payload |",
            "| --- | --- | --- | --- | --- |",
            f"| Commune: {events:,} reports of {BODY} B of prose ({raw_bytes / events:.0f} B "
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
            f"| Commune, until the receiver's items have caught up with its log too (what "
            f"its web view and commands show) | {c.caught_up:.1f} s | "
            f"{events / c.caught_up:,.0f} events/s | | |",
            f"| Commune ÷ Hypercore, items caught up | | {h.seconds / c.caught_up:.2f}× | | |",
            f"| in-sync exchange (nothing new): Commune, `commune sync` to a node holding the "
            f"same {total:,} events | | | {commune_idle:,} B | one connection: the mutual TLS "
            f"1.3 handshake alone is {handshake:,} B; then one HTTP POST of the pull |",
            f"| in-sync exchange: Hypercore, a complete core reconnecting | | | "
            f"{hyper_idle:,} B | one connection: Noise handshake, one update |",
            "",
            "Targets (issue 8): Commune at least twice as fast as Hypercore: "
            f"**{'met' if speed_met else 'not met'}** ({c_rate / h_rate:.2f}×); wire bytes at "
            f"most 1.3× the events' bytes: **{'met' if wire_met else 'not met'}** "
            f"({c.wire / raw_bytes:.3f}×).",
            "",
            "Where Commune's time goes, measured in the same run (medians):",
            "",
            "| part | time for the same events | rate |",
            "| --- | --- | --- |",
            f"| end to end, `serve` to `serve` (above) | {c.seconds:.1f} s | "
            f"{c_rate:,.0f} events/s |",
            f"| serving alone: the same pull through the relay, the receiver only counting "
            f"frames | {pull:.2f} s | {events / pull:,.0f} events/s |",
            f"| receiving alone: check and store in-process (batches of "
            f"{proto.BATCH_EVENTS}, the items behind, as sync commits) | {ingest:.1f} s | "
            f"{events / ingest:,.0f} events/s |",
            f"| cutting the stream into frames alone (`FrameReader`, {sync.CHUNK // 1024} KiB "
            f"pieces) | {framing:.2f} s | {events / framing:,.0f} events/s |",
            f"| checking the signatures alone (Ed25519, PyNaCl, both cores, nothing else) "
            f"| {signatures:.1f} s | {events / signatures:,.0f} events/s |",
            "",
            f"CPU seconds during a transfer: Commune's serving process {c.cpu_source:.1f} s, "
            f"receiving process {c.cpu_sink:.1f} s (start-up included) for {c.seconds:.1f} s "
            f"of wall time ({c_cpu:.2f} cores busy); Hypercore's {h.cpu_source:.1f} s and "
            f"{h.cpu_sink:.1f} s for {h.seconds:.1f} s ({h_cpu:.2f} cores busy). Per CPU "
            f"second of both processes: Commune {c_per_cpu:,.0f} events, Hypercore "
            f"{h_per_cpu:,.0f} entries ({c_per_cpu / h_per_cpu:.2f}×). Hypercore's bytes "
            f"downstream alone are {h.down / payload:.3f}× its entries' bytes. The receiving "
            f"serve's sync rounds per run: {rounds}.",
            *parts,
            *([] if speed_met else ["", why_slower(c, h, pull, ingest, framing, signatures)]),
            "",
            f"Reproduce: `(cd bench/hypercore && npm ci) && .venv/bin/python -m "
            f"bench.replication_bench {events} {runs}{' --profile' if profile else ''}`. "
            "The in-sync exchange's "
            f"`commune sync` summary: `{summary}`.",
        ]
    )
    print(body)
    if "--no-doc" not in sys.argv:
        write_section("Full replication and a peer (Hypercore)", body)


if __name__ == "__main__":
    main()
