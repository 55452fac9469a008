"""What the web view keeps between pages and writes outside its templates shows what the
templates showed: a list's table written in Python (node/web/view.py ``table_rows``)
is byte for byte the template's own loop, for plans (late, due today, without a date,
private, of every status), meetings and shifts in three languages; the coming slots'
rows (``slot_rows``) escape every value of a member's as Jinja2 did; a moment in words
is its own zone's wall time even when the cache holds the same instant in another
zone; and the rows a list hands out are copies of those it keeps."""

from __future__ import annotations

import datetime
import html
import re
import zoneinfo
from pathlib import Path

import pytest

from node import private
from node.web import i18n
from node.web.data import Reader
from node.web.lists import Filters
from node.web.view import View
from protocol.kinds import POSTABLE
from tests.net import close_all, make_network
from tests.test_web_http import served
from tests.web_kinds import ODD_PLACE, QUOTED, ZOOM, day

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


PLANS = [
    {"title": "Print <em>leaflets</em>", "owner": "Ana & 'Rosa'", "due": day(-3)},
    {"title": "Due today", "owner": "Luis", "due": day(0), "status": "doing"},
    {"title": "Late but done", "due": day(-10), "status": "done"},
    {"title": "No date <b>", "owner": ""},
    {"title": "Later", "owner": ZOOM, "due": day(9), "status": "dropped"},
    {"title": "Late, dropped", "due": day(-1), "status": "dropped"},
]


async def test_a_table_written_in_python_is_the_templates_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la, sv = members
    try:
        spec = POSTABLE["plan"]
        la.node.post(la.keys, [("plan", spec.build(v)) for v in PLANS])
        sv.node.post(sv.keys, [("plan", spec.build({"title": "From SV", "due": day(-2)}))])
        la.node.ingest([e.raw for e in sv.node.store.events()])
        readers = private.recipients(la.node, la.keys, [])
        hidden = spec.build({"title": "Private <i>plan</i>", "due": day(-4)})
        la.node.post(la.keys, [private.seal_item(la.node, la.keys, "plan", hidden, readers)])
        meeting = {"zone": "America/El_Salvador", "repeat": "weekly", "place": ZOOM}
        la.node.post(
            la.keys,
            [
                ("meeting", POSTABLE["meeting"].build({**meeting, **v}))
                for v in (
                    {"title": "Asamblea <script>", "when": f"{day(-21)} 18:00"},
                    {"title": "Once", "when": f"{day(3)} 09:30", "repeat": "none"},
                    {"title": "Odd place", "when": f"{day(-400)} 07:00", "place": ODD_PLACE},
                    {"title": "Quoted", "when": f"{day(1)} 20:00", "place": QUOTED},
                    {"title": "Kolkata", "when": f"{day(2)} 19:00", "zone": "Asia/Kolkata"},
                )
            ],
        )
        shift = {"weekdays": "mon,wed", "start": "22:00", "end": "06:00", "since": day(0)}
        la.node.post(
            la.keys,
            [
                ("shift", POSTABLE["shift"].build({**shift, "zone": "Africa/Johannesburg", **v}))
                for v in (
                    {"title": "Puerta <b>", "place": "Zona & 'franca'", "needed": "2"},
                    {"title": "Link", "place": ZOOM, "until": day(20)},
                    {"title": "No place", "weekdays": "sun"},
                )
            ],
        )
        paths = ["/plans", "/plans?overdue=1", "/plans?sort=status", "/meetings", "/shifts"]
        shown: dict[str, list[str]] = {"python": [], "template": []}
        for way, pages in shown.items():
            if way == "template":  # the template's own loop, as for a column it must draw
                monkeypatch.setattr(View, "table_rows", lambda *a, **k: None)
            async with served(la) as site:
                for lang in ("en", "es", "hi"):
                    for path in paths:
                        sep = "&" if "?" in path else "?"
                        status, page, _ = await site.get(f"{path}{sep}lang={lang}")
                        assert status == 200
                        pages.append(page)
        for path, python, template in zip(
            paths * 3, shown["python"], shown["template"], strict=True
        ):
            assert python == template, path
        plans = shown["python"][0]
        assert "Private &lt;i&gt;plan&lt;/i&gt;" in plans
        assert '<strong class="badge">due today</strong>' in plans
        assert plans.count('<strong class="badge overdue">') == 3  # and the private one
        assert "<em>" not in plans
        assert "<script>" not in shown["python"][3]
    finally:
        close_all(members)
