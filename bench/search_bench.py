"""A search as the log grows: the web view's search pages at 10,000, 100,000 and
1,000,000 events, each asked afresh (nothing kept from an earlier request).

    .venv/bin/python -m bench.search_bench [EVENTS ...]
    .venv/bin/python -m bench.search_bench --stores DIR ...

Each size is a node filled as bench/web_bench.py fills it (reports in four languages,
plans, meetings, shifts, sealed contacts; ``fill``); ``--stores`` takes folders filled
so before (``webprobe build``-style: the members' folders and a ``pages.json`` of the
bench's pages) instead of filling new ones, as a 1,000,000-event fill takes a quarter of
an hour. Each search page of web_bench is read through the web view's reader
(``Reader.items_page``) six times, its kept pages and counts dropped before each
(SQLite's page cache stays warm): the median of the last five.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from bench import web_bench
from bench.report import write_section
from bench.sync_bench import machine
from node.home import Home
from node.service import Node
from node.web.data import Reader
from node.web.lists import Filters
from protocol.kinds import POSTABLE
from tests.net import close_all, make_network

TODAY = "2026-12-08"


def build(where: Path, events: int) -> None:
    """A node of ``events`` events as the web bench fills it, and its pages."""
    where.mkdir(parents=True)
    la, sv = members = make_network(where, ["Los Angeles", "San Salvador"], roomy=True)
    try:
        filled = web_bench.fill(la, sv, events)
        asked = web_bench.pages(la.node, filled)
    finally:
        close_all(members)
    (where / "pages.json").write_text(json.dumps(asked))


def measure(where: Path) -> tuple[int, list[tuple[str, float, int]]]:
    """Events stored, and per search page: median ms asked afresh, matches."""
    asked = json.loads((where / "pages.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        copy = Path(tmp) / "node"
        shutil.copytree(where, copy)  # the code under test may bring the store up to date
        home = Home(copy / "los-angeles")
        home.unlock(None)
        with Node.open(home) as node:
            stored = node.store.count()
            reader = Reader(node)
            try:
                for name, path in asked:
                    if not name.startswith("search"):
                        continue
                    query = parse_qs(urlparse(path).query)
                    filters = Filters(q=query["q"][0], page=int(query.get("page", ["1"])[0]))
                    times = []
                    for _ in range(6):
                        reader._searched.clear()  # asked afresh
                        reader._counted.clear()
                        started = time.perf_counter()
                        page = reader.items_page(POSTABLE["report"], filters, TODAY)
                        times.append(time.perf_counter() - started)
                    rows.append((name, statistics.median(times[1:]) * 1000, page.total))
                    print(f"{stored:,} events, {name}: {rows[-1][1]:.1f} ms", flush=True)
            finally:
                reader.close()
    return stored, rows


def main() -> None:
    args = sys.argv[1:]
    results = []
    if args[:1] == ["--stores"]:
        for folder in args[1:]:
            results.append(measure(Path(folder)))
    else:
        sizes = [int(a) for a in args] or [10_000, 100_000]
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            for size in sizes:
                where = Path(tmp) / f"web-{size}"
                build(where, size)
                results.append(measure(where))
    names = [name for name, _, _ in results[0][1]]
    head = " | ".join(f"{stored:,} events" for stored, _ in results)
    lines = []
    for i, name in enumerate(names):
        cells = " | ".join(f"{rows[i][1]:.1f} ms ({rows[i][2]:,})" for _, rows in results)
        lines.append(f"| {name} | {cells} |")
    body = "\n".join(
        [
            machine(),
            "",
            "The web view's search pages (bench/web_bench.py's, the same log at each size) "
            "read through its reader, asked afresh each time (a search's pages and counts "
            "are kept until the store changes: dropped here before each), SQLite's pages "
            "warm; median of five, in brackets the matches.",
            "",
            f"| search | {head} |",
            "| --- | " + " | ".join("---" for _ in results) + " |",
            *lines,
            "",
            "A search costs what it finds, not what the log holds: one report found, or "
            "none, costs about the same at every size (the index is read from the word's "
            "entry, not from every item). A word found in a share of the log costs in "
            "proportion to its matches, which FTS5 reads one by one to count them (it "
            "keeps no count of a word), and a page far from both ends of the list steps "
            "over half of them. Next step for those: the count of a word read from "
            "FTS5's own statistics where they are exact, and rows of the index numbered "
            "in the lists' order so that a middle page is an offset inside FTS5.",
            "",
            "Reproduce: `.venv/bin/python -m bench.search_bench 10000 100000 1000000` "
            "(filling 1,000,000 events takes a quarter of an hour or more here).",
        ]
    )
    print(body)
    write_section("Search as the log grows", body)


if __name__ == "__main__":
    main()
