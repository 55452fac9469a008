"""The kinds of issue 17 on the web view, over real HTTP: a real aiohttp server on
127.0.0.1 in front of real nodes (real folders, SQLite, signed and sealed events). Every
field shows: a meeting's agenda, place, zone, repeat, next date and, per date, its
minutes and attendance (latest first); reports' states, links and the plans they
contain (one not here yet); contacts' follow-up with due and late next steps and their
notes; shifts' coming slots with place, time, zone, people and who is short. Text from
members is escaped, and only an http(s) address becomes a link: a ``javascript:`` one,
typed or lied about by a peer, stays text. The Content-Security-Policy stays strict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.web import SECURITY_HEADERS
from protocol.kinds import POSTABLE
from tests import web_kinds as k
from tests.net import Member, close_all, make_network
from tests.test_web_http import Site, served

CSP = SECURITY_HEADERS["Content-Security-Policy"]
LYING = "A link that lies"


@dataclass
class World:
    la: Member
    sv: Member
    posted: k.Posted
    lying: bytes


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    try:
        # a peer posts a report whose link is not a web address: its own node does not
        # check what it signs, this one reads it as a payload it cannot show
        body = {"v": 2, "title": LYING, "state": "published", "link": "javascript:alert(1)"}
        lying = sv.node.post(sv.keys, [("report", body)])[0].id
        la.node.ingest([e.raw for e in sv.node.store.events()])
        posted = k.post_all(la, sv)  # the plan sv posts now never reaches la
        yield World(la, sv, posted, lying)
    finally:
        close_all(members)


async def page(site: Site, path: str) -> str:
    status, html, response = await site.get(path)
    assert status == 200, path
    assert response.headers["Content-Security-Policy"] == CSP
    # no script of the page's own but the view's file: nothing a value could add
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/live.js" defer>']
    assert not re.search(r"href=\"\s*(javascript|data|vbscript):", html, re.I), path
    assert "onmouseover=" not in html.replace("onmouseover=&#34;", "")
    return html


def section(html: str, anchor: str) -> str:
    """The <section> whose heading has this id."""
    found = re.search(rf'<section[^>]*aria-labelledby="{anchor}".*?</section>', html, re.S)
    assert found is not None, anchor
    return found.group(0)


def escaped(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&#34;").replace("'", "&#39;")


# --- meetings ------------------------------------------------------------------------------


async def test_a_meetings_page_shows_each_dates_minutes_and_attendance_latest_first(
    world: World,
) -> None:
    async with served(world.la) as site:
        html = await page(site, f"/event/{world.posted.meeting.hex()}")
        assert escaped(k.MEETING) in html  # the title, as text
        assert "<script>alert" not in html
        assert escaped("1. <script>alert('agenda')</script>\n2. The march") in html
        assert re.search(r"<dt>Zone</dt><dd[^>]*>America/El_Salvador</dd>", html)
        assert re.search(
            r"<dt>Repeat</dt><dd[^>]*><span class=\"badge repeat-weekly\">weekly<", html
        )
        # its place is a web address: a link that tells the other site nothing
        assert f'<a href="{escaped(k.ZOOM)}" rel="noopener noreferrer nofollow" dir="ltr">' in html
        now = section(html, "now")
        next_date = re.search(r"<dt>Next date</dt><dd[^>]*>(.*?)</dd>", now, re.S)
        assert next_date is not None
        assert "18:00" in next_date.group(1)
        assert "America/El_Salvador" in next_date.group(1)
        dates = section(html, "dates")
        later, earlier = (
            dates.index(f'datetime="{k.day(-7)}"'),
            dates.index(f'datetime="{k.day(-14)}"'),
        )
        assert later < earlier  # the latest first
        held = dates[earlier:]
        assert escaped(k.MINUTES) in held  # its lines kept, its tags shown as text
        assert "<b>marchar" not in html
        assert re.findall(r'<li dir="auto">([^<]*)</li>', held) == [escaped(a) for a in k.ATTENDED]
        assert re.search(r"<dt>Guests</dt><dd[^>]*>3</dd>", held)
        assert escaped(k.LATER_MINUTES) in dates[later:earlier]

        html = await page(site, "/meetings")
        assert "<th>Next date</th>" in html
        assert escaped(k.MEETING) in html
        assert f'<a href="{escaped(k.ZOOM)}"' in html

        # an odd place stays text, on the list and on its page
        for path in ("/meetings", f"/event/{world.posted.odd_meeting.hex()}"):
            html = await page(site, path)
            assert escaped(k.ODD_PLACE) in html


async def test_an_address_with_a_quote_in_it_is_text_not_a_link(world: World) -> None:
    la = world.la
    values = {"title": "Quoted", "when": f"{k.day(3)} 10:00", "zone": "UTC", "place": k.QUOTED}
    item = la.node.post(la.keys, [("meeting", POSTABLE["meeting"].build(values))])[0].id
    async with served(la) as site:
        html = await page(site, f"/event/{item.hex()}")
        assert escaped(k.QUOTED) in html
        assert 'href="https://x.example.org/' not in html


# --- reports -------------------------------------------------------------------------------


def _article(html: str, title: str) -> str:
    found = re.search(
        rf"<article[^>]*>(?:(?!</article>).)*{re.escape(title)}.*?</article>", html, re.S
    )
    assert found is not None, title
    return found.group(0)


async def test_reports_show_their_state_link_and_plans(world: World) -> None:
    posted = world.posted
    async with served(world.la) as site:
        html = await page(site, "/reports")
        for state, title in k.REPORTS.items():
            assert f'class="badge state-{state}"' in _article(html, escaped(title)), state
        published = _article(html, escaped(k.REPORTS["published"]))
        assert f'<a href="{k.PUBLISHED_LINK}" rel="noopener noreferrer nofollow"' in published
        for_paper = _article(html, escaped(k.REPORTS["for-paper"]))
        assert "2 plans" in for_paper
        assert 'href="/reports?tags=housing"' in for_paper
        assert LYING not in html  # a payload it cannot read is no report

        html = await page(site, "/reports?state=published")
        assert escaped(k.REPORTS["published"]) in html
        assert all(escaped(t) not in html for s, t in k.REPORTS.items() if s != "published")
        assert "1 result" in html
        html = await page(site, "/reports?state=for-paper")
        assert escaped(k.REPORTS["for-paper"]) in html
        assert "1 result" in html

        html = await page(site, f"/event/{posted.reports['for-paper'].hex()}")
        now = section(html, "now")
        assert 'class="badge state-for-paper"' in now
        plans = re.search(r'<ul class="refs">(.*?)</ul>', now, re.S)
        assert plans is not None
        items = re.findall(r"<li>(.*?)</li>", plans.group(1))
        assert items[0] == f'<a href="/event/{posted.plan.hex()}" dir="auto">{escaped(k.PLAN)}</a>'
        assert f"<code>{posted.missing_plan[:12]}</code>" in items[1]
        assert "not here yet" in items[1]
        assert "href" not in items[1]

        html = await page(site, f"/event/{posted.reports['published'].hex()}")
        assert f'<a href="{k.PUBLISHED_LINK}"' in section(html, "now")

        html = await page(site, f"/event/{world.lying.hex()}")
        # shown as text, not a link
        assert re.search(r"<dt>Link</dt><dd[^>]*>javascript:alert\(1\)</dd>", html)
        assert "As it stands now" not in html  # and no report


# --- contacts ------------------------------------------------------------------------------


async def test_contacts_show_their_follow_up_what_is_late_or_due_and_their_notes(
    world: World,
) -> None:
    async with served(world.la) as site:
        html = await page(site, "/contacts")
        late = _article(html, escaped(k.LATE))
        assert 'class="item private overdue"' in late
        assert 'class="badge stage-takes-tasks">takes-tasks<' in late
        assert re.search(r"<dt>Follower</dt><dd[^>]*>Ana</dd>", late)
        assert escaped("Ask her to chair <the> assembly") in late
        assert "overdue by 3 days" in late
        notes = re.findall(r'<span dir="auto">([^<]*)</span></li>', late)
        assert notes == [escaped(n) for n in k.NOTES]  # the history, in order
        due = _article(html, escaped(k.DUE_TODAY))
        assert "due today" in due
        assert "overdue" not in due
        assert 'class="badge stage-talked">talked<' in due

        html = await page(site, "/contacts?overdue=1")
        assert escaped(k.LATE) in html
        assert escaped(k.DUE_TODAY) not in html

        html = await page(site, f"/event/{world.posted.late.hex()}")
        now = section(html, "now")
        assert [escaped(n) in now for n in k.NOTES] == [True, True]
        assert "overdue by 3 days" in now

    async with served(world.la, keys=False) as site:  # without its keys: nothing
        html = await page(site, "/contacts")
        assert escaped(k.LATE) not in html
        assert "Contacts are private." in html


# --- shifts --------------------------------------------------------------------------------


async def test_shifts_show_each_slots_place_time_zone_people_and_who_is_short(
    world: World,
) -> None:
    async with served(world.la) as site:
        for path in ("/shifts", f"/event/{world.posted.shift.hex()}"):
            html = await page(site, path)
            slots = section(html, "slots")
            assert "<th>Place</th>" in slots
            rows = re.findall(r"<tr(?: class=\"short\")?>.*?</tr>", slots, re.S)
            taken = next(r for r in rows if f'datetime="{k.day(1)}"' in r)
            assert 'class="short"' not in taken
            assert k.SHIFT_PLACE in taken
            assert "05:30–07:00 America/El_Salvador" in taken
            assert ", ".join(k.TAKERS) in taken
            assert "enough" in taken
            other = next(r for r in rows if f'datetime="{k.day(2)}"' in r)
            assert 'class="short"' in other
            assert "short of 2" in other
            assert "nobody yet" in other
