"""What the web view keeps between pages and writes outside its templates shows what the
templates showed: the coming slots' rows (node/web/view.py ``slot_rows``) escape every
value of a member's as Jinja2 did, a moment in words is its own zone's wall time even
when the cache holds the same instant in another zone, and the rows a list hands out
are copies of those it keeps."""

from __future__ import annotations

import datetime
import html
import re
import zoneinfo
from pathlib import Path

from node.web import i18n
from node.web.data import Reader
from node.web.lists import Filters
from protocol.kinds import POSTABLE
from tests.net import close_all, make_network
from tests.test_web_http import served
from tests.web_kinds import day

TITLE = "Puerta <script>alert('t')</script> & \"más\""
PLACE = "<b>Zona</b> franca & 'San Bartolo'"
NOTE_WHO = '<i>Luis</i> & "Ana"'


def _escaped(text: str) -> str:
    """As markupsafe (Jinja2's autoescape) writes it."""
    return html.escape(text, quote=False).replace('"', "&#34;").replace("'", "&#39;")


async def test_the_coming_slots_escape_every_members_value(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la = members[0]
    try:
        values = {
            "title": TITLE,
            "place": PLACE,
            "weekdays": "mon,tue,wed,thu,fri,sat,sun",
            "start": "22:00",
            "end": "06:00",
            "zone": "America/El_Salvador",
            "since": day(0),
            "needed": "3",
        }
        shift = la.node.post(la.keys, [("shift", POSTABLE["shift"].build(values))])[0].id
        la.node.post(
            la.keys,
            [
                ("shift.take", {"v": 1, "of": shift, "date": day(1), "who": who})
                for who in (NOTE_WHO, "Marta")
            ],
        )
        async with served(la) as site:
            for path, short in (
                ("/shifts", "short of {n}"),
                (f"/event/{shift.hex()}", "short of {n}"),
                ("/shifts?lang=es", "faltan {n}"),  # and Spanish from here on (a cookie)
            ):
                _, page, _ = await site.get(path)
                slots = page[page.index('<table class="slots">') : page.index("</table>")]
                rows = re.findall(r"    <tr(?: class=\"short\")?>\n.*?</tr>\n", slots, re.S)
                assert len(rows) >= 20  # every day for four weeks (less when run late)
                assert "<script>" not in slots
                assert "<b>" not in slots
                assert "<i>" not in slots
                for row in rows:
                    assert row.startswith('    <tr class="short">\n      <td><time datetime="')
                    assert f'<a href="/event/{shift.hex()}" dir="auto">{_escaped(TITLE)}</a>' in row
                    assert f'<td dir="auto">{_escaped(PLACE)}</td>' in row
                    assert "22:00–06:00 America/El_Salvador" in row
                taken = next(r for r in rows if f'datetime="{day(1)}"' in r)
                assert f"{_escaped(NOTE_WHO)}, Marta" in taken
                assert f"<strong>{short.format(n=1)}</strong>" in taken
                other = next(r for r in rows if f'datetime="{day(2)}"' in r)
                assert f"<strong>{short.format(n=3)}</strong>" in other
    finally:
        close_all(members)


def test_a_moment_in_words_is_its_own_zones_wall_time() -> None:
    instant = datetime.datetime(2026, 3, 12, 20, 5, tzinfo=datetime.UTC)
    there = instant.astimezone(zoneinfo.ZoneInfo("America/El_Salvador"))
    kolkata = instant.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert instant == there == kolkata  # equal datetimes: the cache must tell them apart
    tr = i18n.Translator("en")
    assert tr.moment(instant) == "March 12, 2026, 8:05\u202fPM"
    assert tr.moment(there) == "March 12, 2026, 2:05\u202fPM"
    assert tr.moment(kolkata) == "March 13, 2026, 1:35\u202fAM"
    assert tr.moment(there) == "March 12, 2026, 2:05\u202fPM"  # asked again, from the cache
    assert i18n.Translator("es").moment(there) != tr.moment(there)


def test_the_rows_a_list_hands_out_are_copies(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la = members[0]
    try:
        spec = POSTABLE["plan"]
        la.node.post(la.keys, [("plan", spec.build({"title": "Pintar", "due": "2026-01-01"}))])
        reader = Reader(la.node)
        try:
            first = reader.items_page(spec, Filters(sort="due"), "2026-06-01").rows[0]
            assert first["overdue"] is True
            first["title"] = "changed"
            first["overdue"] = "changed"
            again = reader.items_page(spec, Filters(sort="due"), "2025-06-01").rows[0]
            assert again["title"] == "Pintar"
            assert again["overdue"] is False
            shifts = reader.latest_items("plan", 5)
            shifts[0]["title"] = "changed"
            assert reader.latest_items("plan", 5)[0]["title"] == "Pintar"
        finally:
            reader.close()
    finally:
        close_all(members)
