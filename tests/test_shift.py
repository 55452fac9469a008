"""Shifts (protocol/kinds/shift.py): recurring slots that members take and leave.

Their days expanded from the spec's fields (weekly, every N weeks, once, until, never
ending but bounded), their times on days when the clocks change, every bad value
refused in one line with nothing stored, taking and leaving a day's slot through the
real command in its own process, ``show shifts`` (text and ``--json``), the merge of a
take and a leave written on two nodes at once and synced over loopback, and the web
view's list with its coming slots.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from node import daemon, demo
from node.home import Home
from node.service import Node
from node.web import start_web
from protocol import encoding
from protocol.errors import BadPayload
from protocol.kinds import EDITS, POSTABLE, register, text_problem, unregister
from protocol.kinds.edits import rank_of
from protocol.kinds.shift import MAX_DAYS, SPEC, occurrences, wall_time
from tests.helpers import commune
from tests.net import Member, close_all, make_network
from tests.test_kind_registry import served
from tests.web_owner import current_address

GATE = {
    "title": "Maquila gate",
    "place": "Gate A, San Bartolo",
    "weekdays": "mon,thu",
    "start": "05:30",
    "end": "07:00",
    "zone": "America/El_Salvador",
    "since": "2026-12-01",
    "needed": "2",
}


def values(**changes: str) -> dict[str, str]:
    """A shift's values as an item holds them (every field, "" when empty)."""
    payload = SPEC.build({**GATE, **changes})
    return {f.name: str(payload.get(f.name, "")) for f in SPEC.fields}


def days(first: str, last: str, **changes: str) -> list[str]:
    found = occurrences(
        values(**changes), datetime.date.fromisoformat(first), datetime.date.fromisoformat(last)
    )
    return [o.slot for o in found]


# --- the days of a shift ---------------------------------------------------------------------


def test_the_kind_is_registered_with_its_take_and_leave() -> None:
    assert POSTABLE["shift"] is SPEC
    assert [e for e in EDITS if e.startswith("shift.")] == [
        "shift.update",
        "shift.take",
        "shift.leave",
    ]


def test_a_weekly_shift_is_on_its_weekdays_from_since_until_until() -> None:
    assert days("2026-11-23", "2026-12-13") == ["2026-12-03", "2026-12-07", "2026-12-10"]
    assert days("2026-12-01", "2026-12-31", until="2026-12-10") == [
        "2026-12-03",
        "2026-12-07",
        "2026-12-10",
    ]
    assert days("2026-12-01", "2026-12-31", until="2026-12-01") == []  # a Tuesday
    # no weekdays: the weekday of since
    assert days("2026-12-01", "2026-12-20", weekdays="") == [
        "2026-12-01",
        "2026-12-08",
        "2026-12-15",
    ]


def test_every_n_weeks_counts_from_the_week_of_since() -> None:
    # since is a Tuesday: its week (from Monday 2026-11-30) is the first; then every 3rd
    found = days("2026-11-30", "2027-01-31", every="3", weekdays="mon,wed")
    assert found == ["2026-12-02", "2026-12-21", "2026-12-23", "2027-01-11", "2027-01-13"]
    # the same days, whatever day the listing starts on
    assert days("2027-01-01", "2027-01-31", every="3", weekdays="mon,wed") == found[3:]
    later = days("2031-06-01", "2031-08-31", every="3", weekdays="mon")
    assert all(
        (datetime.date.fromisoformat(d) - datetime.date(2026, 11, 30)).days % 21 == 0 for d in later
    )


def test_a_shift_once_is_on_its_one_day() -> None:
    once = {"repeat": "once", "weekdays": "", "since": "2026-12-12"}
    assert days("2026-12-01", "2026-12-31", **once) == ["2026-12-12"]
    assert days("2026-12-13", "2026-12-31", **once) == []


def test_a_shift_that_never_ends_is_expanded_over_a_bounded_range_only() -> None:
    forever = values(since="1000-01-06", weekdays="mon,tue,wed,thu,fri,sat,sun")
    began = time.perf_counter()
    found = occurrences(forever, datetime.date(9000, 1, 1), datetime.date(9999, 12, 31))
    assert len(found) == MAX_DAYS  # a year or so, not eight thousand
    assert time.perf_counter() - began < 1.0


def test_the_first_and_last_days_of_the_calendar_give_no_error() -> None:
    every_day = {"weekdays": "mon,tue,wed,thu,fri,sat,sun", "start": "23:00", "end": "01:00"}
    assert days("9999-12-25", "9999-12-31", since="9999-12-01", **every_day)[-1] == "9999-12-30"
    assert days("9999-12-31", "9999-12-31", since="9999-12-01", **every_day) == []
    once = {"repeat": "once", "weekdays": "", "zone": "Pacific/Kiritimati", "since": "0001-01-03"}
    assert days("0001-01-01", "0001-01-09", **once) == ["0001-01-03"]
    assert days("0001-01-01", "0001-01-07", since="0001-01-01", **every_day)[0] == "0001-01-02"


def test_a_night_shift_ends_the_next_day() -> None:
    (night,) = occurrences(
        values(start="22:00", end="06:00"), datetime.date(2026, 12, 3), datetime.date(2026, 12, 3)
    )
    assert night.start.isoformat() == "2026-12-03T22:00:00-06:00"
    assert night.end.isoformat() == "2026-12-04T06:00:00-06:00"


def test_on_the_day_the_clocks_go_forward_a_time_that_does_not_exist_moves_forward() -> None:
    new_york = {"zone": "America/New_York", "weekdays": "sun", "since": "2027-03-01"}
    found = occurrences(
        values(start="02:30", end="10:00", **new_york),
        datetime.date(2027, 3, 7),
        datetime.date(2027, 3, 21),
    )
    assert [o.start.isoformat() for o in found] == [
        "2027-03-07T02:30:00-05:00",
        "2027-03-14T03:30:00-04:00",  # 02:30 is not on the clock that day
        "2027-03-21T02:30:00-04:00",
    ]
    assert [bool(o.note) for o in found] == [False, True, False]
    assert "02:30 does not exist on 2027-03-14 in America/New_York" in found[1].note
    assert found[1].end.isoformat() == "2027-03-14T10:00:00-04:00"


def test_on_the_day_the_clocks_go_back_a_time_that_happens_twice_is_the_first() -> None:
    zone = {"zone": "America/New_York", "weekdays": "sun", "since": "2027-11-01"}
    (slot,) = occurrences(
        values(start="01:30", end="05:00", **zone),
        datetime.date(2027, 11, 7),
        datetime.date(2027, 11, 7),
    )
    assert slot.start.isoformat() == "2027-11-07T01:30:00-04:00"  # before the change
    assert "happens twice" in slot.note
    moment, note = wall_time(datetime.date(2027, 11, 8), datetime.time(1, 30), slot.start.tzinfo)  # type: ignore[arg-type]
    assert note == ""
    assert moment.utcoffset() == datetime.timedelta(hours=-5)


def test_a_zone_this_machine_does_not_know_gives_no_slot_but_the_same_item() -> None:
    # a peer's shift is read by the same rules everywhere (the zone's shape only); a node
    # whose database lacks the zone lists no slot of it
    stored = {**values(), "zone": "Mars/Olympus_Mons"}
    assert SPEC.read({"v": 1, **{k: v for k, v in stored.items() if v}}) is not None
    assert occurrences(stored, datetime.date(2026, 12, 1), datetime.date(2026, 12, 31)) == []


# --- bad values: one clear error naming the field ----------------------------------------------

BAD = [
    ({"title": ""}, "'title' is required"),
    ({"title": "x" * 201}, "'title' is 201 characters"),
    ({"place": "Gate\x1b[31m"}, "'place' contains a control character"),
    ({"weekdays": "monday"}, "'weekdays' must be weekdays separated by commas"),
    ({"weekdays": "mon,mon"}, "'weekdays' holds 'mon' twice"),
    ({"weekdays": "mon, thu"}, "'weekdays' must be weekdays"),
    ({"start": "5:30"}, "'start' must be a time like 06:00"),
    ({"start": "24:00"}, "'start' must be a time"),
    ({"end": "07:60"}, "'end' must be a time"),
    ({"end": "05:30"}, "'end' is the same time as 'start'"),
    ({"zone": "El Salvador"}, "'zone' must be a time zone name"),
    ({"zone": "America/Atlantis"}, "'zone' 'America/Atlantis' is not a time zone"),
    ({"zone": "../../etc/passwd"}, "'zone' must be a time zone name"),
    ({"repeat": "daily"}, "'repeat' must be one of weekly, once"),
    ({"every": "0"}, "'every' must be from 1 to 52"),
    ({"every": "53"}, "'every' must be from 1 to 52"),
    ({"every": "tw"}, "'every' must be a whole number from 1 to 52"),
    ({"every": "02"}, "'every' must be a whole number"),
    ({"since": ""}, "'since' is required"),
    ({"since": "2026-02-30"}, "'since' must be a date that exists"),
    ({"until": "2026-11-30"}, "'until' 2026-11-30 is before 'since' 2026-12-01"),
    ({"until": "soon"}, "'until' must be a date like"),
    ({"needed": "0"}, "'needed' must be from 1 to 100"),
    ({"needed": "101"}, "'needed' must be from 1 to 100"),
    ({"needed": "-1"}, "'needed' must be a whole number"),
    ({"repeat": "once", "until": "2026-12-09"}, "'until' applies to a shift that repeats"),
    ({"repeat": "once", "weekdays": "mon"}, "'weekdays' must be tue or empty"),
    (
        {
            "repeat": "once",
            "weekdays": "",
            "zone": "America/New_York",
            "since": "2027-03-14",
            "start": "02:30",
        },
        "'start' 02:30 does not exist on 2027-03-14 in America/New_York",
    ),
    (
        {
            "repeat": "once",
            "weekdays": "",
            "zone": "America/New_York",
            "since": "2027-11-07",
            "start": "01:15",
        },
        "'start' 01:15 happens twice on 2027-11-07",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[m for _, m in BAD])
def test_every_bad_value_is_refused_naming_its_field(changes: dict[str, str], message: str) -> None:
    with pytest.raises(BadPayload, match=re.escape(message)):
        SPEC.build({**GATE, **changes})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date", "", "'date' is required"),
        ("date", "2026-12-32", "'date' must be a date that exists"),
        ("date", "10/12/2026", "'date' must be a date like 2026-12-31"),
        ("who", "", "'who' is required"),
        ("who", "x" * 101, "'who' is 101 characters; at most 100"),
        ("who", "Ana\nLuis", "'who' must be a single line"),
    ],
)
def test_a_bad_day_or_person_of_a_take_is_refused_naming_it(
    field: str, value: str, message: str
) -> None:
    """The command line cleans --date and --who with these fields before anything else
    (node/cli_slots.py)."""
    assert SPEC.slots is not None
    slot_field = SPEC.slots.slot if field == "date" else SPEC.slots.who
    with pytest.raises(BadPayload, match=re.escape(message)):
        slot_field.clean(value)


def test_a_take_with_a_control_character_is_refused_when_read() -> None:
    body = encoding.encode({"v": 1, "of": b"\x01" * 32, "date": "2026-12-03", "who": "A\u202eB"})
    assert (
        text_problem("shift.take", body)
        == "its 'who' contains a control character (U+202E RIGHT-TO-LEFT OVERRIDE)"
    )


# --- the command line, in its own process ----------------------------------------------------


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(home: Path, *args: str) -> str:
    """The one error line of a refused command."""
    result = commune(home, *args)
    assert result.returncode in (1, 2), result.stdout
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def options(**changes: str) -> list[str]:
    out = []
    for name, value in {**GATE, **changes}.items():
        out += [f"--{name}", value]
    return out


def kinds(home: Path) -> list[str]:
    """The kinds of the node's events, in the order of its log (read in this process)."""
    node = Node.open(Home(home))
    try:
        return [event.kind for event in node.store.events()]
    finally:
        node.close()


@pytest.fixture
def la(tmp_path: Path) -> Path:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    return home


BAD_SOME = [
    ({"zone": "America/Atlantis"}, "'zone' 'America/Atlantis' is not a time zone"),
    (
        {
            "repeat": "once",
            "weekdays": "",
            "zone": "America/New_York",
            "since": "2027-03-14",
            "start": "02:30",
        },
        "'start' 02:30 does not exist on 2027-03-14 in America/New_York",
    ),
]


def refusals(home: Path, cases: list[tuple[list[str], str]]) -> None:
    """Each command refused in one line that starts with its expected text (run side by
    side: each is its own process)."""

    def run(case: tuple[list[str], str]) -> tuple[str, str]:
        return refused(home, *case[0]), case[1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        for line, expected in pool.map(run, cases):
            assert line.startswith("error: " + expected), line


def test_shifts_are_posted_taken_left_and_shown_with_the_real_command(la: Path) -> None:
    shift = ok(la, "post", "shift", *options()).strip()
    short = shift[:8]
    ok(la, "post", "shift", "--take", short, "--date", "2026-12-10", "--who", "Ana")
    ok(la, "post", "shift", "--take", short, "--date", "2026-12-07", "--who", "Luis")
    ok(la, "post", "shift", "--take", short, "--date", "2026-12-14", "--who", "Ana")
    ok(la, "post", "shift", "--leave", short, "--date", "2026-12-14", "--who", "ana")
    before = kinds(la)

    take = ["post", "shift", "--take", short, "--date"]
    refusals(
        la,
        [
            ([*take, "2026-12-10", "--who", "ANA"], "ANA already has the slot of 2026-12-10"),
            (
                ["post", "shift", "--leave", short, "--date", "2026-12-10", "--who", "Luis"],
                "Luis is not on the slot of 2026-12-10 of this shift",
            ),
            ([*take, "2026-12-09", "--who", "Ana"], "'date' 2026-12-09 is not a day of this"),
            (
                ["post", "shift", "--title", "x", "--date", "2026-12-10", "--who", "Ana"],
                "--date and --who go with --take or --leave",
            ),
            (["show", "shifts", "--start", "2026-02-30"], "--start must be a date that exists"),
            (
                ["post", "shift", "--edit", short, "--until", "2026-11-01"],
                "'until' 2026-11-01 is before 'since' 2026-12-01",
            ),
            # a few of the rules of a new shift (each is tested above, in-process, by the
            # same spec the command builds with)
            *((["post", "shift", *options(**changes)], message) for changes, message in BAD_SOME),
        ],
    )
    assert kinds(la) == before  # nothing stored

    rows = json.loads(ok(la, "show", "shifts", "--start", "2026-12-07", "--weeks", "2", "--json"))
    assert [(r["date"], r["taken_by"], r["short"]) for r in rows] == [
        ("2026-12-07", ["Luis"], 1),
        ("2026-12-10", ["Ana"], 1),
        ("2026-12-14", [], 2),  # Ana took it and left it
        ("2026-12-17", [], 2),
    ]
    first = rows[0]
    assert set(first) == {
        "id", "author", "author_name", "ts", "title", "place", "weekdays", "start", "end", "zone",
        "repeat",
        "every", "since", "until", "needed", "date", "starts_at", "ends_at", "taken_by",
        "short", "note", "tags",
    }  # fmt: skip
    assert first["id"] == shift
    assert first["needed"] == 2
    assert first["starts_at"] == "2026-12-07T05:30:00-06:00"
    assert first["ends_at"] == "2026-12-07T07:00:00-06:00"
    assert first["note"] == ""

    text = ok(la, "show", "shifts", "--start", "2026-12-07", "--weeks", "1")
    assert text.splitlines() == [
        f"2026-12-07 Mon 05:30-07:00 America/El_Salvador  Maquila gate @ Gate A, San Bartolo  "
        f"Luis (1/2)  SHORT 1  by Los Angeles  {short}",
        f"2026-12-10 Thu 05:30-07:00 America/El_Salvador  Maquila gate @ Gate A, San Bartolo  "
        f"Ana (1/2)  SHORT 1  by Los Angeles  {short}",
    ]

    # an edit of the shift keeps who is on which day; a day it no longer has is not listed
    ok(la, "post", "shift", "--edit", short, "--weekdays", "thu", "--needed", "1")
    rows = json.loads(ok(la, "show", "shifts", "--start", "2026-12-07", "--weeks", "1", "--json"))
    assert [(r["date"], r["taken_by"], r["short"]) for r in rows] == [("2026-12-10", ["Ana"], 0)]
    assert kinds(la) == [
        "shift",
        *["shift.take"] * 3,
        "shift.leave",
        "shift.update",
    ]


# --- two nodes: take and leave merge the same everywhere ---------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    yield members
    close_all(members)


def _slot(m: Member, shift: bytes, action: str, who: str, day: str = "2026-12-10") -> Any:
    after = m.node.projector.item_latest("shift", shift)
    payload = {"v": 1, "of": shift, "after": after, "date": day, "who": who}
    return m.node.post(m.keys, [(f"shift.{action}", payload)])[0]


def _taken(m: Member, shift: bytes) -> dict[str, list[str]]:
    row = next(r for r in m.node.projector.rows("shift") if r["id"] == shift.hex())
    return dict(row["taken"])


async def test_a_take_and_a_leave_written_at_once_merge_the_same_on_both_nodes(
    pair: list[Member],
) -> None:
    la, sv = pair
    shift = la.node.post(la.keys, [("shift", SPEC.build(GATE))])[0].id
    _slot(la, shift, "take", "Ana")
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        assert _taken(sv, shift) == {"2026-12-10": ["Ana"]}
        # each without having seen the other's: LA says Ana left, SV that she is on it
        # (her name written otherwise), and each puts someone else on another day
        leave = _slot(la, shift, "leave", "Ana")
        take = _slot(sv, shift, "take", "ANA")
        _slot(la, shift, "take", "Luis", "2026-12-07")
        _slot(sv, shift, "take", "Rosa", "2026-12-07")
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    assert _taken(la, shift) == _taken(sv, shift)
    assert la.state() == sv.state()

    # the later by the edits' order (§5.3): rank (timestamp, or one above ``after``),
    # then author
    def order(event: Any) -> tuple[int, bytes]:
        rank = rank_of(encoding.decode(event.body), event.ts)
        assert rank is not None
        return rank, event.author

    later = max([leave, take], key=order)
    expected = ["ANA"] if later is take else []
    assert _taken(la, shift).get("2026-12-10", []) == expected
    assert _taken(la, shift)["2026-12-07"] == ["Luis", "Rosa"]

    # a node of a version without shifts keeps every event of them, lists them as
    # unknown, and shows the same shifts as every other node once it knows the kind
    unregister("shift")
    try:
        sv.node.rebuild()
        unknown = {u["kind"] for u in sv.node.projector.unknown()}
        assert unknown == {"shift", "shift.take", "shift.leave"}
        assert sv.state() != la.state()
    finally:
        register(SPEC)
    sv.node.rebuild()
    assert sv.node.projector.unknown() == []
    assert sv.state() == la.state()


# --- the web view -------------------------------------------------------------------------------


async def test_the_web_view_lists_shifts_and_their_coming_slots(tmp_path: Path) -> None:
    home = tmp_path / "sv"
    ok(home, "init", "--name", "El Salvador", "--insecure-no-passphrase")
    today = datetime.date.today()
    since = (today - datetime.timedelta(days=today.weekday())).isoformat()  # this Monday
    shift = ok(
        home,
        "post",
        "shift",
        *options(since=since, weekdays="mon,tue,wed,thu,fri,sat,sun", title="Clinic <b>"),
    ).strip()
    ok(home, "post", "shift", "--take", shift, "--date", today.isoformat(), "--who", "Ana")
    node = Node.open(Home(home))
    try:
        async with served(node) as session:
            async with session.get("/shifts") as response:
                assert response.status == 200
                html = await response.text()
            assert "<h1>Shifts</h1>" in html
            assert "Clinic &lt;b&gt;" in html
            assert "America/El_Salvador" in html
            assert "Coming slots" in html
            assert "Ana" in html
            assert "short of 1" in html
            assert "never ends" in html  # its until, empty
            async with session.get("/shifts?lang=es") as response:
                html = await response.text()
            assert "<h1>Turnos</h1>" in html
            assert "Próximos turnos" in html
            assert "sin fin" in html
    finally:
        node.close()


async def test_the_shifts_page_in_a_real_browser(tmp_path: Path) -> None:
    """The list of shifts with its coming slots, in Chromium, without an error on the
    console, saved as a screenshot (test-artifacts/web/shifts.png) as the other pages are."""
    browser_tests = pytest.importorskip("tests.test_web_browser")
    home = Home(tmp_path / "sv")
    _, keys = home.init("El Salvador", None)
    node = Node.open(home)
    today = datetime.date.today()
    monday = today - datetime.timedelta(days=today.weekday())
    gate = {**GATE, "since": monday.isoformat(), "weekdays": "mon,wed,fri"}
    shift = node.post(keys, [("shift", SPEC.build(gate))])[0].id
    first = occurrences(values(**gate), today, today + datetime.timedelta(days=6))[0].slot
    node.post(keys, [("shift.take", {"v": 1, "of": shift, "date": first, "who": "Ana"})])
    runner, port = await start_web(node, keys, host="127.0.0.1", port=0)
    try:
        async with browser_tests.owner_page(current_address(home.path), "es-ES") as (
            page,
            problems,
        ):
            response = await page.goto(f"http://127.0.0.1:{port}/shifts")
            assert response is not None
            assert response.status == 200
            text = await page.inner_text("main")
            assert "Próximos turnos" in text
            assert "Ana" in text
            assert await page.locator("table.slots tbody tr").count() >= 6
            assert await page.locator("tr.short").count() >= 1
            browser_tests.ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = browser_tests.ARTIFACTS / "shifts.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 0
            assert problems == []
    finally:
        await runner.cleanup()
        node.close()


def test_the_demo_posts_el_salvadors_shifts_with_people_on_some_slots(tmp_path: Path) -> None:
    home = Home(tmp_path / "sv")
    _, keys = home.init("El Salvador", None)
    node = Node.open(home)
    try:
        today = datetime.date(2026, 12, 9)  # a Wednesday
        demo.post_shifts(demo.DemoNode("El Salvador", home, node, keys), today)
        items = node.projector.rows("shift")
        assert len(items) == 2
        assert SPEC.slots is not None
        slots = SPEC.slots.rows(items, today, today + datetime.timedelta(days=13))
        taken = [(r["date"], r["taken_by"], r["short"]) for r in slots if r["taken_by"]]
        assert taken == [
            ("2026-12-09", ["Luis", "Marta"], 0),
            ("2026-12-11", ["Rosa"], 1),
            ("2026-12-14", ["Rosa"], 1),
        ]
        assert {r["since"] for r in items} == {"2026-12-07"}
    finally:
        node.close()
