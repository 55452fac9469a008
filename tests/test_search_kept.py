"""A search's pages and counts kept as read (node/web/data.py ``Reader.items_page``,
``Reader._matches``): asked again while the store is unchanged, a page is served with no
query of the index; once anything is committed to the store (events stored, the items
catching up behind the log, an edit, a retraction, a rebuild) it is read again. Each
page is compared with what a fresh reader, which keeps nothing, reads from the same
store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import network
from node.search import EXACT_TERMS, match_expression
from node.service import Node
from node.web import data as data_module
from node.web.data import KEPT_SEARCHES, Reader
from node.web.lists import Filters
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, make_network

TODAY = "2026-06-01"
REPORT = POSTABLE["report"]
PLAN = POSTABLE["plan"]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"], roomy=True)
    yield members
    close_all(members)


def _shown(reader: Reader, kind: str, filters: Filters) -> tuple[list[dict[str, Any]], int]:
    page = reader.items_page(POSTABLE[kind], filters, TODAY)
    return page.rows, page.total


def _fresh(node: Node, kind: str, filters: Filters) -> tuple[list[dict[str, Any]], int]:
    """What a reader that keeps nothing yet reads."""
    reader = Reader(node)
    try:
        return _shown(reader, kind, filters)
    finally:
        reader.close()


def _statements(reader: Reader) -> list[str]:
    """The statements the reader's connection runs from now on (appended as they run)."""
    ran: list[str] = []
    reader.store.conn.set_trace_callback(ran.append)
    return ran


ASKED = [
    ("report", Filters(q="asamblea")),
    ("report", Filters(q="asamblea", page=2)),
    ("report", Filters(q="asamblea", page=3)),
    ("report", Filters(q="asamblea cosa")),
    ("report", Filters(q="ASAMBLEA", page=2)),
    ("report", Filters(q="zzz")),
    ("plan", Filters(q="mural")),
    ("plan", Filters(q="mural", sort="title")),
]


def _all_as_fresh(reader: Reader, node: Node) -> None:
    for kind, filters in ASKED:
        assert _shown(reader, kind, filters) == _fresh(node, kind, filters), (kind, filters)


def test_a_kept_search_is_served_again_until_the_store_changes(pair: list[Member]) -> None:
    la, sv = pair
    # both clocks stopped at the same instant: ties in time, which the list breaks by id
    la.node.clock = sv.node.clock = lambda: 1_900_000_000.0
    made = [REPORT.build({"title": f"asamblea {i}", "body": "otra cosa"}) for i in range(70)]
    la.node.post(la.keys, [("report", values) for values in made])
    made = [REPORT.build({"title": f"sv asamblea {i}"}) for i in range(60)]
    sv.node.post(sv.keys, [("report", values) for values in made])
    plan = la.node.post(la.keys, [("plan", PLAN.build({"title": "Pintar el mural"}))])[0]
    la.node.ingest([e.raw for e in sv.node.store.events()])
    reader = Reader(la.node)
    try:
        _all_as_fresh(reader, la.node)
        first = _shown(reader, "report", Filters(q="asamblea"))
        assert first[1] == 130
        assert len(first[0]) == 50
        # asked again: kept, no query but the store's version
        ran = _statements(reader)
        for kind, filters in ASKED:
            reader.items_page(POSTABLE[kind], filters, TODAY)
        assert ran
        assert all("data_version" in s for s in ran), ran
        # the rows handed out are copies: changing them changes no later page
        first[0][0]["title"] = "changed"
        assert _shown(reader, "report", Filters(q="asamblea"))[0][0]["title"] != "changed"
        # another page of a search counted already: its count is not asked again
        ran.clear()
        assert _shown(reader, "report", Filters(q="asamblea", page=4))[1] == 130
        assert not any("count(*) FROM item_text" in s for s in ran), ran
        reader.store.conn.set_trace_callback(None)

        # the store changes: every page is read again, as a fresh reader reads it
        newest = la.node.post(la.keys, [("report", REPORT.build({"title": "asamblea nueva"}))])[0]
        _all_as_fresh(reader, la.node)
        rows, total = _shown(reader, "report", Filters(q="asamblea"))
        assert total == 131
        assert rows[0]["id"] == newest.id.hex()
        # an edit: the plan found by its new words, no longer by its old ones
        after = la.node.projector.item_latest("plan", plan.id)
        change = PLAN.build_update({"title": "Pintar la pared"})
        la.node.post(la.keys, [("plan.update", {"v": 1, "of": plan.id, "after": after, **change})])
        _all_as_fresh(reader, la.node)
        assert _shown(reader, "plan", Filters(q="mural"))[1] == 0
        assert _shown(reader, "plan", Filters(q="pared"))[1] == 1
        # hidden: a retracted report leaves the search
        la.node.post(la.keys, [("report.retract", {"v": 1, "of": newest.id})])
        _all_as_fresh(reader, la.node)
        assert _shown(reader, "report", Filters(q="asamblea"))[1] == 130
        # a rebuild numbers the items' rows anew: read again
        la.node.rebuild()
        _all_as_fresh(reader, la.node)
    finally:
        reader.close()


def test_items_catching_up_behind_the_log_are_seen_by_a_kept_search(pair: list[Member]) -> None:
    """San Salvador takes Los Angeles' reports in batches: the first batch is in the
    log before its items; the items then catch up with the log unchanged, and the kept
    search sees each step."""
    la, sv = pair
    la.node.post(
        la.keys, [("report", REPORT.build({"title": f"asamblea {i}"})) for i in range(1200)]
    )
    raws = [e.raw for e in la.node.store.events()]
    reader = Reader(sv.node)
    try:
        asked = Filters(q="asamblea")
        before = _shown(reader, "report", asked)
        assert before[1] == 0
        results = sv.node.ingest_batches([raws[:1000], raws[1000:]])
        next(results)
        assert sv.node.projector.held_upto() is not None  # the items behind the log
        assert _shown(reader, "report", asked) == _fresh(sv.node, "report", asked)
        mark = reader.mark()
        steps = 0
        while sv.node.projector.held_upto() is not None:
            with sv.node.store.write():
                sv.node.projector.catch_up_step(100)
            steps += 1
            assert reader.mark() == mark  # the log as it was: only the items moved
            assert _shown(reader, "report", asked) == _fresh(sv.node, "report", asked)
        assert steps > 1
        assert _shown(reader, "report", asked)[1] > before[1]
        list(results)
        assert _shown(reader, "report", asked) == _fresh(sv.node, "report", asked)
        assert _shown(reader, "report", asked)[1] == 1200
    finally:
        reader.close()


def test_only_the_last_searches_are_kept(pair: list[Member]) -> None:
    la, _ = pair
    la.node.post(la.keys, [("report", REPORT.build({"title": f"palabra{i}"})) for i in range(40)])
    reader = Reader(la.node)
    try:
        asked = [Filters(q=f"palabra{i}") for i in range(KEPT_SEARCHES + 5)]
        for filters in asked:
            assert _shown(reader, "report", filters) == _fresh(la.node, "report", filters)
        ran = _statements(reader)
        _shown(reader, "report", asked[0])  # the oldest: no longer kept, read again
        assert any("item_text" in s for s in ran)
        ran.clear()
        _shown(reader, "report", asked[-1])  # the newest: kept
        assert not any("item_text" in s for s in ran)
    finally:
        reader.close()


def test_a_first_look_at_the_newest_matches_pages_as_the_general_path(
    pair: list[Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search not counted yet first reads its matches of the highest rowids
    (``Reader._top``): when they are few that is all of them (counted, and looked up by
    rowid), and when they are many the walk from the newest end reads them instead of
    the index. With pages of 5, few meaning 20 and walks of 7 items a step, every page
    of searches finding 19 to 60 reports, newest first and by state, is what the
    general path (every match gathered through the index and sorted) gives: ties in
    time, an edited report and retracted ones included."""
    la, sv = pair
    la.node.clock = sv.node.clock = lambda: 1_900_000_000.0
    words = {
        "uno": range(60),
        "dos": range(0, 60, 2),
        "seis": range(21),
        "tres": range(21),
        "cuatro": range(23),
        "cinco": range(24),
        "siete": range(20, 53),
    }

    def title(i: int) -> str:
        return " ".join(w for w, held in words.items() if i in held) + f" n{i}"

    def values(i: int) -> dict[str, str]:
        state = ["draft", "sent", ""][i % 3]  # some with none: after the others
        return {"title": title(i), **({"state": state} if state else {})}

    made = [("report", REPORT.build(values(i))) for i in range(0, 60, 2)]
    la.node.post(la.keys, made)
    made = [("report", REPORT.build(values(i))) for i in range(1, 60, 2)]
    theirs = sv.node.post(sv.keys, made)
    la.node.ingest([e.raw for e in sv.node.store.events()])
    # an edit gives report 41 the word "tres" (21 of them then) and another state; 3
    # and 5 retracted
    after = la.node.projector.item_latest("report", theirs[20].id)
    change = REPORT.build_update({"tags": "tres", "state": "published"})
    la.node.post(
        la.keys, [("report.update", {"v": 1, "of": theirs[20].id, "after": after, **change})]
    )
    sv.node.post(sv.keys, [("report.retract", {"v": 1, "of": theirs[i].id}) for i in (1, 2)])
    la.node.ingest([e.raw for e in sv.node.store.events()])
    monkeypatch.setattr(data_module, "PAGE_SIZE", 5)
    monkeypatch.setattr(data_module, "FEW_MATCHES", 20)
    monkeypatch.setattr(data_module, "WALK_CHUNK", 7)

    def pages(query: str, sort: str) -> list[tuple[list[str], int]]:
        reader = Reader(la.node)
        try:
            found = []
            for number in range(1, 15):
                page = reader.items_page(REPORT, Filters(q=query, sort=sort, page=number), TODAY)
                found.append(([str(r["id"]) for r in page.rows], page.total))
            return found
        finally:
            reader.close()

    totals = set()
    for query in [*words, "uno dos", "cuatro siete", "n4"]:
        for sort in ("newest", "state"):
            first = pages(query, sort)
            totals.add(first[0][1])
            with monkeypatch.context() as general:
                general.setattr(data_module, "FEW_MATCHES", -1)
                general.setattr(data_module, "WALK_MATCHES", -1)
                assert pages(query, sort) == first, (query, sort)
    assert {3, 19, 20, 21, 22, 58} <= totals


def test_words_asked_whole_find_what_their_starts_find(pair: list[Member]) -> None:
    """A word of a search that the index's tokenizer keeps whole is asked as the
    index's words it begins (``Reader._expression``, node/search.py
    ``exact_expression``) when they are at most EXACT_TERMS: for every search, the
    same rows of the index as the word's start, and the words it begins are those the
    index holds (read whole from its vocabulary), after edits, a retraction and a
    redaction removed some of them."""
    la, _ = pair
    titles = [
        "Reunión de vecinas",
        "reuniones del mercado",
        "Reunion breve",
        "किसानों के साथ बैठक",
        "बैठकें",
        "don't stop",
        "a-b testing",
        "Report 17",
        "Report 170",
        "report 1700 reportaje reporte",
        *(f"t{i} tema" for i in range(EXACT_TERMS + 3)),
        "Zanahoria secreta",
    ]
    made = la.node.post(la.keys, [("report", REPORT.build({"title": t})) for t in titles])
    plan = la.node.post(la.keys, [("plan", PLAN.build({"title": "reunión de plan"}))])[0]
    after = la.node.projector.item_latest("plan", plan.id)
    change = PLAN.build_update({"title": "Pintar el mural", "owner": "Rosa"})
    la.node.post(la.keys, [("plan.update", {"v": 1, "of": plan.id, "after": after, **change})])
    la.node.post(la.keys, [("report.retract", {"v": 1, "of": made[2].id})])
    network.redact(la.node, la.keys, made[-1].id.hex())
    reader = Reader(la.node)
    try:
        conn = reader.store.conn
        conn.execute("CREATE VIRTUAL TABLE temp.every_word USING fts5vocab(main, item_text, 'row')")
        held = [str(r[0]) for r in conn.execute("SELECT term FROM temp.every_word")]
        assert "reunion" in held
        assert "zanahoria" not in held  # redacted: its words left the index
        for start in ("reun", "r", "t", "t1", "report", "बैठ", "zanah", "qqq"):
            begun = reader._begun(start)
            words = [w for w in held if w.startswith(start)]
            assert begun == (words if len(words) <= EXACT_TERMS else None), start
        queries = [
            "reunion",
            "Reunión",
            "REUNIONES",
            "reun",
            "बैठक",
            "बैठ",
            "don't",
            "a-b",
            "report 17",
            "report",
            "repor 170",
            "t",
            "t1",
            "t1 tema",
            "mural rosa",
            "zanahoria",
            "qqq",
            "reunion qqq",
            *HOSTILE_WORDS,
        ]
        for query in queries:
            typed = match_expression(query)
            asked = reader._expression(query)
            assert (asked is None) == (typed is None), query
            if typed is None or asked is None:
                continue
            rows = [
                {
                    int(r[0])
                    for r in conn.execute(
                        "SELECT rowid FROM item_text WHERE item_text MATCH ?", (expression,)
                    )
                }
                for expression in (typed, asked)
            ]
            assert rows[0] == rows[1], (query, typed, asked)
        assert reader._expression("report") == '("report" OR "reportaje" OR "reporte")'
        assert reader._expression("t") == '"t"*'  # begins more than EXACT_TERMS words
        assert reader._expression("don't") == match_expression("don't")  # two words
        assert reader._expression("qqq") == '"qqq"'  # begins none: in no item
        assert {r["title"] for r in _shown(reader, "report", Filters(q="reun"))[0]} == {
            "Reunión de vecinas",
            "reuniones del mercado",
        }
    finally:
        reader.close()


HOSTILE_WORDS = ['alpha" OR *', "NEAR(", "gamma OR omega", "^omega", "text:omega", '"' * 20]


def test_a_leap_to_a_middle_page_pages_as_the_general_path(
    pair: list[Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search page far from both ends of the list steps over the list in chunks
    counted by the index (``Reader._leap``), then walks: with pages of 5, walks from
    either end for the first 3 matches only, leaps of 8 items and walks of 5 a step,
    every page of searches for a word in most reports (an edit adds it to one, a
    retraction takes one away) is what gathering every match gives; once San
    Salvador's reports, of the same times, arrive after Los Angeles' (their rowids out
    of the lists' order), a leap that would count another step's items gives up, for
    the same pages."""
    la, sv = pair
    la.node.clock = sv.node.clock = lambda: 1_900_000_000.0
    made = la.node.post(
        la.keys,
        [
            ("report", REPORT.build({"title": "otra" if i % 4 == 0 else f"asamblea {i}"}))
            for i in range(90)
        ],
    )
    after = la.node.projector.item_latest("report", made[8].id)
    change = REPORT.build_update({"tags": "asamblea"})
    la.node.post(la.keys, [("report.update", {"v": 1, "of": made[8].id, "after": after, **change})])
    la.node.post(la.keys, [("report.retract", {"v": 1, "of": made[i].id}) for i in (30, 31)])
    monkeypatch.setattr(data_module, "PAGE_SIZE", 5)
    monkeypatch.setattr(data_module, "FEW_MATCHES", 4)
    monkeypatch.setattr(data_module, "WALK_MATCHES", 3)
    monkeypatch.setattr(data_module, "WALK_CHUNK", 5)
    monkeypatch.setattr(data_module, "LEAP_CHUNK", 8)
    leaps: list[bool] = []
    leap = Reader._leap

    def counted(self: Reader, *args: Any, **kwargs: Any) -> Any:
        found = leap(self, *args, **kwargs)
        leaps.append(found is not None)
        return found

    monkeypatch.setattr(Reader, "_leap", counted)

    def pages(query: str) -> list[tuple[list[str], int]]:
        reader = Reader(la.node)
        try:
            found = []
            for number in range(1, 40):
                page = reader.items_page(REPORT, Filters(q=query, page=number), TODAY)
                found.append(([str(r["id"]) for r in page.rows], page.total))
            return found
        finally:
            reader.close()

    def general(query: str) -> list[tuple[list[str], int]]:
        with monkeypatch.context() as patched:
            patched.setattr(data_module, "FEW_MATCHES", -1)
            patched.setattr(data_module, "WALK_MATCHES", -1)
            return pages(query)

    for query in ("asamblea", "otra"):
        leaps.clear()
        leapt = pages(query)
        assert leapt == general(query), query
        assert True in leaps, query
    assert pages("asamblea")[0][1] == 66  # 67 with the word, 1 of them retracted
    # San Salvador's older reports arrive between two of Los Angeles' posts: their
    # rowids lie inside the range of the list's items around them
    sv.node.clock = lambda: 1_800_000_000.0
    sv.node.post(
        sv.keys, [("report", REPORT.build({"title": f"asamblea vieja {i}"})) for i in range(6)]
    )
    la.node.ingest([e.raw for e in sv.node.store.events()])
    la.node.post(la.keys, [("report", REPORT.build({"title": f"asamblea {i}"})) for i in range(30)])
    for query in ("asamblea", "vieja", "otra"):
        leaps.clear()
        assert pages(query) == general(query), query
    assert False in leaps
    sv.node.clock = lambda: 1_900_000_000.0
    sv.node.post(
        sv.keys, [("report", REPORT.build({"title": f"sv asamblea {i}"})) for i in range(40)]
    )
    la.node.ingest([e.raw for e in sv.node.store.events()])
    leaps.clear()
    leapt = pages("asamblea")
    assert leapt[0][1] == 142
    assert leapt == general("asamblea")
    assert False in leaps
