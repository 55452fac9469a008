"""Search by the index of words (node/search.py) over real HTTP and real SQLite files:
the same items found as the substring search before it for words, in English,
Spanish, Hindi and Zulu; accents ignored; what a user types never read as query
syntax; the index kept with the items (rebuilt from the log the same, filled when a
store of schema 3 is opened, left by an erased item, never holding a private one);
and the counts and pages the lists read without reading every item."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.atrest import sqlcipher_key
from node import network, private
from node.cipherdb import connect
from node.home import Home
from node.search import ROWIDS, fold, kind_base, match_expression
from node.service import Node
from node.store import SCHEMA_VERSION, Store
from node.web import data
from node.web.data import MANY_KINDS, Reader
from node.web.lists import Filters
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, make_network
from tests.test_web_http import served
from tests.web_search import has_word, indexed_words, unsearched

TODAY = "2026-06-01"
REPORTS = {
    "es": ("Reunión de vecinas en San Salvador", "Acordamos marchar el sábado a la alcaldía."),
    "es2": ("Asamblea del mercado", "La reunion fue larga; Ana Lucía Martínez habló."),
    "hi": ("किसानों के साथ बैठक की रिपोर्ट", "बैठक में किरायेदारों ने अपनी बात रखी।"),
    "zu": ("Umhlangano nabasebenzi eThekwini", "Ngempelasonto sihambele nomhlangano."),
    "en": ("Tenants met about the rent strike", "Thandiwe Mokoena chaired; 40 households."),
    "17": ("Report 17", "…"),
    "170": ("Report 170", "…"),
    "7": ("Report 7", "…"),
    "or": ("alpha or beta", "…"),
    "near": ("gamma near delta", "…"),
    "omega": ("omega", "…"),
}
#: whole words: the index finds exactly what the substring search found
WORDS = ["alcaldía", "बैठक", "किसानों", "umhlangano", "tenants", "salvador", "strike", "40"]
HOSTILE = [
    'alpha" OR *',
    "NEAR(",
    "gamma OR omega",
    "NOT omega",
    "*",
    '"',
    '"' * 200,
    "^omega",
    "-omega",
    "omega*",
    "text:omega",
    "(omega",
    "omega)",
    'a" OR "b',
    "{omega}",
    "\\",
    "%",
    "'; DROP TABLE items; --",
]


def _post_reports(m: Member) -> dict[str, bytes]:
    spec = POSTABLE["report"]
    made = m.node.post(
        m.keys,
        [("report", spec.build({"title": t, "body": b})) for t, b in REPORTS.values()],
    )
    return {key: e.id for key, e in zip(REPORTS, made, strict=True)}


def _found(html: str) -> set[str]:
    """The ids of the items a list shows."""
    articles = re.findall(r'<article class="item[^"]*">.*?</article>', html, re.S)
    return {m for a in articles for m in re.findall(r'href="/event/([0-9a-f]{64})"', a)[:1]}


def _substring(ids: dict[str, bytes], query: str) -> set[str]:
    """What the search before the index found: the query as a substring of the item's
    text, case-folded (node/web/data.py ``web_text``)."""
    wanted = fold(query)
    return {ids[k].hex() for k, (t, b) in REPORTS.items() if wanted in fold(f"{t}\n{b}")}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    yield members
    close_all(members)


async def test_words_are_found_in_every_language_as_before(pair: list[Member]) -> None:
    la, _ = pair
    ids = _post_reports(la)
    hexes = {k: v.hex() for k, v in ids.items()}
    # a plan with the same words: another kind's list never shows it
    plan = POSTABLE["plan"].build({"title": "Reunión Tenants बैठक umhlangano"})
    la.node.post(la.keys, [("plan", plan)])
    async with served(la) as site:
        for word in WORDS:
            status, html, _ = await site.get("/reports", params={"q": word})
            assert status == 200
            assert _found(html) == _substring(ids, word) != set(), word
        expected = {
            # accents ignored both ways: "reunion" is how many type "reunión"
            "reunion": {"es", "es2"},
            "REUNIÓN": {"es", "es2"},
            "sabado": {"es"},
            "maria": set(),
            "martinez": {"es2"},
            # the start of a word: a name, a number, a Devanagari or a Zulu word
            "Thand": {"en"},
            "report 17": {"17", "170"},
            "बैठ": {"hi"},
            "umhla": {"zu"},
            "nomhlangano": {"zu"},
            # every word, anywhere, in any order
            "strike tenants": {"en"},
            "strike salvador": set(),
            # a piece from inside a word is not a word (node/search.py says why)
            "hlangano": set(),
            "union": set(),
        }
        for query, keys in expected.items():
            _, html, _ = await site.get("/reports", params={"q": query})
            assert _found(html) == {hexes[k] for k in keys}, query
        _, html, _ = await site.get("/plans", params={"q": "reunion tenants"})
        assert re.search(r"\b1 result\b", html)
        assert "Reunión Tenants" in html
        # a search with no word left is the substring search of before
        _, html, _ = await site.get("/reports", params={"q": "…"})
        assert _found(html) == _substring(ids, "…") != set()


async def test_what_a_user_types_is_never_query_syntax(pair: list[Member]) -> None:
    la, _ = pair
    ids = {k: v.hex() for k, v in _post_reports(la).items()}
    async with served(la) as site:
        found = {}
        for query in HOSTILE:
            status, html, _ = await site.get("/reports", params={"q": query})
            assert status == 200, query
            found[query] = _found(html)
    assert found['alpha" OR *'] == {ids["or"]}  # "alpha" and "or": no OR, no "*"
    assert found["NEAR("] == {ids["near"]}  # the word "near"
    assert found["gamma OR omega"] == set()  # all three words, in no item
    assert found["NOT omega"] == set()
    for query in ("^omega", "-omega", "omega*", "(omega", "omega)", "{omega}"):
        assert found[query] == {ids["omega"]}, query
    assert found['a" OR "b'] == {ids["or"]}  # a…, or…, b…: "alpha or beta"
    assert found["text:omega"] == set()  # the words "text" and "omega", not a column
    for query in ("*", '"', '"' * 200, "\\", "%"):
        assert found[query] == set(), query  # no word: as a substring, in no item
    assert found["'; DROP TABLE items; --"] == set()
    assert match_expression('a" OR *') == '"a"""* AND "or"*'
    assert match_expression('* ?! "') is None


def test_the_index_rebuilt_from_the_log_is_the_one_kept(pair: list[Member]) -> None:
    la, sv = pair
    ids = _post_reports(la)
    plans = POSTABLE["plan"]
    plan = la.node.post(la.keys, [("plan", plans.build({"title": "Pintar el mural"}))])[0]
    after = la.node.projector.item_latest("plan", plan.id)
    change = plans.build_update({"title": "Pintar el mural grande", "owner": "Rosa"})
    la.node.post(la.keys, [("plan.update", {"v": 1, "of": plan.id, "after": after, **change})])
    la.node.post(la.keys, [("report.retract", {"v": 1, "of": ids["omega"]})])
    sv.node.ingest([e.raw for e in la.node.store.events()])
    for m in pair:
        kept = indexed_words(m.node.store)
        counts = m.node.store.execute("SELECT kind, visible FROM item_counts ORDER BY kind")
        assert {w for _, item, w, _ in kept if item == plan.id} >= {"mural", "grande", "rosa"}
        assert not any(item == ids["omega"] for _, item, _, _ in kept)  # retracted
        assert counts == [("plan", 1), ("report", len(REPORTS) - 1)]
        m.node.rebuild()
        assert indexed_words(m.node.store) == kept
        assert m.node.store.execute("SELECT kind, visible FROM item_counts ORDER BY kind") == counts
        assert m.node.verify() == []
    # both nodes hold the same words for the same items, whatever their rowids
    assert indexed_words(la.node.store) == indexed_words(sv.node.store)


def test_verify_finds_an_index_out_of_step_and_rebuild_mends_it(pair: list[Member]) -> None:
    la, _ = pair
    ids = _post_reports(la)
    store = la.node.store
    base = kind_base("report")
    rowid = store.execute("SELECT rowid FROM items WHERE id = ?", (ids["en"],))[0][0]
    with store.write():
        store.execute("DELETE FROM item_text WHERE rowid = ?", (base + rowid,))
        store.execute("INSERT INTO item_text (rowid, text) VALUES (?, ?)", (base + rowid, "other"))
        store.execute("UPDATE item_counts SET visible = visible + 1 WHERE kind = 'report'")
    faults = la.node.verify()
    assert [f.code for f in faults] == ["search-index", "search-index", "search-index"]
    assert faults[0].event_id == ids["en"]
    assert "count of visible report items" in faults[-1].message
    la.node.rebuild()
    assert la.node.verify() == []


def test_a_store_of_schema_3_gets_its_index_on_first_open(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la = members[0]
    ids = _post_reports(la)
    expected = indexed_words(la.node.store)
    close_all(members)
    db = connect(la.home.store_path, sqlcipher_key(la.home.store_key), isolation_level=None)
    try:  # the encrypted store as schema 3 left it
        unsearched(db)
        db.execute("PRAGMA user_version = 3")
    finally:
        db.close()
    with Node.open(la.home) as node:
        assert int(node.store.execute("PRAGMA user_version")[0][0]) == SCHEMA_VERSION == 6
        assert indexed_words(node.store) == expected != set()
        assert node.store.execute("SELECT visible FROM item_counts WHERE kind = 'report'") == [
            (len(REPORTS),)
        ]
        assert node.verify() == []
        reader = Reader(node)
        try:
            page = reader.items_page(POSTABLE["report"], Filters(q="reunion"), TODAY)
            assert {r["id"] for r in page.rows} == {ids["es"].hex(), ids["es2"].hex()}
            assert reader.items_page(POSTABLE["report"], Filters(), TODAY).total == len(REPORTS)
        finally:
            reader.close()


def test_an_erased_item_leaves_the_index_and_the_file(tmp_path: Path) -> None:
    """On a plaintext store, so that the file's bytes can be read: after a redaction,
    the item's words are in no row of the index, and nowhere in the file."""
    home = Home(tmp_path / "la")
    _, keys = home.init("Los Angeles", None)
    path = tmp_path / "plain.sqlite"
    with Node(home, Store(path)) as node:
        network.found(node, keys, "Red")
        spec = POSTABLE["report"]
        values = {"title": "Casa segura", "body": "La zanahoria está en la calle Quetzaltepeque"}
        event = node.post(keys, [("report", spec.build(values))])[0]
        node.post(keys, [("report", spec.build({"title": "Casa abierta", "body": "…"}))])
        reader = Reader(node)
        try:
            page = reader.items_page(spec, Filters(q="zanahoria"), TODAY)
            assert [r["id"] for r in page.rows] == [event.id.hex()]
            assert has_word(node.store, "quetzaltepeque")
            network.redact(node, keys, event.id.hex())
            assert reader.items_page(spec, Filters(q="zanahoria"), TODAY).total == 0
            assert reader.items_page(spec, Filters(q="casa"), TODAY).total == 1
        finally:
            reader.close()
        for word in ("zanahoria", "quetzaltepeque", "segura"):
            assert not has_word(node.store, word)
        assert has_word(node.store, "abierta")
        assert node.verify() == []
    files = b"".join(p.read_bytes() for p in tmp_path.glob("plain.sqlite*"))
    assert b"abierta" in files  # the file is plaintext: what is left is there to read
    assert b"zanahoria" not in files
    assert b"Quetzaltepeque" not in files
    assert b"quetzaltepeque" not in files


async def test_private_items_are_searched_in_memory_and_never_indexed(
    pair: list[Member],
) -> None:
    la, _ = pair
    fields = POSTABLE["contact"].build({"name": "Thandiwe Mokoena", "phone": "+27 82 555 0147"})
    readers = private.recipients(la.node, la.keys, [])
    la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", fields, readers)])
    assert not has_word(la.node.store, "thandiwe")
    assert indexed_words(la.node.store) == set()
    async with served(la) as site:
        _, html, _ = await site.get("/contacts", params={"q": "thandiwe"})
        assert "Thandiwe Mokoena" in html
        _, html, _ = await site.get("/contacts", params={"q": "sipho"})
        assert "Thandiwe Mokoena" not in html
        for query in HOSTILE:
            status, _, _ = await site.get("/contacts", params={"q": query})
            assert status == 200


def test_each_kind_has_its_own_range_of_the_index() -> None:
    bases = {kind_base(kind) for kind in POSTABLE}
    assert len(bases) == len(POSTABLE)
    assert all(b >= ROWIDS and b + ROWIDS <= 2**63 for b in bases)
    assert kind_base("report") == kind_base("report")


def test_lists_count_and_page_as_before_without_reading_every_item(
    pair: list[Member],
) -> None:
    """The counts kept with the items, the log's pages found by rowid and the activity
    by the days of the budget: what counting and stepping over every row gave."""
    la, sv = pair
    spec = POSTABLE["report"]
    la.node.post(la.keys, [("report", spec.build({"title": f"r{i}"})) for i in range(120)])
    sv.post("from San Salvador")
    la.node.ingest([e.raw for e in sv.node.store.events()])
    reader = Reader(la.node)
    try:
        store = reader.store
        assert reader.count_items("report") == 121
        assert reader.count_items("meeting") == 0
        total = store.count()
        for number in (1, 2, total // 50, total // 50 + 1, total // 50 + 2):
            page = reader.events_page(Filters(page=number))
            offset = (number - 1) * 50
            rows = store.execute(
                "SELECT id FROM events ORDER BY rowid DESC LIMIT 50 OFFSET ?", (offset,)
            )
            assert [e.id for e in page.rows] == [bytes(r[0]) for r in rows]
            assert page.total == total
        weeks = store.execute(
            "SELECT author, ((ts >> 16) / 86400000 + 3) / 7 AS w, count(*) FROM events "
            "GROUP BY author, w"
        )
        assert reader.weekly(0) == {(bytes(a), int(w)): int(n) for a, w, n in weeks}
        assert sorted(reader.kinds()) == sorted(
            str(r[0]) for r in store.execute("SELECT DISTINCT kind FROM events")
        )
        last = reader.items_page(spec, Filters(page=3), TODAY)
        assert [r["title"] for r in last.rows] == [f"r{i}" for i in range(20, -1, -1)]
        # events of kinds this version does not know: found on the kind index, or, when
        # a peer wrote more kinds than a query takes at once, by reading every event
        counts = la.node.projector.counts
        assert reader.unknown(counts) == 0
        la.node.post(la.keys, [(f"poll.v{i}", {"v": 1}) for i in range(3)])
        assert reader.unknown(counts) == 3
        la.node.post(la.keys, [(f"poll.w{i}", {"v": 1}) for i in range(MANY_KINDS)])
        assert reader.unknown(counts) == MANY_KINDS + 3 == len(la.node.projector.unknown())
    finally:
        reader.close()


def test_a_search_finding_many_walks_the_list_from_the_nearer_end_and_pages_as_before(
    pair: list[Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word in 700 reports: its pages near either end are read by walking the list
    from that end a chunk at a time (node/web/data.py ``Reader._walk``); each page, its
    order (ties in time included) and its count are what gathering every match and
    sorting them gives. Items whose rowids spread too far make the walk give up, for
    the same pages."""
    la, sv = pair
    spec = POSTABLE["report"]
    # both clocks stopped at the same instant: LA's and SV's reports get the same
    # times, one for one (ties that the list breaks by id)
    la.node.clock = sv.node.clock = lambda: 1_900_000_000.0
    words = ["otra cosa" if i % 3 == 0 else "asamblea" for i in range(600)]
    la.node.post(la.keys, [("report", spec.build({"title": f"la {w}"})) for w in words])
    sv.node.post(
        sv.keys, [("report", spec.build({"title": f"sv asamblea {i}"})) for i in range(300)]
    )
    la.node.ingest([e.raw for e in sv.node.store.events()])
    times = [r[0] for r in la.node.store.execute("SELECT ts FROM items WHERE kind = 'report'")]
    assert len(set(times)) == 600 < len(times)  # 300 ties
    walks = []
    walk = Reader._walk

    def counted(self: Reader, *args: Any, **kwargs: Any) -> list[int] | None:
        found = walk(self, *args, **kwargs)
        walks.append(found is not None)
        return found

    monkeypatch.setattr(Reader, "_walk", counted)

    def pages() -> list[tuple[list[str], int]]:
        """Each page as a new reader reads it (a reader keeps the pages it read)."""
        found = []
        reader = Reader(la.node)
        try:
            for number in range(1, 17):
                page = reader.items_page(spec, Filters(q="asamblea", page=number), TODAY)
                found.append(([str(r["id"]) for r in page.rows], page.total))
        finally:
            reader.close()
        return found

    walked = pages()
    assert walks == [True] * 14  # 700 matches: 14 pages walked, 15 and 16 past the end
    assert all(total == 700 for _, total in walked)
    assert [len(ids) for ids, _ in walked] == [50] * 14 + [0, 0]
    monkeypatch.setattr(data, "WALK_MATCHES", -1)  # every match gathered and sorted
    gathered = pages()
    assert gathered == walked
    monkeypatch.setattr(data, "WALK_MATCHES", 2500)
    monkeypatch.setattr(data, "WALK_SPREAD", 10)  # SV's reports arrived last
    walks.clear()
    assert pages() == walked
    assert False in walks
