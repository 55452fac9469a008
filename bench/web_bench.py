"""The web view with a large log: p50 and p95 of every page over real HTTP, on the
encrypted store a node keeps and on the same store in plaintext.

A node holding EVENTS events (mostly reports in four languages, some plans, meetings,
shifts and sealed contacts) serves its web view (node.web.start_web, as ``serve --web``
does) on 127.0.0.1; an aiohttp client, in as the owner, asks for each page REQUESTS
times, one request at a time, each read whole:

    .venv/bin/python -m bench.web_bench [EVENTS] [REQUESTS]

The log is written once, into the node's encrypted store (SQLCipher); a plaintext copy
of it (``sqlcipher_export``) is then served the same way (``Store(path, key=None)``), so
the cost of encryption on each page is read in the same run. The bound measured in
each: a static file from the same server (/static/…), the cost of aiohttp and the
middlewares alone, so each page reads as that plus its own work. The target (issue 18):
p95 under 50 ms for every page at 100,000 events, on both stores.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.latency_bench import p95
from bench.report import write_section
from bench.sync_bench import machine
from crypto.atrest import sqlcipher_key
from crypto.identity import NodeKeys
from node import private
from node.cipherdb import connect
from node.home import Home
from node.servelock import WEB_ADDRESS_FILE
from node.service import Node
from node.store import SCHEMA_VERSION, Store
from node.web import start_web
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, make_network

BATCH = 2000
#: the target of issue 18, for every page, on both stores
TARGET_MS = 50.0
STORES = ("encrypted", "plaintext")

#: sentences the reports' bodies are made of, in the network's four languages, so the
#: search index holds words as collectives write them (accents, Devanagari, Zulu)
SENTENCES = (
    "The tenants met in the courtyard and agreed to withhold the rent together.",
    "We knocked on every door of the fourth floor; most families signed the letter.",
    "The landlord's lawyer did not come, so the hearing was moved to next month.",
    "La reunión terminó tarde, pero todos se quedaron a limpiar el local.",
    "El sábado repartimos volantes en el mercado y hablamos con los vendedores.",
    "La asamblea decidió marchar hasta la alcaldía el próximo jueves.",
    "नगर निगम की बैठक में किरायेदारों ने अपनी बात रखी।",
    "हमने मोहल्ले के हर घर में पर्चे बाँटे और हस्ताक्षर इकट्ठा किए।",
    "Umhlangano womphakathi uvumelene ngokuthi siyobhala incwadi kumasipala.",
    "Ngempelasonto sihambele imindeni yonke yaseSoweto ngamapheshana.",
)


@dataclass
class Filled:
    """What :func:`fill` wrote, and the items the pages are asked about."""

    counts: dict[str, int] = field(default_factory=dict)
    plan: str = ""
    meeting: str = ""


def _body(i: int) -> str:
    return " ".join(SENTENCES[(i * 7 + k * 3) % len(SENTENCES)] for k in range(3))


def _day(offset: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def _slot_days(since: str) -> list[str]:
    """The first two days of a shift on Mondays, Wednesdays and Fridays from ``since``."""
    day = datetime.date.fromisoformat(since)
    found: list[str] = []
    while len(found) < 2:
        if day.weekday() in (0, 2, 4):
            found.append(day.isoformat())
        day += datetime.timedelta(days=1)
    return found


def _post_items(la: Member, kind: str, values: list[dict[str, str]]) -> list[bytes]:
    spec = POSTABLE[kind]
    ids = []
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        made = la.node.post(la.keys, [(kind, spec.build(v)) for v in chunk])
        ids += [e.id for e in made]
    return ids


def fill(la: Member, sv: Member, events: int) -> Filled:
    """``events`` events on LA: 1 % sealed contacts (half to SV too), 4 % plans (due
    from 200 days ago to 200 days ahead), 0.5 % meetings (half with minutes), 0.2 %
    shifts (each with two people on a slot), the rest reports; each member's log shared
    with the other. A log this long is years of a network's work: its meetings and
    shifts began over the last two years (the last ones this week) and each ran for
    twelve weeks, as a campaign does, so that a week holds about as many as a network
    runs at once; every plan stays on the calendar."""
    counts = {
        "contacts": events // 100,
        "plans": events * 4 // 100,
        "meetings": events // 200,
        "shifts": events // 500,
    }
    held = la.node.store.count()
    spent = held + counts["contacts"] + counts["plans"] + counts["meetings"] * 3 // 2
    counts["reports"] = events - spent - counts["shifts"] * 3
    filled = Filled(counts)
    statuses = ["open", "doing", "done"]
    plans = [
        {
            "title": f"Plan {i}",
            "owner": f"owner {i % 40}",
            "due": _day(i % 400 - 200),
            "status": statuses[i % 3],
        }
        for i in range(counts["plans"])
    ]
    filled.plan = _post_items(la, "plan", plans)[-1].hex()
    meetings = [
        {
            "title": f"Asamblea {i}",
            "when": f"{_day(-(i * 730 // max(1, counts['meetings'])))} {8 + i % 12:02d}:00",
            "zone": ("America/Los_Angeles", "America/El_Salvador", "Asia/Kolkata")[i % 3],
            "repeat": ("weekly", "monthly", "none")[i % 3],
            "place": f"Local {i % 17}",
            "agenda": SENTENCES[i % len(SENTENCES)],
            # a series runs for twelve weeks
            **({"until": _day(84 - i * 730 // max(1, counts["meetings"]))} if i % 3 < 2 else {}),
        }
        for i in range(counts["meetings"])
    ]
    meeting_ids = _post_items(la, "meeting", meetings)
    spec = POSTABLE["meeting"]
    updates = []
    for i, meeting in enumerate(meeting_ids[::2]):
        record = {"minutes": _body(i), "attended": "Maria\nDaniel", "guests": "2"}
        payload = spec.build_occurrence(record, _day(-7))
        updates.append(("meeting.update", {"v": 1, "of": meeting, "after": 0, **payload}))
    for start in range(0, len(updates), BATCH):
        la.node.post(la.keys, updates[start : start + BATCH])
    filled.meeting = meeting_ids[0].hex()
    shifts = [
        {
            "title": f"Turno {i}",
            "place": f"Puerta {i % 9}",
            "weekdays": "mon,wed,fri",
            "start": "05:30",
            "end": "07:00",
            "zone": "America/El_Salvador",
            "since": _day(-(i * 730 // max(1, counts["shifts"]))),
            "until": _day(84 - i * 730 // max(1, counts["shifts"])),
            "needed": "2",
        }
        for i in range(counts["shifts"])
    ]
    takes = [
        ("shift.take", {"v": 1, "of": shift, "date": day, "who": who})
        for shift, values in zip(_post_items(la, "shift", shifts), shifts, strict=True)
        for day, who in zip(_slot_days(values["since"]), ("Luis", "Marta"), strict=True)
    ]
    for start in range(0, len(takes), BATCH):
        la.node.post(la.keys, takes[start : start + BATCH])
    contact = POSTABLE["contact"]
    for i in range(counts["contacts"]):
        fields = contact.build({"name": f"Contact {i}", "phone": f"+27 82 555 {i:04d}"})
        to = [sv.keys.node_id.hex()] if i % 2 else []
        readers = private.recipients(la.node, la.keys, to)
        la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", fields, readers)])
    reports = [{"title": f"Report {i}", "body": _body(i)} for i in range(counts["reports"])]
    _post_items(la, "report", reports)
    sv.post("from San Salvador")
    la.node.ingest([e.raw for e in sv.node.store.events() if e.author == sv.keys.node_id])
    return filled


def plaintext_copy(home: Home, target: Path) -> None:
    """The node's encrypted store, copied into a plaintext SQLite file at ``target``."""
    conn = connect(home.store_path, sqlcipher_key(home.store_key), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(target),))
        conn.execute("SELECT sqlcipher_export('plain')")
        conn.execute(f"PRAGMA plain.user_version = {SCHEMA_VERSION}")
        conn.execute("DETACH DATABASE plain")
    finally:
        conn.close()


def pages(node: Node, filled: Filled) -> list[tuple[str, str]]:
    counts = filled.counts
    stored = node.store.count()
    last_reports = max(1, counts["reports"] // 50)
    some = next(iter(node.store.events())).id.hex()
    return [
        ("static file (the bound)", "/static/style.css"),
        ("overview", "/"),
        ("reports", "/reports"),
        (f"reports, last page ({last_reports:,})", f"/reports?page={last_reports}"),
        ("search, one hit", f"/reports?q=report+{counts['reports'] - 1}"),
        ("search, a word in a tenth", "/reports?q=reuni%C3%B3n"),
        ("search, Hindi word", "/reports?q=%E0%A4%AC%E0%A5%88%E0%A4%A0%E0%A4%95"),
        ("search, every report", "/reports?q=report"),
        ("search, every report, last page", f"/reports?q=report&page={last_reports}"),
        (
            "search, every report, middle page",
            f"/reports?q=report&page={max(1, last_reports // 2)}",
        ),
        ("search, no hit", "/reports?q=zzzzzz"),
        ("plans", "/plans"),
        ("plans, overdue", "/plans?overdue=1"),
        ("plans, by due date", "/plans?sort=due"),
        ("meetings", "/meetings"),
        ("shifts", "/shifts"),
        ("contacts", "/contacts"),
        ("calendar, week", "/calendar"),
        ("calendar, month", "/calendar?view=month"),
        ("calendar feed", "/calendar.ics"),
        ("events", "/events"),
        ("events, last page", f"/events?page={max(1, stored // 50)}"),
        ("one event", f"/event/{some}"),  # shown as /event/ID
        ("a plan's page", f"/event/{filled.plan}"),
        ("a meeting's page", f"/event/{filled.meeting}"),
        ("activity", "/activity"),
        ("metrics", "/metrics"),
        ("healthz", "/healthz"),
    ]


#: (name, path, p50, p95, size, the first request's time: the caches cold)
Row = tuple[str, str, float, float, int, float]


async def measure(
    node: Node, keys: NodeKeys, asked: list[tuple[str, str]], requests: int
) -> list[Row]:
    """Each page ``requests`` times (after one to warm up) from ``node``'s web view."""
    runner, port = await start_web(node, keys, host="127.0.0.1", port=0)
    rows = []
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}", cookie_jar=jar
        ) as session:
            # in as the owner: the address with its one-time token, visited once
            address = (node.home.path / WEB_ADDRESS_FILE).read_text().strip()
            async with session.get(address) as landed:
                assert landed.status == 200, landed.status
            for name, path in asked:
                times, size = [], 0
                for _ in range(requests + 1):
                    started = time.perf_counter()
                    async with session.get(path) as response:
                        body = await response.read()
                        assert response.status == 200, (path, response.status)
                    times.append(time.perf_counter() - started)
                    size = len(body)
                first, times = times[0], times[1:]  # the first warms the caches
                rows.append((name, path, statistics.median(times), p95(times), size, first))
                print(f"{name}: {rows[-1][2] * 1000:.1f} / {rows[-1][3] * 1000:.1f} ms", flush=True)
    finally:
        await runner.cleanup()
    return rows


async def main(events: int, requests: int) -> tuple[dict[str, list[Row]], int, list[float]]:
    """Fill, then measure each store; the rows per store, the events stored, and the
    load average before each store's run and at the end."""
    found: dict[str, list[Row]] = {}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        la, sv = members = make_network(Path(tmp), ["Los Angeles", "San Salvador"], roomy=True)
        try:
            filled = fill(la, sv, events)
            stored = la.node.store.count()
            asked = pages(la.node, filled)
        finally:
            close_all(members)
        plain = la.home.path / "plain.sqlite"
        plaintext_copy(la.home, plain)
        for kind in STORES:
            loads.append(os.getloadavg()[0])
            key = la.home.store_key if kind == "encrypted" else None
            path = la.home.store_path if kind == "encrypted" else plain
            print(f"-- {kind} store", flush=True)
            with Node(la.home, Store(path, key)) as node:
                found[kind] = await measure(node, la.keys, asked, requests)
        loads.append(os.getloadavg()[0])
    return found, stored, loads


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


#: why a page may miss the target, and the next step, as measured and profiled (said
#: under the table for each page over it)
WHY = {
    "search, every report": (
        "a word in every one of the 93,600 reports. A page asked again is served as "
        "read (node/web/data.py keeps a search's pages and counts until the store "
        "changes: the requests after the first), so what is left is drawing 50 reports, "
        "as the plain list does. The first request counts the matches (FTS5 reads each "
        "one: 20 to 35 ms here) and walks the list from its newest end through the "
        "newest 501 matches, read once. Next step: none for the count (FTS5 keeps no "
        "count of a word); the first request is at that count's cost"
    ),
    "search, every report, last page": (
        "as the search for every report (served as read when asked again; a first "
        "request counts the matches unless another page of the same search did, and "
        "walks the list from its oldest end)"
    ),
    "search, every report, middle page": (
        "served as read when asked again. The first request (110 to 170 ms here) counts "
        "the 93,600 matches, then leaps to the middle of the list in 23 steps of 2,048 "
        "items, each counted by the index over its range of rowids (an index read of "
        "the step and a count each: about 4 ms a step here), then walks to the page. "
        "Next step: rows of the index numbered in the lists' order (by the item's time, "
        "moved when an item's time changes), so that the page is an offset inside FTS5; "
        "a first request would still read every match to count them"
    ),
    "shifts": (
        "the page shows 200 slots of the coming four weeks and 50 shifts in a table of 8 "
        "columns: both tables' rows are written in Python (View.slot_rows, "
        "View.table_rows), a shift's slot times kept per values and range; what is left "
        "is the slots of the 200 shifts (at most the 500 latest) gathered and sorted "
        "(about 4 ms), the list's order by title read from each shift (2 ms) and "
        "writing the 109 KiB. "
        "Next step: the slots of the coming weeks kept with the items"
    ),
    "calendar, week": (
        "the store narrows 4,700 plans, meetings and shifts to the few the week can hold "
        "by a test of each one's dates in Python (a few µs an item, more when the item "
        "is not decoded yet), then the entries are worked out and drawn. Next step: the "
        "items' date ranges kept in a table beside the items, so that the store finds "
        "them by an index"
    ),
    "calendar, month": (
        "the month draws its five weeks' entries (about 700 slots, meetings and plans' "
        "due dates in this log, a page of 229 KiB), each by a Jinja2 macro, after the "
        "store has narrowed 4,700 plans, meetings and shifts to those the month can "
        "hold by a test of each one's dates in Python. Next step: the entries drawn "
        "without a macro call each, and the items' date ranges kept in a table beside "
        "the items, so that the store finds them by an index"
    ),
    "calendar feed": (
        "written by the iCalendar library, about 0.2 ms an entry, once for each state "
        "of the log and each day (the first request); asked again, it is served as "
        "written. Next step: writing it off the event loop"
    ),
    "meetings": (
        "ordered by each meeting's next date, worked out in Python for each of the 500 "
        "meetings (dateutil's rrule) on the first request of a day and kept after; a "
        "page reads them one call an item (about 3 ms). Next step: the next date kept "
        "with the item and recomputed only for those whose date has passed"
    ),
}


#: the same bench on the same kind of log before issue 18's work on the web view
#: (commit 8683e44's parent, schema 3), measured on this machine under load 3 to 4
BEFORE = (
    "Before this work (the same bench and log, the code before the search index, load "
    "3 to 4; encrypted p50 / p95): overview 268 / 291 ms, last page of reports 358 / "
    "462 ms, search with one hit 1,482 / 2,634 ms, a word in a tenth 1,961 / 3,149 ms, "
    "every report 2,614 / 3,322 ms, no hit 2,372 / 2,943 ms, plans by due date 64 / "
    "101 ms, meetings 178 / 220 ms, shifts 74 / 153 ms, calendar week 158 / 344 ms, "
    "month 408 / 595 ms, feed 1,137 / 1,727 ms, last page of the log 284 / 352 ms, "
    "activity 479 / 580 ms."
)


def _why(name: str, found: dict[str, list[Row]]) -> str:
    """Why a page missed the target: as profiled, or, for a page not profiled, where
    its median stands (a median well under the target and a slow tail: the run's load)."""
    if name in WHY:
        return WHY[name]
    medians = [
        f"{_ms(r[2])} on the {store} store"
        for store in STORES
        for r in found[store]
        if r[0] == name
    ]
    return f"not profiled; its median is {' and '.join(medians)}"


def report(found: dict[str, list[Row]], stored: int, requests: int, loads: list[float]) -> str:
    enc, plain = found["encrypted"], found["plaintext"]
    table = []
    missed = []
    for e, p in zip(enc, plain, strict=True):
        name, path, e50, e95, size, first = e
        shown = "/event/ID" if path.startswith("/event/") else path
        worst = max(e95, p[3])
        met = "yes" if worst * 1000 < TARGET_MS else "**no**"
        if worst * 1000 >= TARGET_MS:
            missed.append(name)
        table.append(
            f"| {name} | `{shown}` | {_ms(e50)} | {_ms(e95)} | {_ms(p[2])} | {_ms(p[3])} "
            f"| {_ms(first)} | {met} | {size / 1024:,.0f} KiB |"
        )
    if missed:
        verdict = [
            f"Over {TARGET_MS:.0f} ms at p95, on either store, and why:",
            "",
            *(f"- **{name}**: {_why(name, found)}." for name in missed),
        ]
    else:
        verdict = [f"Every page's p95 is under {TARGET_MS:.0f} ms on both stores."]
    # pages kept as drawn or read until the store changes: their repeats cost little, so
    # their first request is what a page seen for the first time costs
    kept = [
        (name, first)
        for name, _, _, _, _, first in enc
        if name.startswith(("search", "calendar")) and first * 1000 >= TARGET_MS
    ]
    if kept:
        verdict += [
            "",
            "A search's pages and counts, and the calendar's pages and feed, are kept as "
            "read or drawn until the log or the items change (a sync, a post, the items "
            "catching up), so the requests after the first cost little. Seen for the first "
            f"time they cost their first request, {TARGET_MS:.0f} ms or more for: "
            + "; ".join(f"{name} ({_ms(first)})" for name, first in kept)
            + " (the first request also finds SQLite's pages cold).",
        ]
    return "\n".join(
        [
            f"{stored:,} events stored (reports in four languages, 4 % plans, 0.5 % meetings, "
            "0.2 % shifts, 1 % sealed contacts; the meetings and shifts began over two "
            "years and each ran twelve weeks), "
            f"{requests} requests per page after a first one, one at a time, over HTTP "
            "on 127.0.0.1 to the web view as `serve --web` runs it (in the same process "
            "here, without the sync server), in as the owner; the same log on the node's "
            "encrypted store, then on a plaintext copy of it. The first request of each "
            "page (on the encrypted store) is shown apart: it fills the caches (SQLite's "
            "pages, decoded items, a meeting's next date, the calendar's pages and feed "
            "and a search's pages and counts, which are kept until the store changes, so "
            "that the first request is what drawing them costs). Load average "
            + ", ".join(f"{x:.1f}" for x in loads)
            + " (before each store's run, and at the end) on 2 cores shared with other "
            "work.",
            "",
            "| page | path | encrypted p50 | encrypted p95 | plaintext p50 | plaintext p95 "
            f"| first request | p95 < {TARGET_MS:.0f} ms | size |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *table,
            "",
            *verdict,
            "",
            BEFORE,
            "",
            "What each page reads (node/web/data.py): a search asks the search index "
            "(SQLite FTS5, node/search.py) and counts there; a list's count of visible "
            "items is kept with the items (`item_counts`) and its page is found through "
            "the index of its order; the log's page by rowid; the activity's weeks from "
            "the daily budget's counts; the calendar only the items its range can hold "
            "(a day of the month shows four entries and a link to its week for the rest).",
        ]
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per_page = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    where = machine()
    results, total, load = asyncio.run(main(count, per_page))
    body = "\n".join(
        [
            where,
            "",
            report(results, total, per_page, load),
            "",
            f"Reproduce: `.venv/bin/python -m bench.web_bench {count} {per_page}`.",
        ]
    )
    print(body)
    write_section("Web view", body)
