"""The one rule and lookup of time zones (protocol/kinds/zones.py) that shifts and
meetings share: every IANA name of the database passes both kinds as it did, a name of
another shape is refused naming the field, and the names a database holds that are
not zones of the world (``localtime``, ``posix/…``, ``right/…``) are refused when
written and give no dates, while a stored one is still read the same on every node."""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest

from protocol.errors import BadPayload
from protocol.kinds import meeting, shift, zones

SHIFT = {
    "title": "Gate",
    "start": "05:30",
    "end": "07:00",
    "since": "2026-12-01",
    "weekdays": "tue",
}
MEETING = {"title": "Assembly", "when": "2026-12-01 18:00"}


def _zone_fields() -> list[object]:
    return [spec.field_named("zone") for spec in (shift.SPEC, meeting.SPEC)]


def test_both_kinds_use_the_one_rule_and_lookup() -> None:
    for f in _zone_fields():
        assert f is not None
        assert f.check is zones.zone_name_problem  # type: ignore[attr-defined]
        assert f.written is zones.unknown_zone  # type: ignore[attr-defined]


def test_every_zone_of_the_database_is_a_zone_of_both_kinds() -> None:
    names = sorted(zoneinfo.available_timezones() - {"localtime", "posixrules"})
    assert len(names) > 300
    for name in names:
        assert zones.zone_name_problem(name) is None, name
        found = zones.zone_of(name)
        assert found is not None, name
        assert found.key == name
    # the same moments as before there was one lookup: a name is ZoneInfo(name)
    for name in ("America/El_Salvador", "Asia/Kolkata", "Etc/GMT+6", "UTC"):
        assert shift.SPEC.build({**SHIFT, "zone": name})["zone"] == name
        assert meeting.SPEC.build({**MEETING, "zone": name})["zone"] == name
        assert zones.zone_of(name) is zoneinfo.ZoneInfo(name)


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        ("El Salvador", "'zone' must be a time zone name like America/El_Salvador"),
        ("../../etc/passwd", "'zone' must be a time zone name"),
        ("/etc/localtime", "'zone' must be a time zone name"),
        ("America/Argentina/Buenos_Aires/X", "'zone' must be a time zone name"),
        ("A" * 32, "'zone' must be a time zone name"),
        ("Amérique/Paris", "'zone' must be a time zone name"),
        ("1America/New_York", "'zone' must be a time zone name"),
        ("America/Atlantis", "'zone' 'America/Atlantis' is not a time zone this machine knows"),
        ("localtime", "'zone' 'localtime' is not a time zone this machine knows"),
        ("posixrules", "'zone' 'posixrules' is not a time zone"),
        ("right/UTC", "'zone' 'right/UTC' is not a time zone this machine knows"),
        ("posix/America/New_York", "'zone' 'posix/America/New_York' is not a time zone"),
        ("America", "'zone' 'America' is not a time zone"),  # a folder of the database
        ("", "'zone' is required"),
    ],
)
def test_a_bad_zone_is_refused_the_same_by_both_kinds_naming_the_field(
    zone: str, problem: str
) -> None:
    for spec, values in ((shift.SPEC, SHIFT), (meeting.SPEC, MEETING)):
        with pytest.raises(BadPayload, match=re.escape(problem)):
            spec.build({**values, "zone": zone})
        # and in an edit, where only the fields given are cleaned
        with pytest.raises(BadPayload, match=re.escape(problem)):
            spec.build_update({"zone": zone})


def test_a_stored_zone_is_read_by_its_shape_only_and_gives_no_dates_when_unknown() -> None:
    """A peer's item with a zone this machine lacks, or one that is no zone here
    (``localtime``), is read the same on every node and lists no date here."""
    for zone in ("Mars/Olympus_Mons", "localtime", "right/UTC"):
        stored_shift = {"v": 1, **SHIFT, "zone": zone}
        assert shift.SPEC.read(stored_shift) == stored_shift
        day = datetime.date(2026, 12, 1)
        assert shift.occurrences({**SHIFT, "zone": zone}, day, day) == []
        stored_meeting = {"v": 1, **MEETING, "zone": zone}
        assert meeting.SPEC.read(stored_meeting) == stored_meeting
        since = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
        found = meeting.occurrences({**MEETING, "zone": zone}, since, datetime.timedelta(days=3))
        assert found == []
    for zone in ("a/b/c/d", "Not a zone"):  # refused by shape: unreadable on every node
        assert shift.SPEC.read({"v": 1, **SHIFT, "zone": zone}) is None
        assert meeting.SPEC.read({"v": 1, **MEETING, "zone": zone}) is None


def test_an_edit_of_another_field_of_a_shift_whose_zone_is_unknown_here_is_taken() -> None:
    """Its values still agree as far as this machine can tell: only what depends on the
    zone is not checked (a newer database elsewhere wrote it)."""
    values = {f.name: "" for f in shift.SPEC.fields} | SHIFT | {"zone": "Mars/Olympus_Mons"}
    values["repeat"], values["every"], values["needed"] = "weekly", "1", "1"
    assert shift.agree({**values, "needed": "3"}) is None
    assert shift.agree({**values, "until": "2026-11-01"}) == (
        "'until' 2026-11-01 is before 'since' 2026-12-01"
    )
