"""Meetings (protocol/kinds/meeting.py): one-off or recurring, in a time zone, with
minutes and attendance per occurrence; posted and shown by the real command in its own
process, merged the same on two nodes synced over loopback; every field's bad input
refused in one line with nothing stored; time zones' gaps and overlaps; the 31st of
short months; a series begun long ago or never ending costs no more than a new one."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import cli_meeting, daemon, demo
from node.home import Home
from node.service import Node
from node.web import start_web
from protocol.errors import BadPayload
from protocol.kinds import meeting
from protocol.kinds.base import occurrence_register
from protocol.projections import ItemState
from tests.helpers import commune
from tests.net import Member, close_all, make_network
from tests.web_owner import owner_session

SPEC = meeting.SPEC
UTC = datetime.UTC
LA = "America/Los_Angeles"


def _values(**changes: str) -> dict[str, str]:
    base = {"title": "Discussion group", "when": "2026-01-31 18:00", "zone": LA}
    return {k: v for k, v in SPEC.build({**base, **changes}).items() if k != "v"}


def _days(values: dict[str, str], since: str, days: int) -> list[str]:
    start = datetime.datetime.fromisoformat(since).replace(tzinfo=UTC)
    return [o.day for o in meeting.occurrences(values, start, datetime.timedelta(days=days))]


# --- recurrence, zones ------------------------------------------------------------------


def test_monthly_on_the_31st_is_on_the_last_day_of_shorter_months() -> None:
    values = _values(repeat="monthly")
    assert _days(values, "2026-01-01", 220) == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
    ]
    leap = _values(when="2028-01-30 10:00", repeat="monthly", every="1")
    assert _days(leap, "2028-02-01", 60)[:2] == ["2028-02-29", "2028-03-30"]
    every_two = _values(when="2026-01-31 10:00", repeat="monthly", every="2")
    assert _days(every_two, "2026-01-01", 220) == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
    ]


def test_every_n_weeks_until_a_day() -> None:
    values = _values(when="2026-01-03 10:00", repeat="weekly", every="2", until="2026-02-14")
    assert _days(values, "2026-01-01", 120) == [
        "2026-01-03",
        "2026-01-17",
        "2026-01-31",
        "2026-02-14",
    ]


def test_a_recurring_meeting_at_a_time_the_clocks_skip_or_repeat() -> None:
    """Los Angeles: 2026-03-08 02:00 → 03:00; 2026-11-01 02:00 → 01:00."""
    spring = _values(when="2026-03-01 02:30", repeat="weekly")
    since = datetime.datetime(2026, 3, 1, tzinfo=UTC)
    starts = [
        o.start.isoformat() for o in meeting.occurrences(spring, since, datetime.timedelta(21))
    ]
    # on the day 02:30 does not exist it is at 03:30, the length of the gap later
    assert starts == [
        "2026-03-01T02:30:00-08:00",
        "2026-03-08T03:30:00-07:00",
        "2026-03-15T02:30:00-07:00",
    ]
    autumn = _values(when="2026-10-25 01:30", repeat="weekly")
    since = datetime.datetime(2026, 10, 25, tzinfo=UTC)
    found = meeting.occurrences(autumn, since, datetime.timedelta(14))
    # on the day 01:30 happens twice it is the first of the two, still in summer time
    assert [o.start.isoformat() for o in found][1] == "2026-11-01T01:30:00-07:00"


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("2026-03-08 02:30", "does not exist there"),
        ("2026-11-01 01:30", "happens twice there"),
    ],
)
def test_a_one_off_at_a_time_the_clocks_skip_or_repeat_is_refused(when: str, problem: str) -> None:
    with pytest.raises(BadPayload, match=problem):
        _values(when=when)
    _values(when=when, repeat="weekly")  # a series has its rule instead


def test_expansion_is_bounded_however_old_or_endless_the_series() -> None:
    ancient = _values(when="0001-01-01 10:00", repeat="weekly")
    began = time.perf_counter()
    days = _days(ancient, "2026-01-01", 10_000)
    assert time.perf_counter() - began < 0.5
    assert len(days) <= meeting.MAX_WINDOW_DAYS // 7 + 1
    assert _days(_values(when="9999-12-01 10:00", repeat="monthly"), "9999-11-01", 400) == [
        "9999-12-01"
    ]
    # up to the end of the calendar, and no further
    assert _days(ancient, "9999-12-20", 400) == ["9999-12-20", "9999-12-27"]


def test_values_read_from_a_peer_are_never_checked_against_this_nodes_zones() -> None:
    """A zone this node's database lacks is still readable (a newer tz database
    elsewhere); it just gives no dates here."""
    stored = {"v": 1, "title": "t", "when": "2026-01-01 10:00", "zone": "Mars/Olympus"}
    assert SPEC.read(stored) == stored
    assert (
        meeting.occurrences(
            stored, datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.timedelta(9)
        )
        == []
    )


# --- every field's bad input --------------------------------------------------------------

BAD = [
    ({"title": ""}, "'title' is required"),
    ({"title": "x" * 201}, "'title' is 201 characters"),
    ({"when": ""}, "'when' is required"),
    ({"when": "2026-01-31"}, "'when' must be a local date and time"),
    ({"when": "2026-02-30 10:00"}, "'when' must be a date that exists"),
    ({"when": "2026-01-31 24:00"}, "'when' must be a time of day"),
    ({"zone": ""}, "'zone' is required"),
    ({"zone": "../etc/passwd"}, "'zone' must be a time zone name"),
    ({"zone": "Mars/Olympus"}, "'zone' 'Mars/Olympus' is not a time zone this machine knows"),
    ({"place": "a\x1bb"}, "'place' contains a control character"),
    ({"agenda": "x" * 20001}, "'agenda' is 20001 characters"),
    ({"repeat": "daily"}, "'repeat' must be one of none, weekly, monthly"),
    ({"repeat": "weekly", "every": "0"}, "'every' must be a whole number"),
    ({"repeat": "weekly", "every": "53"}, "'every' must be a whole number"),
    ({"repeat": "weekly", "until": "2026-02-31"}, "'until' must be a date that exists"),
    ({"repeat": "weekly", "until": "2025-12-31"}, "'until' 2025-12-31 is before"),
    ({"until": "2026-12-31"}, "'every' and 'until' go with a repeat"),
]


@pytest.mark.parametrize(("changes", "problem"), BAD, ids=[p for _, p in BAD])
def test_every_fields_bad_input_is_refused(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(BadPayload, match=problem):
        _values(**changes)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"guests": "-1"}, "'guests' must be a whole number"),
        ({"guests": "100001"}, "'guests' must be a whole number"),
        ({"attended": "Ana\nAna"}, "'attended' lists 'Ana' twice"),
        ({"attended": "Ana\n\nLuis"}, "'attended' must list one name"),
        ({"attended": "\n".join(f"p{i}" for i in range(501))}, "lists 501 people"),
        ({"minutes": "a\x00"}, "'minutes' contains a control character"),
    ],
)
def test_bad_minutes_and_attendance_are_refused(values: dict[str, str], problem: str) -> None:
    with pytest.raises(BadPayload, match=problem):
        SPEC.build_occurrence(values, "2026-01-31")
    with pytest.raises(BadPayload, match="'date' must be a date that exists"):
        SPEC.build_occurrence({"guests": "1"}, "2026-02-31")


def test_each_occurrences_records_are_registers_of_their_own() -> None:
    payload = {"v": 1, "of": b"\x01" * 32, **SPEC.build_occurrence({"guests": "3"}, "2026-01-31")}
    assert SPEC.read_update(payload) == {occurrence_register("guests", "2026-01-31"): "3"}
    assert SPEC.read_update({**payload, "date": "31/01/2026"}) == {}  # unreadable date
    state = ItemState(
        "meeting",
        b"\x01" * 32,
        b"\x02" * 32,
        1,
        (("guests@2026-01-31", ("3", 2, b"\x02" * 32)), ("title", ("t", 1, b"\x02" * 32))),
    )
    assert state.occurrences() == {"2026-01-31": {"guests": "3"}}


# --- the command line, in its own process --------------------------------------------------


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _day(offset: int) -> str:
    return (datetime.datetime.now(UTC) + datetime.timedelta(days=offset)).date().isoformat()


def test_meetings_are_posted_recorded_and_shown_by_the_command(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    began = _day(-22)  # every two weeks: -22, -8, 6, 20; never today, whatever the hour
    series = ok(
        home, "post", "meeting", "--title", "Discussion group", "--when", f"{began} 18:00",
        "--zone", "UTC", "--repeat", "weekly", "--every", "2", "--place", "Library",
        "--agenda", "Chapter 1",
    ).strip()  # fmt: skip
    forum = ok(
        home, "post", "meeting", "--title", "Forum", "--when", f"{_day(3)} 10:00",
        "--zone", "America/El_Salvador", "--place", "https://meet.example/forum",
    ).strip()  # fmt: skip
    ok(
        home, "post", "meeting", "--edit", series[:8], "--date", began, "--minutes",
        "We read chapter 1.", "--attended", "Ana", "--attended", "Luis M", "--guests", "3",
    )  # fmt: skip
    # an update of the series' own fields and of one date's records, apart
    ok(home, "post", "meeting", "--edit", series[:8], "--agenda", "Chapter 2")
    ok(home, "post", "meeting", "--edit", series[:8], "--date", began, "--guests", "4")

    rows = json.loads(ok(home, "show", "meetings", "--json"))
    coming = [r for r in rows if r["coming"]]
    past = [r for r in rows if not r["coming"]]
    assert coming[0]["id"] == forum
    assert coming[0]["start"].startswith(f"{_day(3)}T10:00:00-06:00")
    assert [r["date"] for r in coming if r["id"] == series][:2] == [_day(6), _day(20)]
    assert all(r["agenda"] == "Chapter 2" for r in rows if r["id"] == series)
    recorded = next(r for r in past if r["date"] == began)
    assert recorded["minutes"] == "We read chapter 1."
    assert recorded["attended"] == ["Ana", "Luis M"]
    assert (recorded["guests"], recorded["count"]) == (4, 6)
    assert set(recorded) == {
        "id", "author", "author_name", "ts", "time", "suspect", "title", "when", "zone", "place",
        "agenda",
        "repeat", "every", "until", "date", "start", "utc", "coming", "minutes", "attended",
        "guests", "count", "tags",
    }  # fmt: skip
    text = ok(home, "show", "meetings")
    assert "2 attended + 4 guests" in text
    assert text.index("Forum") < text.index("past")
    short = json.loads(ok(home, "show", "meetings", "--weeks", "1", "--past-weeks", "0", "--json"))
    assert [r["id"] for r in short] == [forum, series]  # days 3 and 6; none past

    # bad input: one line naming the field, nothing stored
    before = len(json.loads(ok(home, "log", "--json")))
    for args, problem in [
        (["--title", "x", "--when", "2026-03-08 02:30", "--zone", LA], "'when' 2026-03-08 02:30"),
        (["--title", "x", "--when", "2026-03-01 10:00", "--zone", "Nowhere/X"], "'zone'"),
        (["--title", "x", "--when", "tomorrow", "--zone", "UTC"], "'when' must be"),
        (
            ["--title", "x", "--when", "2026-03-01 10:00", "--zone", "UTC", "--every", "2"],
            "'every' and 'until'",
        ),
        (["--edit", series, "--minutes", "x"], "'date' is required for a recurring"),
        (["--edit", series, "--date", _day(-21), "--minutes", "x"], "is not a day this"),
        (["--edit", forum, "--guests", "many"], "'guests' must be a whole number"),
        (["--edit", forum, "--attended", "Ana", "--attended", "Ana"], "lists 'Ana' twice"),
        (["--edit", forum, "--date", _day(3)], "--date goes with"),
        (
            ["--title", "x", "--when", "2026-03-01 10:00", "--zone", "UTC", "--guests", "2"],
            "give them with --edit ID",
        ),
        # an edit must leave the meeting's values agreeing, as the node sees them
        (["--edit", forum, "--repeat", "weekly", "--until", "2000-01-01"], "'until' 2000"),
        (["--edit", forum, "--when", "2026-03-08 02:30", "--zone", LA], "does not exist"),
    ]:
        result = commune(home, "post", "meeting", *args)
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, result.stderr
        assert problem in lines[0], (problem, lines[0])
        assert "Traceback" not in result.stderr
    assert len(json.loads(ok(home, "log", "--json"))) == before


# --- the web view ---------------------------------------------------------------------------


async def test_the_web_views_meetings_list_the_coming_ones_first(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    node = Node.open(Home(home))
    keys = Home(home).unlock(None)
    try:
        for title, when, repeat in [
            ("M-past", f"{_day(-30)} 10:00", "none"),
            ("M-later", f"{_day(20)} 10:00", "none"),
            ("M-weekly", f"{_day(-62)} 10:00", "weekly"),  # next: tomorrow
            ("M-soon", f"{_day(2)} 10:00", "none"),
        ]:
            values = {"title": title, "when": when, "zone": "UTC", "repeat": repeat}
            node.post(keys, [("meeting", SPEC.build(values))])
        runner, _ = await start_web(node, None, host="127.0.0.1", port=0)
        try:
            session, _ = await owner_session(node.home.path)
            try:
                async with session.get("/meetings") as response:
                    assert response.status == 200
                    html = await response.text()
                assert re.findall(r">(M-[a-z]+)<", html) == [
                    "M-weekly", "M-soon", "M-later", "M-past"
                ]  # fmt: skip
                async with session.get("/meetings?lang=es") as response:
                    html = await response.text()
                assert "<h1>Reuniones</h1>" in html
                assert "próximas primero" in html
            finally:
                await session.close()
        finally:
            await runner.cleanup()
    finally:
        node.close()


def test_the_demo_posts_a_biweekly_discussion_group_with_a_meeting_held(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "la")
    _, keys = home.init("Los Angeles", None)
    node = Node.open(home)
    try:
        today = datetime.date(2026, 12, 7)  # a Monday
        demo.post_meetings(demo.DemoNode("Los Angeles", home, node, keys), today)
        [row] = node.projector.rows("meeting")
        assert (row["when"], row["repeat"], row["every"]) == ("2026-11-05 18:30", "weekly", "2")
        assert row["occurrences"]["2026-11-19"]["guests"] == "2"
        now = datetime.datetime(2026, 12, 7, 20, tzinfo=UTC)
        rows = cli_meeting.meeting_rows([row], 8, 8, now)
        assert [r["date"] for r in rows if r["coming"]][:2] == ["2026-12-17", "2026-12-31"]
        held = next(r for r in rows if r["date"] == "2026-11-19")
        assert (held["coming"], held["count"]) == (False, 5)
    finally:
        node.close()


# --- two nodes, synced over loopback -----------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    yield members
    close_all(members)


def _record(m: Member, item: bytes, day: str, **values: str) -> None:
    after = m.node.projector.item_latest("meeting", item)
    payload = {"v": 1, "of": item, "after": after, **SPEC.build_occurrence(values, day)}
    m.node.post(m.keys, [("meeting.update", payload)])


async def test_minutes_and_attendance_merge_the_same_on_two_nodes(pair: list[Member]) -> None:
    la, sv = pair
    values = {"title": "Assembly", "when": "2026-01-03 10:00", "zone": "UTC", "repeat": "weekly"}
    item = la.node.post(la.keys, [("meeting", SPEC.build(values))])[0].id
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        # both write the same occurrence at once without having seen the other's, and
        # another occurrence each
        _record(la, item, "2026-01-10", minutes="LA's notes", guests="2")
        _record(sv, item, "2026-01-10", minutes="SV's notes", attended="Ana")
        _record(sv, item, "2026-01-17", guests="5")
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    rows = {m.name: m.node.projector.rows("meeting") for m in (la, sv)}
    assert rows["Los Angeles"] == rows["El Salvador"]
    records = rows["Los Angeles"][0]["occurrences"]
    assert records["2026-01-10"]["minutes"] in ("LA's notes", "SV's notes")  # the same on both
    assert records["2026-01-10"]["guests"] == "2"  # only one wrote it
    assert records["2026-01-10"]["attended"] == "Ana"
    assert records["2026-01-17"] == {"guests": "5"}
    assert la.state() == sv.state()
    sv.node.rebuild()
    assert sv.node.projector.rows("meeting") == rows["Los Angeles"]
    assert la.state() == sv.state()
