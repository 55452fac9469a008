"""The web view in a real browser: headless Chromium (Debian's package) driven by
Playwright, against real nodes on 127.0.0.1 that sync with each other.

Each browser context gets in as the node's owner does: it opens the address with its
one-time token that the view keeps in NODE_HOME/web-address, and keeps the cookie.

Screenshots of every page are saved under test-artifacts/web/ (not committed).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node import private
from node.web.app import start_web
from protocol.kinds import POSTABLE
from tests import web_kinds
from tests.helpers import ROOT
from tests.net import Member, close_all, link_line, make_network, until
from tests.web_owner import current_address

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "web"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INJECTION = "<script>alert(1)</script>"
ATTRIBUTE_INJECTION = '"><img src=x onerror=alert(2)>'
PAGES = ["/", "/reports", "/plans", "/contacts", "/shifts", "/meetings", "/events", "/activity"]

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (python3 run.py test installs it)",
)


@dataclass
class Site:
    members: list[Member]
    url: str
    posted: web_kinds.Posted


def _report(m: Member, title: str, body: str) -> None:
    m.node.post(m.keys, [("report", POSTABLE["report"].build({"title": title, "body": body}))])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """Four collectives in a line, each with its own writing, synced; LA's web view."""
    la, sv, india, za = members = make_network(
        tmp_path, ["Los Angeles", "El Salvador", "India", "South Africa"]
    )
    _report(la, INJECTION, ATTRIBUTE_INJECTION)
    _report(sv, "Asamblea de inquilinos", "Cuarenta vecinos hablaron del alquiler.")
    _report(india, "मोहल्ला सभा", "हमने पानी और किराये के बारे में बात की।")
    _report(za, "Umhlangano womphakathi", "Abantu abangamashumi amabili baxoxe ngamanzi.")
    _report(sv, "اجتماع الحي", "تحدثنا عن الماء")  # right to left
    plan = POSTABLE["plan"]
    la.node.post(
        la.keys,
        [
            ("plan", plan.build({"title": "Carta al dueño", "owner": "Ana", "due": "2020-01-01"})),
            ("plan", plan.build({"title": "Mural", "status": "doing", "due": "2099-12-31"})),
        ],
    )
    contact = POSTABLE["contact"].build({"name": "Thandiwe Mokoena", "phone": "+27 82 555 0147"})
    readers = private.recipients(la.node, la.keys, [])
    la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", contact, readers)])
    # shifts, a meeting held, reports in each state, contacts followed up (issue 17)
    posted = web_kinds.post_all(la, sv)
    runners = []
    try:
        for m in members:
            await m.start()
        link_line(members)  # LA ← SV ← IN ← ZA
        await until(lambda: len({m.state() for m in members}) == 1, what="the network syncing")
        daemon = la.daemon
        assert daemon is not None
        runner, port = await start_web(la.node, la.keys, host="127.0.0.1", port=0, daemon=daemon)
        runners.append(runner)
        yield Site(members, f"http://127.0.0.1:{port}", posted)
    finally:
        for runner in runners:
            await runner.cleanup()
        for m in members:
            await m.stop()
        close_all(members)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def watch(page: Any) -> list[str]:
    """What goes wrong on ``page`` from now on: console errors, uncaught errors and
    dialogs (an injected alert), in the order they come."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    return problems


@contextlib.asynccontextmanager
async def owner_page(address: str, locale: str) -> AsyncIterator[tuple[Any, list[str]]]:
    """Chromium on a page let in with a web view's ``address`` (its one-time token), and
    what goes wrong on it (:func:`watch`): for the tests of one kind's pages, which
    start their own node rather than this module's site."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (python3 run.py test installs it)")
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await chromium.new_context(locale=locale)
            page = await context.new_page()
            problems = watch(page)
            await page.goto(address)
            yield page, problems
            await context.close()
        finally:
            await chromium.close()


#: every text and dot of an SVG picture, where the browser drew it (getBBox, in the
#: picture's own units), its viewBox, and its lines
_MEASURE = """svg => {
  const box = svg.viewBox.baseVal;
  const shapes = [...svg.querySelectorAll("text, circle")].map(e => {
    const b = e.getBBox();
    return {tag: e.tagName, text: e.textContent, x: b.x, y: b.y, w: b.width, h: b.height,
            r: e.tagName === "circle" ? e.r.baseVal.value : 0,
            anchor: e.getAttribute("text-anchor")};
  });
  const lines = [...svg.querySelectorAll("line")].map(l => [
    l.x1.baseVal.value, l.y1.baseVal.value, l.x2.baseVal.value, l.y2.baseVal.value]);
  return {box: [box.x, box.y, box.width, box.height], shapes, lines};
}"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def _from_line(x: float, y: float, line: list[float]) -> float:
    ax, ay, bx, by = line
    vx, vy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy or 1.0)))
    return float(((x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2) ** 0.5)


async def graph_problems(svg: Any, names: list[str]) -> list[str]:
    """What is wrong with the drawing of the peer graph ``svg`` (a locator), measured in
    the browser: a label or a dot outside the picture (cut off), two that overlap, a
    line passing over a dot it does not join, a name of ``names`` not drawn whole."""
    drawn = await svg.evaluate(_MEASURE)
    x0, y0, w, h = drawn["box"]
    shapes = drawn["shapes"]
    problems = []
    for s in shapes:
        if s["w"] <= 0 or s["h"] <= 0:
            problems.append(f"{s['tag']} {s['text']!r} has no size")
        if s["x"] < x0 or s["y"] < y0 or s["x"] + s["w"] > x0 + w or s["y"] + s["h"] > y0 + h:
            problems.append(
                f"{s['tag']} {s['text']!r} reaches out of the picture: {s} {drawn['box']}"
            )
    for i, a in enumerate(shapes):
        problems += [
            f"{a['tag']} {a['text']!r} overlaps {b['tag']} {b['text']!r}"
            for b in shapes[i + 1 :]
            if _overlap(a, b)
        ]
    for line in drawn["lines"]:
        for s in shapes:
            if s["tag"] != "circle":
                continue
            cx, cy = s["x"] + s["w"] / 2, s["y"] + s["h"] / 2
            ends = ((line[0], line[1]), (line[2], line[3]))
            if any(abs(cx - ex) < 0.5 and abs(cy - ey) < 0.5 for ex, ey in ends):
                continue
            if _from_line(cx, cy, line) < s["r"]:
                problems.append(f"a line {line} passes over the dot at {cx:.0f},{cy:.0f}")
    texts = [s["text"] for s in shapes if s["tag"] == "text"]
    problems += [f"{n!r} is not drawn whole" for n in names if n not in texts]
    return problems


async def chart_ticks(svg: Any) -> list[str]:
    """The numbers up the scale of a chart (``svg``, a locator), bottom first; one cut
    off at the picture's left edge is named as such."""
    drawn = await svg.evaluate(_MEASURE)
    x0 = drawn["box"][0]
    return [
        s["text"] if s["x"] >= x0 else f"cut off: {s['text']}"
        for s in drawn["shapes"]
        if s["tag"] == "text" and s["anchor"] == "end"  # the scale's, right-aligned
    ]


async def _open(
    browser: Any, site: Site, path: str = "/", locale: str = "en-US"
) -> tuple[Any, Any, list[str]]:
    """A new browser context let in with the view's current address (its one-time
    token), then on ``path``."""
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    problems = watch(page)
    response = await page.goto(current_address(site.members[0].home.path))
    assert response is not None
    assert response.status == 200
    assert page.url == site.url + "/"  # the token is gone from the address bar
    if path != "/":
        await page.goto(site.url + path)
    return context, page, problems


async def test_every_page_loads_without_errors_and_is_saved(site: Site, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page, problems = await _open(browser, site)
    try:
        for path in PAGES:
            response = await page.goto(site.url + path)
            assert response is not None
            assert response.status == 200, path
            name = path.strip("/") or "overview"
            await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await page.goto(site.url + "/activity")
        assert await page.locator("svg.chart").count() == 1  # events per week
        assert await page.locator("svg.graph").count() == 1  # the sync picture
        await page.goto(site.url + "/")
        text = await page.inner_text("body")
        for m in site.members:
            assert m.name in text  # the four collectives
        assert problems == []
    finally:
        await context.close()


async def test_all_four_collectives_reports_plans_and_own_contacts(
    site: Site, browser: Any
) -> None:
    context, page, problems = await _open(browser, site, "/reports")
    try:
        text = await page.inner_text("body")
        for title in ("Asamblea de inquilinos", "मोहल्ला सभा", "Umhlangano womphakathi"):
            assert title in text
        await page.goto(site.url + "/plans")
        text = await page.inner_text("body")
        assert "Carta al dueño" in text
        assert "Mural" in text
        await page.goto(site.url + "/contacts")
        assert "Thandiwe Mokoena" in await page.inner_text("body")
        assert problems == []
    finally:
        await context.close()


async def test_an_injected_title_shows_as_text(site: Site, browser: Any) -> None:
    context, page, problems = await _open(browser, site, "/reports")
    try:
        text = await page.inner_text("body")
        assert INJECTION in text  # shown, not run
        assert await page.locator("img[src=x]").count() == 0
        assert problems == []  # no alert() dialog, no error
    finally:
        await context.close()


async def test_a_spanish_browser_gets_the_spanish_interface(site: Site, browser: Any) -> None:
    context, page, problems = await _open(browser, site, locale="es-ES")
    try:
        text = await page.inner_text("body")
        assert "Informes" in text
        assert "Planes" in text
        await page.screenshot(path=str(ARTIFACTS / "overview-es.png"), full_page=True)
        assert problems == []
    finally:
        await context.close()


async def test_a_hindi_browser_gets_the_hindi_interface(site: Site, browser: Any) -> None:
    """Hindi from the browser's language alone: the menu, the counts with Hindi's plural
    (0 and 1 singular), the language switch, and ``<html lang="hi">``."""
    context, page, problems = await _open(browser, site, locale="hi-IN")
    try:
        text = await page.inner_text("body")
        assert "रिपोर्टें" in text  # Reports
        assert "योजनाएँ" in text  # Plans
        assert "सारांश" in text  # Overview
        assert "समूह" in text  # Collectives
        assert "Reports" not in text
        assert await page.get_attribute("html", "lang") == "hi"
        assert await page.locator('a[aria-current="true"][hreflang="hi"]').inner_text() == "हिन्दी"
        await page.screenshot(path=str(ARTIFACTS / "overview-hi.png"), full_page=True)
        await page.goto(site.url + "/plans")
        text = await page.inner_text("body")
        assert "नियत तारीख" in text  # the plans' Due
        assert "दिन की देरी" in text  # overdue by … days
        await page.screenshot(path=str(ARTIFACTS / "plans-hi.png"), full_page=True)
        assert problems == []
    finally:
        await context.close()


async def test_a_new_event_appears_without_a_reload(site: Site, browser: Any) -> None:
    context, page, problems = await _open(browser, site, "/reports")
    try:
        za = site.members[3]
        _report(za, "Noticia de Johannesburgo", "Llegó por la línea de nodos.")
        # it travels ZA → IN → SV → LA, and LA's page updates by itself
        await page.get_by_text("Noticia de Johannesburgo").wait_for(timeout=20_000)
        assert problems == []
    finally:
        await context.close()


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_shifts_meetings_reports_and_follow_ups_show_every_field(
    site: Site, browser: Any
) -> None:
    """The kinds of issue 17, each page saved as a screenshot: what is on screen, no
    error on the console, no script run from a value, no link but http(s) ones."""
    k = web_kinds
    context, page, problems = await _open(browser, site, "/shifts")
    try:
        slots = page.locator("table.slots tbody tr")
        taken = slots.filter(has_text=", ".join(k.TAKERS))
        assert await taken.count() == 1
        text = await taken.inner_text()
        assert k.SHIFT_PLACE in text
        assert "05:30–07:00 America/El_Salvador" in text
        assert "enough" in text
        assert await page.locator("tr.short", has_text="short of 2").count() >= 1
        await _shot(page, "shifts-slots")

        await page.goto(f"{site.url}/event/{site.posted.meeting.hex()}")
        main = await page.inner_text("main")
        assert k.MEETING in main  # the title's script shown as text
        assert "Next date" in main
        dates = page.locator("section[aria-labelledby=dates] article")
        assert await dates.count() == 2
        held = await dates.nth(1).inner_text()  # the latest first: the earlier is second
        assert k.MINUTES.splitlines()[0] in held
        for name in k.ATTENDED:
            assert name in held
        assert "Guests" in held
        assert k.GUESTS in held
        assert k.LATER_MINUTES in await dates.nth(0).inner_text()
        assert await page.locator(f'a[href="{k.ZOOM}"]').count() == 1
        await _shot(page, "meeting")

        await page.goto(f"{site.url}/meetings")
        assert k.ODD_PLACE in await page.inner_text("main")  # as text
        assert await page.locator("a[href^='javascript']").count() == 0
        await _shot(page, "meetings-list")

        await page.goto(f"{site.url}/reports")
        for state, title in k.REPORTS.items():
            article = page.locator("article", has_text=title)
            assert await article.locator(f".badge.state-{state}").count() == 1, state
        published = page.locator("article", has_text=k.REPORTS["published"])
        assert await published.locator(f'a[href="{k.PUBLISHED_LINK}"]').count() == 1
        await _shot(page, "reports-states")
        await page.goto(f"{site.url}/event/{site.posted.reports['for-paper'].hex()}")
        plans = page.locator("section[aria-labelledby=now] ul.refs li")
        assert await plans.count() == 2
        assert await plans.nth(0).locator(f'a[href="/event/{site.posted.plan.hex()}"]').count() == 1
        assert await plans.nth(0).inner_text() == k.PLAN
        await _shot(page, "report-for-paper")

        await page.goto(f"{site.url}/contacts")
        late = page.locator("article.overdue", has_text=k.LATE)
        assert await late.count() == 1
        text = await late.inner_text()
        assert "overdue by 3 days" in text
        assert "takes-tasks" in text
        assert text.index(k.NOTES[0]) < text.index(k.NOTES[1])
        due = page.locator("article", has_text=k.DUE_TODAY)
        assert "due today" in await due.inner_text()
        await _shot(page, "contacts-follow-up")

        assert await page.locator("a[href^='javascript']").count() == 0
        assert problems == []
    finally:
        await context.close()


def nice_steps(ticks: list[str], grouping: str = ",") -> bool:
    """Whether a scale's numbers go up from 0 by one round step (1, 2, 2.5 or 5 times a
    power of ten), at most five steps."""
    values = [int(t.replace(grouping, "")) for t in ticks]
    step = values[1] if len(values) > 1 else 0
    return (
        values[0] == 0
        and 2 <= len(values) <= 6
        and all(b - a == step for a, b in itertools.pairwise(values))
        and str(step).rstrip("0") in ("1", "2", "25", "5")
    )


@pytest.mark.parametrize("locale", ["en-US", "hi-IN"])
async def test_the_activity_pictures_keep_every_label_whole(
    site: Site, browser: Any, locale: str
) -> None:
    """Issue 19: "South Africa" (reached through others, on the left) was cut to
    "Africa" at the picture's edge, two members sat on one line with this node, and the
    scale read 12.5 and 37.5. Measured in Chromium: every label and dot inside the
    picture and apart, round steps up the scale."""
    context, page, problems = await _open(browser, site, "/activity", locale=locale)
    try:
        names = [m.name for m in site.members]
        assert await graph_problems(page.locator("svg.graph"), names) == []
        ticks = await chart_ticks(page.locator("svg.chart"))
        assert nice_steps(ticks), ticks
        await _shot(page, f"activity-{locale}")
        assert problems == []
    finally:
        await context.close()
