"""The calendar: shifts, meetings and plans' due dates by day (protocol/calendar.py), as
iCalendar (node/ics.py) from the web view (``/calendar.ics``) and from ``commune calendar
FILE.ics`` in its own process, and as a week and a month on the web view, in the
viewer's time zone with the item's own shown where it differs.

The feed is read back with the same library a calendar app's code would use
(``icalendar``): its times, zones, whole days, ids and escaping are checked as read, not
as text.
"""

from __future__ import annotations

import datetime
import stat
import time
import zoneinfo
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest

from crypto.identity import NodeKeys
from node.home import Home
from node.service import Node
from node.web import start_web
from node.web.access import FEED_FILE
from node.web.calendar import MONTH_DAY_ENTRIES
from node.web.state import CALENDAR_PAGES, STATE
from protocol import calendar
from protocol.kinds import meeting, plan, shift
from tests.helpers import PASSPHRASE, commune
from tests.web_owner import current_address, owner_session

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
SV = zoneinfo.ZoneInfo("America/El_Salvador")
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
MONDAY = datetime.date(2026, 12, 7)

GATE = {
    "title": "Maquila gate",
    "place": "Gate A, San Bartolo",
    "weekdays": "mon,wed",
    "start": "05:30",
    "end": "07:00",
    "zone": "America/El_Salvador",
    "since": "2026-12-01",
    "needed": "2",
}
GROUP = {
    "title": "Discussion group",
    "when": "2026-11-28 18:00",
    "zone": "America/Los_Angeles",
    "place": "Library, room 2",
    "repeat": "weekly",
    "every": "2",
}


def row(spec: Any, item: str, values: dict[str, str], **extra: Any) -> dict[str, Any]:
    """An item's row as the projections give it (every field, "" when empty)."""
    payload = spec.build(values)
    found = {f.name: str(payload.get(f.name, "")) for f in spec.fields}
    return {"id": item * 32, "author": "ab" * 32, "ts": 1 << 20, **found, **extra}


def rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "shift": [row(shift.SPEC, "aa", GATE, taken={"2026-12-07": ["Ana"]})],
        "meeting": [row(meeting.SPEC, "bb", GROUP)],
        "plan": [
            row(plan.SPEC, "cc", {"title": "Leaflets for the gate", "due": "2026-12-09"}),
            row(plan.SPEC, "dd", {"title": "Done already", "due": "2026-12-09", "status": "done"}),
        ],
    }


# --- the entries of a range (protocol/calendar.py) --------------------------------------------


def test_a_week_holds_each_kinds_entries_in_the_viewers_days() -> None:
    found = calendar.entries(rows(), MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    assert [(e.kind, e.day.isoformat()) for e in found.entries] == [
        ("shift", "2026-12-07"),
        ("plan", "2026-12-09"),
        ("shift", "2026-12-09"),
        ("meeting", "2026-12-12"),
    ]
    monday_slot, _, wednesday_slot, group = found.entries
    assert monday_slot.start == datetime.datetime(2026, 12, 7, 5, 30, tzinfo=SV)
    assert monday_slot.end == datetime.datetime(2026, 12, 7, 7, 0, tzinfo=SV)
    assert (monday_slot.who, monday_slot.short) == (("Ana",), 1)
    assert (wednesday_slot.who, wednesday_slot.short) == ((), 2)
    # Saturday 18:00 in Los Angeles is Sunday 03:00 in Madrid: on the viewer's Sunday
    assert group.start == datetime.datetime(2026, 12, 12, 18, 0, tzinfo=LA)
    assert found.on(datetime.date(2026, 12, 13), MADRID) == [group]
    assert found.on(datetime.date(2026, 12, 12), MADRID) == []
    # the plan is a whole day; the done one has no due date to keep
    assert [e.title for e in found.entries if e.kind == "plan"] == ["Leaflets for the gate"]
    assert found.entries[1].all_day
    assert not found.cut


def test_the_same_items_give_the_same_entries_whatever_the_order_they_come_in() -> None:
    given = rows()
    flipped = {kind: list(reversed(items)) for kind, items in reversed(given.items())}
    week = (MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    assert calendar.entries(given, *week) == calendar.entries(flipped, *week)


def test_a_slot_on_the_night_the_clocks_go_forward_keeps_its_note() -> None:
    early = {**GATE, "zone": "America/Los_Angeles", "start": "02:30", "end": "04:00"}
    early |= {"weekdays": "sun", "since": "2027-03-01"}
    found = calendar.entries(
        {"shift": [row(shift.SPEC, "ee", early)]},
        datetime.date(2027, 3, 8),
        datetime.date(2027, 3, 14),
        LA,
    )
    (slot,) = found.entries
    assert slot.day == datetime.date(2027, 3, 14)
    assert slot.start == datetime.datetime(2027, 3, 14, 3, 30, tzinfo=LA)
    assert "does not exist" in slot.note


def test_a_range_is_bounded_in_days_and_in_entries() -> None:
    never_ends = {**GATE, "weekdays": "mon,tue,wed,thu,fri,sat,sun"}
    many = {"shift": [row(shift.SPEC, f"{i:02x}", never_ends) for i in range(20)]}
    found = calendar.entries(many, MONDAY, datetime.date(9999, 12, 31), MADRID)
    assert found.last == MONDAY + datetime.timedelta(days=calendar.MAX_DAYS - 1)
    assert len(found.entries) == calendar.MAX_ENTRIES
    assert found.cut
    # backwards is one day, not an error
    assert calendar.entries(rows(), MONDAY, MONDAY - datetime.timedelta(days=9), MADRID).last == (
        MONDAY
    )


def test_values_that_are_not_a_shift_or_a_meeting_give_no_entry() -> None:
    broken = {
        "shift": [{"id": "ff" * 32, "title": "?", "zone": "Mars/Olympus", "start": "05:00"}],
        "meeting": [{"id": "ee" * 32, "title": "?", "when": "soon", "zone": "Europe/Madrid"}],
        "plan": [{"id": "dd" * 32, "title": "?", "due": "2026-02-30"}],
    }
    assert (
        calendar.entries(broken, MONDAY, MONDAY + datetime.timedelta(days=6), MADRID).entries == ()
    )


def test_the_items_a_store_narrows_to_give_every_entry_of_the_range() -> None:
    """``might_show`` (what the web view asks the store for, node/web/data.py) keeps
    every item with an entry in the range: shifts and meetings that began and ended
    around it in zones on either side of the day line, one-offs, night shifts, plans
    due at its edges, and values that are not dates."""
    items: dict[str, list[dict[str, Any]]] = {"shift": [], "meeting": [], "plan": []}
    zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "America/El_Salvador", "Asia/Kolkata"]
    once_shift = {"repeat": "once", "weekdays": ""}
    for i in range(-20, 21):
        day = (MONDAY + datetime.timedelta(days=i)).isoformat()
        end = (MONDAY + datetime.timedelta(days=i + 3 * (i % 3))).isoformat()
        zone = zones[i % len(zones)]
        night = {"start": "23:30", "end": "00:30"} if i % 2 else {}
        items["shift"].append(
            row(shift.SPEC, f"{i + 50:02x}", {**GATE, "since": day, "until": end, "zone": zone})
        )
        items["shift"].append(
            row(shift.SPEC, f"{i + 150:02x}", {**GATE, **night, **once_shift, "since": day})
        )
        items["meeting"].append(
            row(meeting.SPEC, f"{i + 50:02x}", {**GROUP, "when": f"{day} 23:30", "zone": zone})
        )
        once = {"title": "Once", "when": f"{day} 00:15", "zone": zone}
        items["meeting"].append(row(meeting.SPEC, f"{i + 150:02x}", once))
        series = {**GROUP, "when": f"{day} 12:00", "repeat": "monthly", "until": end}
        items["meeting"].append(row(meeting.SPEC, f"{i + 100:02x}", series))
        status = ("open", "doing", "done")[i % 3]
        due = {"title": "Due", "due": day, "status": status}
        items["plan"].append(row(plan.SPEC, f"{i + 50:02x}", due))
    items["plan"].append({"id": "dd" * 32, "title": "?", "due": "2026-02-30"})
    items["meeting"].append({"id": "ee" * 32, "title": "?", "when": "soon", "zone": "UTC"})
    for first, days, viewer in [
        (MONDAY, 7, MADRID),
        (MONDAY, 1, zoneinfo.ZoneInfo("Pacific/Kiritimati")),
        (MONDAY + datetime.timedelta(days=9), 7, zoneinfo.ZoneInfo("Pacific/Pago_Pago")),
        (MONDAY - datetime.timedelta(days=13), 35, SV),
    ]:
        last = first + datetime.timedelta(days=days - 1)
        narrowed = {
            kind: [
                r
                for r in found
                if calendar.might_show(kind, r, first.isoformat(), last.isoformat())
            ]
            for kind, found in items.items()
        }
        assert sum(map(len, narrowed.values())) < sum(map(len, items.values()))
        everything = calendar.entries(items, first, last, viewer)
        assert everything.entries
        assert calendar.entries(narrowed, first, last, viewer) == everything


# --- a node with shifts, meetings and plans ---------------------------------------------------


def post_items(node: Node, keys: NodeKeys, title: str = "Maquila gate") -> dict[str, str]:
    made = node.post(
        keys,
        [
            ("shift", shift.SPEC.build({**GATE, "title": title})),
            ("meeting", meeting.SPEC.build(GROUP)),
            ("plan", plan.SPEC.build({"title": "Leaflets, flyers; posters", "due": "2026-12-09"})),
        ],
    )
    ids = {kind: e.id.hex() for kind, e in zip(("shift", "meeting", "plan"), made, strict=True)}
    node.post(
        keys, [("shift.take", {"v": 1, "of": made[0].id, "date": "2026-12-07", "who": "Ana"})]
    )
    return ids


@pytest.fixture
def salvador(tmp_path: Path) -> Any:
    home = Home(tmp_path / "sv")
    _, keys = home.init("El Salvador", None)
    node = Node.open(home)
    try:
        yield node, keys, post_items(node, keys, "Gate <script>alert(1)</script>")
    finally:
        node.close()


def read_feed(text: bytes) -> list[icalendar.Event]:
    parsed = icalendar.Calendar.from_ical(text)
    return list(parsed.walk("VEVENT"))


# --- the feed ----------------------------------------------------------------------------------


def test_the_feed_reads_back_with_its_times_zones_and_whole_days(salvador: Any) -> None:
    from node import ics  # noqa: PLC0415 - the module under test, beside the others

    node, _, ids = salvador
    text, found = ics.node_feed(node, MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    events = read_feed(text)
    assert len(events) == len(found.entries) == 4
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == 4
    assert f"{ids['shift']}-shift-2026-12-07@commune" in uids
    slot = next(e for e in events if str(e["UID"]).startswith(ids["shift"]))
    assert slot.decoded("DTSTART") == datetime.datetime(2026, 12, 7, 5, 30, tzinfo=SV)
    assert slot["DTSTART"].params["TZID"] == "America/El_Salvador"
    assert str(slot["SUMMARY"]) == "Gate <script>alert(1)</script> (short of 1)"
    assert "On it: Ana" in str(slot["DESCRIPTION"])
    assert "By El Salvador" in str(slot["DESCRIPTION"])
    assert str(slot["LOCATION"]) == "Gate A, San Bartolo"
    due = next(e for e in events if str(e["UID"]).startswith(ids["plan"]))
    assert due.decoded("DTSTART") == datetime.date(2026, 12, 9)
    assert due.decoded("DTEND") == datetime.date(2026, 12, 10)
    assert str(due["SUMMARY"]) == "Due: Leaflets, flyers; posters"  # escaped and read back
    # every zone a time names has its VTIMEZONE
    zones = {str(z["TZID"]) for z in icalendar.Calendar.from_ical(text).walk("VTIMEZONE")}
    assert zones == {"America/El_Salvador", "America/Los_Angeles"}
    # the same items and range: the same text, byte for byte
    again, _ = ics.node_feed(node, MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    assert again == text


def test_text_that_looks_like_icalendar_stays_inside_its_property() -> None:
    """A place cannot hold a line break (refused when written and when read), but the
    feed does not count on it: a row that had one still gives one event."""
    from node import ics  # noqa: PLC0415

    sneaky = "Hall\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:injected, \\; done"
    given = {"meeting": [{**row(meeting.SPEC, "bb", GROUP), "place": sneaky}]}
    found = calendar.entries(given, MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    text = ics.feed(found, name="LA", names=lambda _: "LA", changed={})
    events = read_feed(text)
    assert len(events) == 1
    assert str(events[0]["LOCATION"]) == sneaky.replace("\r\n", "\n")  # iCalendar has \\n only
    assert b"\r\nUID:evil" not in text


def test_private_items_are_never_in_the_feed(salvador: Any) -> None:
    from node import ics, private  # noqa: PLC0415

    node, keys, _ = salvador
    secret = shift.SPEC.build({**GATE, "title": "Secret gate"})
    readers = private.recipients(node, keys, [])
    node.post(keys, [private.seal_item(node, keys, "shift", secret, readers)])
    assert any(r["title"] == "Secret gate" for r in private.items(node, keys, "shift"))
    text, _ = ics.node_feed(node, MONDAY, MONDAY + datetime.timedelta(days=6), MADRID)
    assert b"Secret gate" not in text


# --- the command -------------------------------------------------------------------------------


def test_commune_calendar_writes_the_file_for_a_calendar_app(tmp_path: Path) -> None:
    home = tmp_path / "sv"
    env = {"COMMUNE_PASSPHRASE": PASSPHRASE}
    assert commune(home, "init", "--name", "El Salvador", env=env).returncode == 0
    opened = Home(home)
    keys = opened.unlock(PASSPHRASE.encode())
    node = Node.open(opened)
    try:
        post_items(node, keys)
    finally:
        node.close()
    out = tmp_path / "out" / "commune.ics"
    out.parent.mkdir()
    bad = commune(home, "calendar", str(out), "--since", "2026-02-30", env=env)
    assert bad.returncode == 2
    assert "--since must be a date that exists" in bad.stderr
    assert not out.exists()
    # in the machine's zone (here set: the days do not depend on where the test runs)
    zoned = {**env, "TZ": "Europe/Madrid"}
    made = commune(home, "calendar", str(out), "--since", "2026-12-07", "--weeks", "2", env=zoned)
    assert made.returncode == 0, made.stderr
    assert "Wrote" in made.stderr
    assert "6 entries from 2026-12-07 to 2026-12-20" in made.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    events = read_feed(out.read_bytes())
    assert sorted(str(e["SUMMARY"]) for e in events) == sorted(
        ["Maquila gate (short of 1)"]
        + ["Maquila gate (short of 2)"] * 3
        + ["Discussion group"]
        + ["Due: Leaflets, flyers; posters"]
    )


# --- the web view ------------------------------------------------------------------------------


async def _view(node: Node, keys: NodeKeys | None) -> Any:
    runner, port = await start_web(node, keys, host="127.0.0.1", port=0)
    return runner, port


async def test_the_week_and_the_month_in_the_viewers_zone(salvador: Any) -> None:
    node, keys, ids = salvador
    runner, _ = await _view(node, keys)
    try:
        session, _ = await owner_session(node.home.path)
        async with session:
            week = await _page(session, "/calendar?date=2026-12-09&zone=Europe/Madrid")
            assert "Week of 7 December 2026" in week
            assert "Times are in Europe/Madrid." in week
            # 05:30 in El Salvador is 12:30 in Madrid: both shown
            assert "12:30–14:00" in week
            assert "(05:30 America/El_Salvador)" in week
            assert "Gate &lt;script&gt;alert(1)&lt;/script&gt;" in week
            assert "<script>alert" not in week
            assert f'href="/event/{ids["meeting"]}"' in week
            assert "short of 1" in week
            assert "Ana" in week
            # in El Salvador's own zone, no second time is shown for its shift
            home_zone = await _page(session, "/calendar?date=2026-12-09&zone=America/El_Salvador")
            assert "05:30–07:00" in home_zone
            assert "(05:30 America/El_Salvador)" not in home_zone
            month = await _page(session, "/calendar?view=month&date=2026-12-20&zone=Europe/Madrid")
            assert "December 2026" in month
            assert month.count(f'href="/event/{ids["shift"]}"') == 9  # Mondays and Wednesdays
            assert 'class="outside"' in month  # the days of November and January around it
            spanish = await _page(session, "/calendar?view=month&date=2026-12-20&lang=es")
            assert "diciembre de 2026" in spanish
    finally:
        await runner.cleanup()


async def test_a_busy_day_of_the_month_shows_its_first_entries_and_links_its_week(
    salvador: Any,
) -> None:
    node, keys, _ = salvador
    # 2026-12-09 holds the gate's shift and a plan already: six more plans due that day
    node.post(
        keys,
        [("plan", plan.SPEC.build({"title": f"Busy {n}", "due": "2026-12-09"})) for n in range(6)],
    )
    runner, _ = await _view(node, keys)
    try:
        session, _ = await owner_session(node.home.path)
        async with session:
            month = await _page(session, "/calendar?view=month&date=2026-12-20&zone=Europe/Madrid")
            cell = month.split('datetime="2026-12-09"')[1].split("</td>")[0]
            assert cell.count('<li class="entry') == MONTH_DAY_ENTRIES
            assert "4 more" in cell  # 8 entries that day: the shift, seven plans
            assert 'href="/calendar?date=2026-12-09&amp;zone=Europe%2FMadrid"' in cell
            week = await _page(session, "/calendar?date=2026-12-09&zone=Europe/Madrid")
            day = week.split('datetime="2026-12-09"')[1].split("</li>\n</ol>")[0]
            assert all(f"Busy {n}" in week for n in range(6))
            assert "more" not in day
            spanish = await _page(session, "/calendar?view=month&date=2026-12-20&lang=es")
            assert "4 más" in spanish
    finally:
        await runner.cleanup()


async def test_a_bad_zone_or_date_is_named_and_left_out(salvador: Any) -> None:
    node, keys, _ = salvador
    runner, _ = await _view(node, keys)
    try:
        session, _ = await owner_session(node.home.path)
        async with session:
            page = await _page(session, "/calendar?zone=Mars/Olympus&date=2026-13-01")
            assert "Mars/Olympus is not a time zone this machine knows" in page
            assert "2026-13-01 is not a date; it was left out." in page
            page = await _page(session, "/calendar?zone=../../etc/passwd")
            assert "is not a time zone this machine knows" in page
            # the edges of the calendar are pages, not errors
            assert "Week of" in await _page(session, "/calendar?date=9999-12-31")
            assert "0001" in await _page(
                session, "/calendar?date=0001-01-01&view=month&zone=Asia/Kolkata"
            )
            assert "9999" in await _page(
                session, "/calendar?date=9999-12-31&view=month&zone=Pacific/Kiritimati"
            )
    finally:
        await runner.cleanup()


async def test_the_feed_takes_the_owners_cookie_or_its_own_key_and_nothing_else(
    salvador: Any,
) -> None:
    node, keys, _ = salvador
    runner, port = await _view(node, keys)
    base = f"http://127.0.0.1:{port}"
    try:
        key_file = node.home.path / FEED_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text(encoding="ascii").strip()
        async with aiohttp.ClientSession() as stranger:
            for path in ("/calendar.ics", "/calendar.ics?feed=wrong", "/calendar?feed=" + key):
                async with stranger.get(base + path) as response:
                    assert response.status == 403, path
                    assert "Maquila" not in await response.text()
            async with stranger.get(f"{base}/calendar.ics?feed={key}") as response:
                assert response.status == 200
                assert response.content_type == "text/calendar"
                events = read_feed(await response.read())
            assert any(str(e["SUMMARY"]).startswith("Gate <script>") for e in events)
        session, _ = await owner_session(node.home.path)
        async with session:
            async with session.get("/calendar.ics?lang=es") as response:
                assert response.status == 200
                assert "Vence: Leaflets" in (await response.read()).decode()
            page = await _page(session, "/calendar")
            assert f"{base}/calendar.ics?feed={key}" in page
    finally:
        await runner.cleanup()
    # the key stays across restarts: a subscription keeps working
    runner, _ = await _view(node, keys)
    try:
        assert (node.home.path / FEED_FILE).read_text(encoding="ascii").strip() == key
    finally:
        await runner.cleanup()


async def test_the_feed_is_written_again_once_the_log_grows(salvador: Any) -> None:
    """A calendar app's next ask gets the feed as written for the same log, day and
    language; a new item is in it at once."""
    node, keys, _ = salvador
    runner, _ = await _view(node, keys)
    try:
        session, _ = await owner_session(node.home.path)
        async with session:
            first = await _feed(session, "/calendar.ics")
            assert await _feed(session, "/calendar.ics") == first
            spanish = await _feed(session, "/calendar.ics?lang=es")
            assert "Vence: Leaflets" in spanish.decode()
            assert await _feed(session, "/calendar.ics?lang=en") == first
            tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
            banner = {"title": "Paint the banner", "due": tomorrow}
            node.post(keys, [("plan", plan.SPEC.build(banner))])
            after = await _feed(session, "/calendar.ics")
            assert "Paint the banner" in after.decode()
            assert "Leaflets" in after.decode()
            assert "Paint the banner" in (await _feed(session, "/calendar.ics?lang=es")).decode()
    finally:
        await runner.cleanup()


async def test_a_calendar_page_is_kept_as_drawn_until_the_log_grows(salvador: Any) -> None:
    """A page asked again for the same log, items, day, zone and language is the one
    drawn before; a new item, another zone or another language is drawn again."""
    node, keys, _ = salvador
    runner, _ = await _view(node, keys)
    try:
        session, _ = await owner_session(node.home.path)
        async with session:
            week = await _page(session, "/calendar?date=2026-12-09")
            assert await _page(session, "/calendar?date=2026-12-09") == week
            assert "Paint the banner" not in week
            madrid = await _page(session, "/calendar?date=2026-12-09&zone=Europe/Madrid")
            assert "Times are in Europe/Madrid." in madrid
            assert "diciembre" in await _page(session, "/calendar?date=2026-12-09&lang=es")
            banner = {"title": "Paint the banner", "due": "2026-12-10"}
            node.post(keys, [("plan", plan.SPEC.build(banner))])
            assert "Paint the banner" in await _page(session, "/calendar?date=2026-12-09")
            pages = runner.app[STATE].calendar
            assert 0 < len(pages) <= CALENDAR_PAGES
            for day in range(1, 29):  # more pages than are kept: the oldest go
                await _page(session, f"/calendar?date=2027-02-{day:02d}")
            assert len(pages) == CALENDAR_PAGES
    finally:
        await runner.cleanup()


async def _feed(session: aiohttp.ClientSession, path: str) -> bytes:
    async with session.get(path) as response:
        assert response.status == 200
        return await response.read()


async def _page(session: aiohttp.ClientSession, path: str) -> str:
    async with session.get(path) as response:
        assert response.status == 200, path
        return await response.text()


async def test_the_calendar_in_a_real_browser(salvador: Any) -> None:
    """The week and the month in Chromium, without an error on the console, saved as
    screenshots (test-artifacts/web/calendar-week.png, calendar-month.png)."""
    browser_tests = pytest.importorskip("tests.test_web_browser")
    node, keys, _ = salvador
    runner, port = await _view(node, keys)
    try:
        async with browser_tests.owner_page(current_address(node.home.path), "en-GB") as (
            page,
            problems,
        ):
            browser_tests.ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for view, count in (("week", 4), ("month", 9 + 2 + 1)):
                url = f"http://127.0.0.1:{port}/calendar?view={view}&date=2026-12-09"
                response = await page.goto(url + "&zone=America/El_Salvador")
                assert response is not None
                assert response.status == 200
                assert await page.locator("li.entry").count() >= count
                assert await page.locator("li.entry.short").count() >= 1
                # the alert in a title is text: no dialog opened, the title shown
                assert "Gate <script>alert(1)</script>" in await page.inner_text("main")
                shot = browser_tests.ARTIFACTS / f"calendar-{view}.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 0
            assert problems == []
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "zone", ["Asia/Kolkata", "America/El_Salvador", None, "EST5EDT,M3.2.0,M11.1.0"]
)
def test_the_machines_zone_gives_the_times_the_c_library_gives(
    zone: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node/ics.py ``machine_zone``: the zone TZ names, /etc/localtime's, or (a TZ the
    zone database does not name) dateutil's; at every instant of a year, the offset the
    C library gives for this machine."""
    from node import ics  # noqa: PLC0415 - the module under test, beside the others

    if zone is None:
        monkeypatch.delenv("TZ", raising=False)
    else:
        monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        found = ics.machine_zone()
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()
        for hour in range(0, 365 * 24, 7):
            moment = start + hour * 3600
            expected = datetime.datetime.fromtimestamp(moment).astimezone().utcoffset()
            assert datetime.datetime.fromtimestamp(moment, found).utcoffset() == expected
    finally:
        monkeypatch.undo()
        time.tzset()
