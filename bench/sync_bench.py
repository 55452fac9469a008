"""Sync figures: a full transfer, a gap, and the in-sync round with 4, 50 and 500 authors.

Real nodes on 127.0.0.1 (real folders, SQLite files, mutual TLS), in one process:

    .venv/bin/python -m bench.sync_bench [EVENTS] [ROUNDS]

Prints the figures and writes two sections of docs/BENCHMARKS.md: "Sync" (a full
transfer of EVENTS events and a gap of 100) and "In-sync round" (what a round costs
when nothing is new). The in-sync round's bytes are counted twice: the sync bodies
(the frames, as ``Stats`` counts them) and the whole TCP streams (TLS records,
handshake included, counted by a pass-through relay from bench/throttle.py), for a
round on a new connection (``commune sync``, or ``serve`` after its connection idled
out) and for one on a kept connection. HTTP requests count as round trips.

Live latency along a line of nodes moved to bench/latency_bench.py.
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
from collections import Counter
from pathlib import Path

from bench.report import write_section
from bench.throttle import Relay
from crypto.identity import NodeKeys
from node import network, sync
from node.peers import trusted_certificates
from protocol import sync as proto
from protocol.card import Card
from protocol.frontier import Frontier
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, make_network

#: the issue's target for a round when nothing is new
TARGET_PER_AUTHOR = 48
TARGET_FIXED = 1024


def machine() -> str:
    """This machine, for every section: CPU, cores, memory, Python, load when measured."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except OSError:
        mem = 0.0
    load = os.getloadavg()[0]
    return (
        f"Machine: {platform.machine()}{f' ({model})' if model else ''}, "
        f"{os.cpu_count()} cores, {mem:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average {load:.1f} when started "
        "(the machine is shared)."
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def round_with(a: Member, url: str) -> sync.Stats:
    """One round by ``a`` against ``url`` on a new client session (a new connection)."""
    service = sync.Sync(a.node, a.keys)
    async with sync.client_session(service) as session:
        return await sync.sync_with(service, session, url)


def reports(n: int, start: int = 0, body: int = 900) -> list[tuple[str, object]]:
    spec = POSTABLE["report"]
    return [
        ("report", spec.build({"title": f"r{i}", "body": "x" * body}))
        for i in range(start, start + n)
    ]


# --- full transfer and gap --------------------------------------------------------------


async def transfer(events: int) -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        la, sv, _, _ = members = make_network(
            Path(tmp), ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]
        )
        try:
            for start in range(0, events, 2000):
                la.node.post(la.keys, reports(min(2000, events - start), start))  # type: ignore[arg-type]
            for m in members[1:]:  # every member has written: four authors
                m.post(f"from {m.name}")
                la.node.ingest([e.raw for e in m.node.store.events() if e.author == m.keys.node_id])
            await la.start()
            size = sum(len(e.raw) for e in la.node.store.events()) / la.node.store.count()
            rss_before = _rss_mib()
            started = time.perf_counter()
            stats = await round_with(sv, la.url)
            took = time.perf_counter() - started
            lines.append(
                f"| full transfer, {stats.received:,} events of {size:.0f} B | {took:.2f} s | "
                f"{stats.received / took:,.0f} events/s | "
                f"{stats.bytes_received / 2**20:.1f} MiB in |"
            )
            lines.append(
                f"| peak memory growth of the process during it | | | "
                f"{_rss_mib() - rss_before:.0f} MiB |"
            )
            la.node.post(la.keys, reports(100, events))  # type: ignore[arg-type]
            started = time.perf_counter()
            stats = await round_with(sv, la.url)
            took = time.perf_counter() - started
            lines.append(
                f"| a gap of 100 events | {took * 1000:.0f} ms | {stats.received} received | "
                f"{stats.bytes_received / 1024:.0f} KiB in "
                f"({stats.bytes_received / 100:.0f} B per event) |"
            )
        finally:
            for m in members:
                await m.stop()
            close_all(members)
    return lines


# --- the in-sync round -------------------------------------------------------------------


def network_of(base: Path, authors: int) -> tuple[Member, Member]:
    """Two nodes holding the same log of ``authors`` authors: LA (the founder), SV (a
    member), and ``authors - 2`` more members (keys only) with one report each."""
    la, sv = make_network(base, ["Los Angeles", "San Salvador"])
    sv.post("from San Salvador")
    la.node.ingest([e.raw for e in sv.node.store.events() if e.author == sv.keys.node_id])
    for n in range(authors - 2):
        keys = NodeKeys.generate()
        card = Card(f"Collective {n}", keys.node_id, keys.sealing_public).sign(keys.signing)
        network.admit(la.node, la.keys, card.to_text(), False)
        la.node.post(keys, reports(1, n, body=200))  # type: ignore[arg-type]
    sv.node.ingest([e.raw for e in la.node.store.events()])
    assert len(la.node.store.heads()) == len(sv.node.store.heads()) == authors
    return la, sv


def hello_entry_size(la: Member) -> tuple[int, float]:
    """A hello's bytes, and its bytes per author (from the encoded frontier)."""
    hello = proto.frame(proto.HELLO, sync.Sync(la.node, la.keys).hello().encode())
    empty = proto.frame(
        proto.HELLO, proto.Hello(la.node.network, Frontier({}), frozenset()).encode()
    )
    authors = len(la.node.store.heads())
    return len(hello), (len(hello) - len(empty)) / authors


async def in_sync(authors: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        la, sv = network_of(Path(tmp), authors)
        try:
            daemon = await la.start()
            served: Counter[str] = Counter()
            before = daemon.server.on_served

            def count(peer: bytes, route: str, stats: object, error: str = "") -> None:
                served[route] += 1
                if before is not None:
                    before(peer, route, stats, error)  # type: ignore[arg-type]

            daemon.server.on_served = count
            relay = Relay("127.0.0.1", daemon.port)
            port = await relay.start()
            url = f"https://127.0.0.1:{port}"
            await round_with(sv, url)  # warm both ends (contexts, caches)
            times, up, down, requests = [], [], [], []
            stats = sync.Stats()
            for _ in range(rounds):
                relay.reset_counts()
                served.clear()
                started = time.perf_counter()
                stats = await round_with(sv, url)
                times.append(time.perf_counter() - started)
                assert stats.received == stats.sent == 0
                up.append(relay.bytes_up)
                down.append(relay.bytes_down)
                requests.append(sum(served.values()))
            # a kept connection: the second round of one session
            service = sync.Sync(sv.node, sv.keys)
            kept_up, kept_down = [], []
            async with sync.client_session(service) as session:
                await sync.sync_with(service, session, url)
                for _ in range(rounds):
                    relay.reset_counts()
                    await sync.sync_with(service, session, url)
                    kept_up.append(relay.bytes_up)
                    kept_down.append(relay.bytes_down)
            connections = relay.connections
            await relay.close()
            hello, per_author = hello_entry_size(la)
            started = time.perf_counter()
            trusted_certificates(sv.node)
            certs = time.perf_counter() - started
            return {
                "authors": authors,
                "ms": statistics.median(times) * 1000,
                "requests": statistics.median(requests),
                "body_out": stats.bytes_sent,
                "body_in": stats.bytes_received,
                "hello": hello,
                "per_author": per_author,
                "tcp_up": statistics.median(up),
                "tcp_down": statistics.median(down),
                "kept_up": statistics.median(kept_up),
                "kept_down": statistics.median(kept_down),
                "connections": connections,
                "certs_ms": certs * 1000,
            }
        finally:
            await la.stop()
            close_all([la, sv])


def in_sync_report(results: list[dict[str, float]], rounds: int) -> str:
    rows = []
    for r in results:
        n = r["authors"]
        bound = TARGET_PER_AUTHOR * n + TARGET_FIXED
        body = r["body_out"] + r["body_in"]
        kept = r["kept_up"] + r["kept_down"]
        new = r["tcp_up"] + r["tcp_down"]
        rows.append(
            f"| {n:.0f} | {r['requests']:.0f} | {r['ms']:.1f} ms | "
            f"{r['body_out']:,.0f} + {r['body_in']:,.0f} = {body:,.0f} B ({body / bound:.0%}) | "
            f"{r['kept_up']:,.0f} + {r['kept_down']:,.0f} = {kept:,.0f} B ({kept / bound:.0%}) | "
            f"{r['tcp_up']:,.0f} + {r['tcp_down']:,.0f} = {new:,.0f} B ({new / bound:.0%}) | "
            f"{bound:,.0f} B |"
        )
    big, small = results[-1], results[0]
    slope_body = (big["body_out"] + big["body_in"] - small["body_out"] - small["body_in"]) / (
        big["authors"] - small["authors"]
    )
    slope_kept = (big["kept_up"] + big["kept_down"] - small["kept_up"] - small["kept_down"]) / (
        big["authors"] - small["authors"]
    )
    fixed_kept = small["kept_up"] + small["kept_down"] - slope_kept * small["authors"]
    handshake = (small["tcp_up"] + small["tcp_down"]) - (small["kept_up"] + small["kept_down"])
    met = all(
        r["requests"] == 1
        and r["kept_up"] + r["kept_down"] <= TARGET_PER_AUTHOR * r["authors"] + TARGET_FIXED
        for r in results
    )
    per = big["per_author"]
    return "\n".join(
        [
            "What a sync round costs when the two nodes already hold the same events: one "
            "node calls the other, which holds the same log of N authors. Medians of "
            f"{rounds} rounds. Round trips are HTTP requests (a round is a pull, POST /sync, "
            "and a push, POST /push, only when the other side lacks something: here never). "
            "Bytes are client to server + server to client; in brackets, against the "
            "target of 48 B per author + 1 KiB.",
            "",
            "| authors | requests | time | sync bodies (frames) | TCP, kept connection "
            "| TCP, new connection (TLS handshake included) | target |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"**Target: {'met' if met else 'not met'}.** One round trip, yes. The bytes "
            f"grow by {slope_body:.0f} B per author in the bodies and {slope_kept:.0f} B per "
            f"author on the wire, on top of about {fixed_kept:,.0f} B fixed on a kept "
            f"connection; a new connection adds about {handshake:,.0f} B of TLS 1.3 "
            "handshake (two certificates, mutual authentication).",
            "",
            "Where the bytes go. Each side sends its whole frontier in its hello "
            "(protocol/sync.py `Hello`, protocol/frontier.py): one entry per author, "
            "`[author, seq, head]` in msgpack, a 32-byte node id and a 32-byte event id "
            "in `bin 8` (2 bytes of header each), the seq (1 to 9 bytes) and the array "
            f"header: {per:.1f} B per author here. Both sides send one, so an in-sync round "
            f"costs about {2 * per:.0f} B per author before TLS framing, three times the "
            "target. The fixed part is the HTTP request and response headers (aiohttp's "
            "defaults, chunked encoding), the hello's network id and the end frame, and the "
            "TLS records' own overhead.",
            "",
            "Proposed change (not made here: it changes the wire protocol, docs/PROTOCOL.md "
            "§10): a digest-first hello. The client sends H(frontier), a 32-byte hash of "
            "its sorted frontier, with its frontier entries; the server compares it with "
            "the hash of its own frontier and, when they are equal, answers with that hash "
            "only, not its frontier (and no events). That halves the per-author cost at "
            "once (the answer becomes constant). To get under 48 B per author, the client "
            "also remembers, per peer, the last frontier hash both agreed on and sends "
            "only that hash and the entries changed since (none when nothing is new); a "
            "server that does not recognise the hash answers `send all`, and the client "
            "sends its full hello in a second request, a second round trip only after a "
            "change or a restart. An in-sync round is then about 2 × 40 B of body "
            "whatever the number of authors. Cutting the head id to 16 bytes would save "
            "16 B per author but weakens fork detection at the head (a member grinding "
            "two events whose ids share a 16-byte prefix needs about 2^64 work), so it is "
            "not proposed.",
            "",
            f"The round's time grows with the authors too ({big['ms']:,.0f} ms at "
            f"{big['authors']:.0f}, against {small['ms']:.0f} ms at {small['authors']:.0f}). "
            "Most of it is not sync: node/peers.py `trusted_certificates` rebuilds every "
            "member's TLS certificate (sign and verify, about a millisecond each) each "
            f"time it is called ({big['certs_ms']:,.0f} ms once at {big['authors']:.0f} "
            "members, measured in this run), and a round on a new session calls it three "
            "times: the client's TLS context, and `Sync.identify` on both ends (a profile "
            "at 300 authors: 1.02 s of 1.37 s). Caching the pinned certificates and their "
            "DER by membership, as `Sync.context` already caches its contexts, would leave "
            "the round's cost to the hellos.",
            "",
            "A node that serves keeps no connection between periodic rounds: the server "
            "closes an idle connection after 30 s (node/sync.py `keepalive_timeout`) and "
            "rounds come every 60 s by default, so each periodic round pays the handshake "
            "(the `new connection` column). A keep-alive longer than the interval, or TLS "
            "session resumption, would bring it to the `kept connection` column.",
        ]
    )


async def main(events: int, rounds: int) -> tuple[list[str], list[dict[str, float]]]:
    lines = await transfer(events)
    results = [await in_sync(n, rounds) for n in (4, 50, 500)]
    return lines, results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    where = machine()
    rows, results = asyncio.run(main(count, runs))
    body = [
        where,
        "Real nodes on 127.0.0.1 with mutual TLS 1.3, each with its own SQLite file "
        "(WAL, synchronous=FULL), in one process.",
        "",
        "| what | time | rate | bytes |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "The in-sync round is in its own section below; live latency along a line is in "
        '"Latency along a line".',
        "",
        f"Reproduce: `.venv/bin/python -m bench.sync_bench {count} {runs}`.",
    ]
    print("\n".join(body))
    write_section("Sync", "\n".join(body))
    insync = "\n".join(
        [
            where,
            "",
            in_sync_report(results, runs),
            "",
            f"Reproduce: `.venv/bin/python -m bench.sync_bench {count} {runs}`.",
        ]
    )
    print(insync)
    write_section("In-sync round", insync)
