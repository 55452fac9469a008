"""How the web view looks, measured in real Chromium (issue 19, point 10): the peer graph
keeps every name whole, inside the picture and apart from the rest, for long names of
any script and 2 to 8 members around; the chart's scale goes up by round numbers in
the page's language; a list counts exactly the cards it shows (private items, items
withdrawn, a search, a filter); and a date is typed on a Spanish or Hindi page as the
language writes it, not as the browser's own date field would take it.

Screenshots are saved under test-artifacts/web/ (not committed).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.identity import NodeKeys
from node import private
from node.home import Home
from node.service import Node
from node.web import start_web, svg
from node.web.i18n import Translator
from protocol.kinds import POSTABLE
from tests.test_web_browser import (
    ARTIFACTS,
    CHROMIUM,
    FLAGS,
    chart_ticks,
    graph_problems,
    nice_steps,
    owner_page,
    playwright_api,
)
from tests.web_owner import current_address

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (python3 run.py test installs it)",
)

STYLE = (
    Path(__file__).resolve().parent.parent / "node" / "web" / "static" / "style.css"
).read_text()

LONG = "Cooperativa de Vivienda Mutua 1"  # 30 letters and more
NAMES = [
    "South Africa",
    LONG,
    "दिल्ली किरायेदार संघ",  # Hindi
    "El Salvador",
    "اتحاد المستأجرين",  # Arabic, right to left
    "Los Angeles Tenants Union",
    "India",
    "Mexico City Sindicato de Inquilinos",
]
AGES = [30.0, 7200.0, None, 200_000.0, 5.0, 90_000.0, None, 600.0]


@contextlib.asynccontextmanager
async def chromium_page(locale: str = "en-US") -> AsyncIterator[Any]:
    """A page of headless Chromium, for pictures set into it with the view's style."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(locale=locale)
            yield await context.new_page()
            await context.close()
        finally:
            await browser.close()


async def _show(page: Any, picture: str, lang: str = "en") -> None:
    """The picture as the activity page holds it: in a figure, with the view's style."""
    await page.set_content(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<style>{STYLE}</style></head><body><main><figure class='graph'>{picture}"
        "</figure></main></body></html>"
    )


def _graphs() -> Iterator[tuple[str, str, list[svg.Link], list[str]]]:
    """This node's name, its direct links and the members reached through others: 2 to
    8 members around it, all linked, none, and half of each."""
    for count in range(2, 9):
        names = NAMES[:count]
        for linked in sorted({0, count // 2, count}):
            links = [
                svg.Link(n, AGES[i], "never" if AGES[i] is None else f"{AGES[i]:.0f} seconds ago")
                for i, n in enumerate(names[:linked])
            ]
            centre = "Comité de Inquilinos de Johannesburgo"
            yield f"{count}-{linked}", centre, links, names[linked:]


async def test_the_peer_graph_keeps_every_name_whole_inside_and_apart() -> None:
    """Issue 19: "South Africa" was cut to "Africa" at the left edge and members sat on
    one line with this node. Every drawing of 2 to 8 members (linked, not, both), with
    long names in Latin, Devanagari and Arabic: measured by Chromium (getBBox), each
    text and dot inside the viewBox, none over another, no line over a dot it does not
    join, every name there whole."""
    found = {}
    async with chromium_page() as page:
        for case, centre, links, others in _graphs():
            await _show(page, svg.peer_graph(centre, links, others, "Who this node syncs with"))
            names = [centre, *(link.name for link in links), *others]
            problems = await graph_problems(page.locator("svg.graph"), names)
            if problems:
                found[case] = problems
            if case in ("8-4", "3-1"):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / f"graph-{case}.png"), full_page=True)
    assert found == {}


async def test_the_graph_grows_no_further_than_its_names_need() -> None:
    """A small graph keeps the usual size; the picture is never more than twice as wide
    as the widest ring of names needs (a graph that kept growing would be unreadable)."""
    small = svg.peer_graph("Los Angeles", [svg.Link("India", 5.0, "just now")], [], "t")
    assert 'viewBox="-380.0 -200.0 760.0 400.0"' in small
    many = svg.peer_graph("Los Angeles", [], NAMES, "t")
    box = re.search(r'viewBox="\S+ \S+ (\S+) ', many)
    assert box is not None
    width = float(box.group(1))
    assert 760 <= width <= 2 * 760


@pytest.mark.parametrize(
    ("peak", "lang", "ticks"),
    [
        (31, "en", ["0", "10", "20", "30", "40"]),
        (1, "en", ["0", "1"]),
        (7, "es", ["0", "2", "4", "6", "8"]),
        (18_750, "es", ["0", "5.000", "10.000", "15.000", "20.000"]),
        (24_000, "en", ["0", "5,000", "10,000", "15,000", "20,000", "25,000"]),
        (101, "en", ["0", "25", "50", "75", "100", "125"]),
        (123_456, "hi", ["0", "25,000", "50,000", "75,000", "1,00,000", "1,25,000"]),
    ],
)
async def test_the_charts_scale_goes_up_by_round_numbers_in_the_pages_language(
    peak: int, lang: str, ticks: list[str]
) -> None:
    """Issue 19: a peak of 18,750 events in a week drew ticks of 6250 and 18750. The
    steps are 1, 2, 2.5 or 5 times a power of ten, at most five, written as the page's
    language writes numbers (Babel), every one inside the picture."""
    tr = Translator(lang)
    series = [svg.Series("India", svg.colour(0), (0, peak, peak // 3))]
    chart = svg.weekly_chart(series, ["a", "b", "c"], "Events", tr.number)
    async with chromium_page() as page:
        await _show(page, chart, lang)
        shown = await chart_ticks(page.locator("svg.chart"))
    assert shown == ticks
    assert nice_steps(shown, "," if lang != "es" else ".")
    assert int(shown[-1].replace(",", "").replace(".", "")) >= peak


# --- a node of its own: counts and dates ---------------------------------------------------


def _post(node: Node, keys: NodeKeys, kind: str, values: dict[str, Any]) -> bytes:
    return node.post(keys, [(kind, POSTABLE[kind].build(values))])[0].id


def _sealed(node: Node, keys: NodeKeys, kind: str, payload: dict[str, Any]) -> bytes:
    readers = private.recipients(node, keys, [])
    return node.post(keys, [private.seal_item(node, keys, kind, payload, readers)])[0].id


@pytest.fixture
def salvador(tmp_path: Path) -> Iterator[tuple[Node, NodeKeys]]:
    """One collective's node: public reports and private ones, one of each withdrawn;
    plans due in January and in May."""
    home = Home(tmp_path / "sv")
    _, keys = home.init("El Salvador", None)
    node = Node.open(home)
    try:
        report = POSTABLE["report"]
        for title in ("Asamblea uno", "Asamblea dos"):
            _post(node, keys, "report", {"title": title, "body": "Vecinos."})
        market = _post(node, keys, "report", {"title": "Mercado", "body": "Precios."})
        node.post(
            keys, [("report.update", report.build_update({"state": "sent"}) | _of(node, market))]
        )
        gone = _post(node, keys, "report", {"title": "Asamblea retirada", "body": "Nada."})
        node.post(keys, [("report.retract", {"v": 1, "of": gone})])
        _sealed(
            node, keys, "report", report.build({"title": "Asamblea privada", "body": "Solo aquí."})
        )
        hidden = _sealed(
            node, keys, "report", report.build({"title": "Privada retirada", "body": "x"})
        )
        _sealed(node, keys, "report.retract", {"v": 1, "of": hidden})
        _post(node, keys, "plan", {"title": "Volantes de enero", "due": "2026-01-05"})
        _post(node, keys, "plan", {"title": "Mural de mayo", "due": "2026-05-01"})
        yield node, keys
    finally:
        node.close()


def _of(node: Node, item: bytes) -> dict[str, Any]:
    return {"v": 1, "of": item, "after": node.projector.item_latest("report", item)}


async def _count(page: Any) -> tuple[int, int | None]:
    """The cards on the page, and the count it prints (None: none printed)."""
    cards = await page.locator("main article.item").count()
    printed = page.locator("nav.pager .count")
    if not await printed.count():
        return cards, None
    return cards, int(re.sub(r"\D", "", await printed.inner_text()))


async def test_a_list_counts_the_cards_it_shows(salvador: tuple[Node, NodeKeys]) -> None:
    """Issue 19: the reports page counted 6 results and showed 7 cards: the private
    report shown above the list was not counted. Counted in the DOM against the number
    printed: every report, a search (public and private match, or private alone), a
    filter, and nothing found; the overview's count is the list's."""
    node, keys = salvador
    runner, port = await start_web(node, keys, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{port}"
    cases = {
        "/reports": 4,  # three public, one private (one of each withdrawn)
        "/reports?q=asamblea": 3,
        "/reports?q=privada": 1,  # the private one alone
        "/reports?q=mercado": 1,
        "/reports?state=sent": 1,
        "/reports?state=draft": 3,
        "/reports?q=retirada": 0,  # withdrawn, public and private: not shown, not counted
    }
    try:
        async with owner_page(current_address(node.home.path), "en-US") as (page, problems):
            for path, wanted in cases.items():
                await page.goto(base + path)
                cards, printed = await _count(page)
                assert cards == wanted, path
                assert printed == (wanted or None), path
            await page.goto(base + "/reports")
            await page.screenshot(path=str(_artifact("reports-count")), full_page=True)
            await page.goto(base + "/")
            assert "4 reports" in await page.inner_text("main")
            assert problems == []
    finally:
        await runner.cleanup()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@pytest.mark.parametrize(
    ("locale", "typed", "hint"),
    [("es-ES", "01/03/2026", "dd/mm/aaaa"), ("hi-IN", "1/3/2026", "दद/मम/वववव")],
)
async def test_a_date_typed_on_a_spanish_or_hindi_page_is_read_as_that_language_writes_it(
    salvador: tuple[Node, NodeKeys], locale: str, typed: str, hint: str
) -> None:
    """Issue 19: the browser's own date field takes a date as the browser's language
    writes it (mm/dd/yyyy here, whatever the page's language), so 01/03/2026 typed on
    the Spanish page meant January 3. Typed into the plans' "From" on a Spanish and a
    Hindi page, it is the 1st of March: the January plan is left out, the May one
    shown; the field says how to type a date and shows it back as typed."""
    node, keys = salvador
    runner, port = await start_web(node, keys, host="127.0.0.1", port=0)
    try:
        async with owner_page(current_address(node.home.path), locale) as (page, problems):
            await page.goto(f"http://127.0.0.1:{port}/plans")
            field = page.locator("form.filters input[name=from]")
            await field.click()
            await page.keyboard.type(typed)
            assert await field.input_value() == typed  # taken as typed, not as mm/dd/yyyy
            await page.screenshot(path=str(_artifact(f"date-typed-{locale}")), full_page=True)
            await page.locator("form.filters button[type=submit]").click()
            await page.wait_for_url(re.compile(r"from="), timeout=10_000)
            main = await page.inner_text("main")
            assert "Mural de mayo" in main
            assert "Volantes de enero" not in main
            assert await field.get_attribute("placeholder") == hint
            assert hint in await page.locator("form.filters").inner_text()
            assert await field.input_value() == "01/03/2026"
            await page.screenshot(path=str(_artifact(f"date-filtered-{locale}")), full_page=True)
            assert problems == []
    finally:
        await runner.cleanup()
