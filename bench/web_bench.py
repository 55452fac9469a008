"""The web view with a large log: p50 and p95 of each page over real HTTP.

A node holding EVENTS events (mostly reports, some plans and sealed contacts) serves
its web view (node.web.start_web, as ``serve --web`` does) on 127.0.0.1; an aiohttp
client asks for each page REQUESTS times, one request at a time, each read whole:

    .venv/bin/python -m bench.web_bench [EVENTS] [REQUESTS]

The bound measured in the same run: a static file from the same server (/static/…),
the cost of aiohttp and the middlewares alone, so each page reads as that plus its own
work.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.latency_bench import p95
from bench.report import write_section
from bench.sync_bench import machine
from node import private
from node.servelock import WEB_ADDRESS_FILE
from node.web import start_web
from protocol.kinds import POSTABLE
from tests.net import close_all, make_network

BATCH = 2000


def fill(la, sv, events: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """``events`` events on LA: 1 % sealed contacts (half to SV too), 4 % plans, the
    rest reports; each member's log shared with the other."""
    report, plan, contact = POSTABLE["report"], POSTABLE["plan"], POSTABLE["contact"]
    counts = {"contacts": events // 100, "plans": events * 4 // 100}
    counts["reports"] = events - counts["contacts"] - counts["plans"] - la.node.store.count()
    statuses = ["open", "doing", "done"]
    for start in range(0, counts["plans"], BATCH):
        items = []
        for i in range(start, min(counts["plans"], start + BATCH)):
            fields = {
                "title": f"Plan {i}",
                "owner": f"owner {i % 40}",
                "due": f"20{25 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "status": statuses[i % 3],
            }
            items.append(("plan", plan.build(fields)))
        la.node.post(la.keys, items)
    for i in range(counts["contacts"]):
        fields = contact.build({"name": f"Contact {i}", "phone": f"+27 82 555 {i:04d}"})
        to = [sv.keys.node_id.hex()] if i % 2 else []
        readers = private.recipients(la.node, la.keys, to)
        la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", fields, readers)])
    for start in range(0, counts["reports"], BATCH):
        la.node.post(
            la.keys,
            [
                ("report", report.build({"title": f"Report {i}", "body": "x" * 200}))
                for i in range(start, min(counts["reports"], start + BATCH))
            ],
        )
    sv.post("from San Salvador")
    la.node.ingest([e.raw for e in sv.node.store.events() if e.author == sv.keys.node_id])
    return counts


async def main(events: int, requests: int) -> tuple[list[tuple[str, str, float, float, int]], int]:
    with tempfile.TemporaryDirectory() as tmp:
        la, sv = members = make_network(Path(tmp), ["Los Angeles", "San Salvador"], roomy=True)
        try:
            counts = fill(la, sv, events)
            stored = la.node.store.count()
            last_reports = max(1, counts["reports"] // 50)
            some = next(iter(la.node.store.events())).id.hex()
            pages = [
                ("static file (the bound)", "/static/style.css"),
                ("overview", "/"),
                ("reports", "/reports"),
                (f"reports, last page ({last_reports:,})", f"/reports?page={last_reports}"),
                ("search, one hit", f"/reports?q=report+{counts['reports'] - 1}"),
                ("search, every report", "/reports?q=report"),
                ("plans", "/plans"),
                ("plans, overdue", "/plans?overdue=1"),
                ("contacts", "/contacts"),
                ("events", "/events"),
                ("events, last page", f"/events?page={max(1, stored // 50)}"),
                ("one event", f"/event/{some}"),  # shown as /event/ID
                ("activity", "/activity"),
                ("metrics", "/metrics"),
                ("healthz", "/healthz"),
            ]
            runner, port = await start_web(la.node, la.keys, host="127.0.0.1", port=0)
            rows = []
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}", cookie_jar=jar
            ) as session:
                # in as the owner: the address with its one-time token, visited once
                address = (la.home.path / WEB_ADDRESS_FILE).read_text().strip()
                async with session.get(address) as landed:
                    assert landed.status == 200, landed.status
                static = await session.get("/static/style.css")
                if static.status != 200:
                    pages[0] = ("healthz as the bound", "/healthz")
                for name, path in pages:
                    times, size = [], 0
                    for n in range(requests + 1):
                        started = time.perf_counter()
                        async with session.get(path) as response:
                            body = await response.read()
                            assert response.status == 200, (path, response.status)
                        if n:  # the first warms the caches
                            times.append(time.perf_counter() - started)
                        size = len(body)
                    rows.append((name, path, statistics.median(times), p95(times), size))
                    print(f"{name}: {rows[-1][2] * 1000:.1f} ms", flush=True)
            await runner.cleanup()
        finally:
            close_all(members)
    return rows, stored


def report(rows: list[tuple[str, str, float, float, int]], stored: int, requests: int) -> str:
    bound = rows[0][2]
    table = [
        f"| {name} | `{'/event/ID' if path.startswith('/event/') else path}` "
        f"| {p50 * 1000:.1f} ms | {p_95 * 1000:.1f} ms | "
        f"{p50 / bound:.0f}× | {size / 1024:,.0f} KiB |"
        for name, path, p50, p_95, size in rows
    ]
    worst = max(rows[1:], key=lambda r: r[2])
    return "\n".join(
        [
            f"{stored:,} events stored (reports, 4 % plans, 1 % sealed contacts), "
            f"{requests} requests per page after one to warm up, one at a time, over HTTP "
            "on 127.0.0.1 to the web view as `serve --web` runs it (in the same process "
            "here, without the sync server).",
            "",
            "| page | path | p50 | p95 | p50 / bound | size |",
            "| --- | --- | --- | --- | --- | --- |",
            *table,
            "",
            "The issue sets no number here. The slowest page is "
            f"{worst[0]} ({worst[2] * 1000:.0f} ms at p50). Lists read what they show a "
            "page at a time (LIMIT), so their time is mostly the count behind the pager "
            "and the template. A search is a full scan: node/web/data.py matches "
            "`instr(web_text(state), ?)`, calling a Python function on every row of the "
            "kind, so it grows with the log (about linearly); an SQLite FTS5 index kept "
            "with the projections would make it independent of the log's size. The "
            "metrics page here has no daemon behind it (no sync rounds to show).",
        ]
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per_page = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    where = machine()
    found, total = asyncio.run(main(count, per_page))
    body = "\n".join(
        [
            where,
            "",
            report(found, total, per_page),
            "",
            f"Reproduce: `.venv/bin/python -m bench.web_bench {count} {per_page}`.",
        ]
    )
    print(body)
    write_section("Web view", body)
