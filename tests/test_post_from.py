"""Changes from ``--from`` files (node/cli_entries.py): takes and leaves of a shift's
slots, a meeting's minutes and attendance, a report's state and plans, a contact's
follow-up and notes, and tags, each a row whose columns are ``post``'s options, mixed
with new items; every bad entry refused in one error naming its line and its field,
with nothing stored from the file; and the changes of one item in one file ranking in
the file's order on every node, whatever the clocks say.

The command is run in its own process once per kind; the many bad entries go through
the same functions the command calls (``file_entries``, ``post_entries``), in-process.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import private
from node.cli_entries import file_entries, post_entries
from node.errors import BadImportFile
from node.home import Home
from node.service import Node
from protocol import encoding, hlc
from protocol.envelope import Event
from protocol.kinds import POSTABLE
from protocol.projections import ItemState, change_of, merge
from tests.helpers import commune
from tests.net import Member, close_all, make_network

SHIFT = {
    "title": "Maquila gate",
    "weekdays": "mon,thu",
    "start": "05:30",
    "end": "07:00",
    "zone": "America/El_Salvador",
    "since": "2026-12-01",
    "needed": "2",
}
#: every other Thursday from 5 November 2026, in Los Angeles
GROUP = {
    "title": "Discussion group",
    "when": "2026-11-05 18:30",
    "zone": "America/Los_Angeles",
    "repeat": "weekly",
    "every": "2",
}
FORUM = {"title": "Forum", "when": "2026-12-12 10:00", "zone": "America/El_Salvador"}


class Collective:
    """A node of its own, with an item of each kind, written in this process."""

    def __init__(self, home: Path) -> None:
        self.home = Home(home)
        _, self.keys = self.home.init("Los Angeles", None)
        self.node = Node.open(self.home)
        self.ids: dict[str, str] = {}
        for name, kind, values in [
            ("shift", "shift", SHIFT),
            ("group", "meeting", GROUP),
            ("forum", "meeting", FORUM),
            ("plan", "plan", {"title": "Print leaflets"}),
            ("report", "report", {"title": "Housing assembly", "body": "Forty came."}),
        ]:
            event = self.node.post(self.keys, [(kind, POSTABLE[kind].build(values))])[0]
            self.ids[name] = event.id.hex()
        contact = POSTABLE["contact"].build({"name": "María", "history": "Met at the gate"})
        readers = private.recipients(self.node, self.keys, [])
        sealed = private.seal_item(self.node, self.keys, "contact", contact, readers)
        self.ids["contact"] = self.node.post(self.keys, [sealed])[0].id.hex()

    def post(self, kind: str, text: str, name: str = "rows.jsonl") -> list[Event]:
        """What ``post <kind> --from <name>`` does with this text, in this process."""
        entries = file_entries(POSTABLE[kind], text.encode(), name)
        return post_entries(self.node, self.keys, POSTABLE[kind], entries, source=name)[0]

    def row(self, kind: str, name: str) -> dict[str, Any]:
        rows = (
            private.items(self.node, self.keys, kind)
            if POSTABLE[kind].private
            else self.node.projector.rows(kind)
        )
        return next(r for r in rows if r["id"] == self.ids[name])

    def stored(self) -> tuple[int, object]:
        """How many events the store holds, and this node's head."""
        return len(list(self.node.store.events())), self.node.store.head(self.node.node_id)


@pytest.fixture
def la(tmp_path: Path) -> Iterator[Collective]:
    collective = Collective(tmp_path / "la")
    yield collective
    collective.node.close()


def lines(*rows: dict[str, str]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def ok(home: Path, *args: str, input: str | None = None) -> str:
    result = commune(home, *args, input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- the real command, in its own process ----------------------------------------------


def test_changes_of_every_kind_are_posted_from_files_by_the_command(
    la: Collective, tmp_path: Path
) -> None:
    ids = la.ids
    home = la.home.path
    la.node.close()  # each command opens the node in its own process

    # a shift's slots, as a spreadsheet writes them: a take and its leave in one file
    sheet = tmp_path / "slots.csv"
    shift = ids["shift"][:8]
    sheet.write_text(
        "take,leave,date,who\n"
        f"{shift},,2026-12-03,Ana\n"
        f"{shift},,2026-12-07,Luis\n"
        f"{shift},,2026-12-03,Luis\n"
        f",{shift},2026-12-03,ana\n"
        f"{shift},,2026-12-10,Ana\n",
        encoding="utf-8",
    )
    assert len(ok(home, "post", "shift", "--from", str(sheet)).split()) == 5

    # a meeting's minutes and attendance, another's agenda, and a new meeting, on stdin
    group = ids["group"][:8]
    rows = lines(
        {
            "edit": group,
            "date": "2026-11-19",
            "minutes": "We read chapter 1.",
            "attended": "Ana\nLuis M",
            "guests": "3",
        },
        {"edit": group, "agenda": "Chapter 2", "tag": "formación"},
        {"title": "Forum on housing", "when": "2026-12-19 10:00", "zone": "UTC"},
    )
    assert len(ok(home, "post", "meeting", "--from", "-", input=rows).split()) == 3

    # a report to the paper with its plan (a prefix, as --plan takes), then published
    report = tmp_path / "reports.jsonl"
    report.write_text(
        lines(
            {"edit": ids["report"][:8], "state": "for-paper", "plan": ids["plan"][:8]},
            {"edit": ids["report"], "state": "published", "link": "https://paper.example/1"},
            {"title": "Clinic", "state": "for-paper", "plans": ids["plan"][:10]},
        ),
        encoding="utf-8",
    )
    assert len(ok(home, "post", "report", "--from", str(report)).split()) == 3

    # a contact's follow-up: two notes, the stage and the next step
    notes = tmp_path / "notes.csv"
    notes.write_text(
        "edit,note,stage,follower,next,due\n"
        f"{ids['contact'][:8]},Called: she comes Saturday,talked,Ana,,\n"
        f"{ids['contact'][:8]},Came to the forum,attends,,Invite her to the group,2026-12-20\n",
        encoding="utf-8",
    )
    assert len(ok(home, "post", "contact", "--from", str(notes)).split()) == 2

    # a bad row: one error naming its line and field, nothing of the file stored
    node = Node.open(Home(home))
    before = [e.id for e in node.store.events()]
    node.close()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"take,date,who\n{shift},2026-12-14,Rosa\n{shift},2026-12-15,Rosa\n", encoding="utf-8"
    )
    result = commune(home, "post", "shift", "--from", str(bad))
    assert result.returncode == 1
    errors = [x for x in result.stderr.splitlines() if not x.startswith("WARNING")]
    assert errors == [
        f"error: {bad} line 3: 'date' 2026-12-15 is not a day of this shift "
        "(`commune show shifts` lists its days)"
    ]

    node = Node.open(Home(home))
    keys = Home(home).unlock(None)
    try:
        assert [e.id for e in node.store.events()] == before
        [shift_row] = node.projector.rows("shift")
        assert shift_row["taken"] == {
            "2026-12-03": ["Luis"],
            "2026-12-07": ["Luis"],
            "2026-12-10": ["Ana"],
        }
        meetings = {r["id"]: r for r in node.projector.rows("meeting")}
        held = meetings[ids["group"]]
        assert held["occurrences"]["2026-11-19"] == {
            "attended": "Ana\nLuis M",
            "guests": "3",
            "minutes": "We read chapter 1.",
        }
        assert (held["agenda"], held["tags"]) == ("Chapter 2", "formación")
        assert "Forum on housing" in {r["title"] for r in meetings.values()}
        reports = {r["title"]: r for r in node.projector.rows("report")}
        assert reports["Housing assembly"]["state"] == "published"
        assert reports["Housing assembly"]["plans"] == ids["plan"]
        assert reports["Clinic"]["plans"] == ids["plan"]
        [contact] = private.items(node, keys, "contact")
        assert [e["text"] for e in contact["history"]] == [
            "Met at the gate",
            "Called: she comes Saturday",
            "Came to the forum",
        ]
        assert (contact["stage"], contact["follower"], contact["due"]) == (
            "attends",
            "Ana",
            "2026-12-20",
        )
        # the envelope of a note says no more than a contact's: sealed
        assert {e.kind for e in node.store.events()} >= {"sealed", "shift.take", "shift.leave"}
    finally:
        node.close()


# --- every bad entry: one error naming its line and field, nothing stored ------------------

#: (kind, rows, the error after "rows.jsonl line N: "); ``{shift}`` and the others are the
#: items' id prefixes
BAD: list[tuple[str, list[dict[str, str]], str]] = [
    # the shape of a row
    ("shift", [{"colour": "red"}], "1: shift has no field 'colour' (a row's columns: title,"),
    ("shift", [{"take": "{shift}", "edit": "{shift}"}], "1: give only one of 'take', 'edit'"),
    ("shift", [{**SHIFT, "date": "2026-12-03"}], "1: 'date' goes with 'take' or 'leave'"),
    (
        "shift",
        [{"take": "{shift}", "date": "2026-12-03", "who": "Ana", "title": "x"}],
        "1: 'take' takes no field options (title)",
    ),
    ("shift", [{"take": "xyz", "date": "2026-12-03", "who": "A"}], "1: 'take' 'xyz' is not an id"),
    (
        "shift",
        [{"take": "0123456", "date": "2026-12-03", "who": "A"}],
        "1: 'take': no shift has an id starting with 0123456",
    ),
    (
        "plan",
        [{"title": "a", "tag": "x", "tags": "y"}],
        "1: 'tags' is given twice: as 'tag' and 'tags'",
    ),
    # a shift, new or edited: times that do not exist, a bad zone, a repeat's days
    (
        "shift",
        [
            {**SHIFT, "title": "fine"},
            {
                **SHIFT,
                "repeat": "once",
                "weekdays": "",
                "zone": "America/New_York",
                "since": "2027-03-14",
                "start": "02:30",
            },
        ],
        "2: 'start' 02:30 does not exist on 2027-03-14 in America/New_York",
    ),
    ("shift", [{**SHIFT, "zone": "Mars/Olympus"}], "1: 'zone' 'Mars/Olympus' is not a time zone"),
    ("shift", [{"edit": "{shift}", "until": "2026-11-01"}], "1: 'until' 2026-11-01 is before"),
    ("shift", [{"edit": "{shift}", "weekdays": "mon,mon"}], "1: 'weekdays' holds 'mon' twice"),
    ("shift", [{"edit": "{shift}", "every": "0"}], "1: 'every' must be from 1 to 52"),
    ("shift", [{"edit": "{shift}"}], "1: nothing to change: give at least one of"),
    # a shift's slots: a day it does not have, a slot taken twice by one person
    (
        "shift",
        [{"take": "{shift}", "date": "2026-12-04", "who": "Ana"}],
        "1: 'date' 2026-12-04 is not a day of this shift",
    ),
    (
        "shift",
        [
            {"take": "{shift}", "date": "2026-12-03", "who": "Ana"},
            {"take": "{shift}", "date": "2026-12-07", "who": "Ana"},
            {"take": "{shift}", "date": "2026-12-03", "who": "ANA"},
        ],
        "3: ANA already has the slot of 2026-12-03 of this shift",
    ),
    (
        "shift",
        [{"leave": "{shift}", "date": "2026-12-03", "who": "Luis"}],
        "1: Luis is not on the slot of 2026-12-03 of this shift",
    ),
    (
        "shift",
        [
            {"take": "{shift}", "date": "2026-12-03", "who": "Ana"},
            {"leave": "{shift}", "date": "2026-12-03", "who": "Ana"},
            {"leave": "{shift}", "date": "2026-12-03", "who": "Ana"},
        ],
        "3: Ana is not on the slot of 2026-12-03",
    ),
    (
        "shift",
        [
            {"edit": "{shift}", "weekdays": "thu"},
            {"take": "{shift}", "date": "2026-12-07", "who": "Ana"},  # a Monday: no longer
        ],
        "2: 'date' 2026-12-07 is not a day of this shift",
    ),
    ("shift", [{"take": "{shift}", "date": "2026-12-3", "who": "A"}], "1: 'date' must be a date"),
    ("shift", [{"take": "{shift}", "date": "2026-12-03"}], "1: 'who' is required"),
    ("shift", [{"take": "{shift}", "date": "2026-12-03", "who": "A\nB"}], "1: 'who' must be a"),
    ("shift", [{"take": "{shift}", "date": "2026-12-03", "who": "x" * 101}], "1: 'who' is 101"),
    # a meeting: its series, a time that does not exist, minutes and attendance
    (
        "meeting",
        [{"title": "x", "when": "2026-03-08 02:30", "zone": "America/Los_Angeles"}],
        "1: 'when' 2026-03-08 02:30 does not exist there (the clocks skip it)",
    ),
    ("meeting", [{**FORUM, "every": "2"}], "1: 'every' and 'until' go with a repeat"),
    ("meeting", [{**GROUP, "until": "2026-01-01"}], "1: 'until' 2026-01-01 is before the first"),
    ("meeting", [{**FORUM, "zone": "localtime"}], "1: 'zone' 'localtime' is not a time zone"),
    ("meeting", [{**FORUM, "minutes": "x"}], "1: 'minutes': give them with 'edit' (an id)"),
    (
        "meeting",
        [{"edit": "{group}", "minutes": "x"}],
        "1: 'date' is required for a recurring meeting",
    ),
    (
        "meeting",
        [{"edit": "{group}", "date": "2026-11-12", "minutes": "x"}],
        "1: 'date' 2026-11-12 is not a day this meeting takes place",
    ),
    (
        "meeting",
        [{"edit": "{group}", "date": "2026-11-19"}],
        "1: 'date' goes with 'minutes', 'attended', 'guests'",
    ),
    ("meeting", [{"edit": "{forum}", "guests": "many"}], "1: 'guests' must be a whole number"),
    ("meeting", [{"edit": "{forum}", "attended": "Ana\nAna"}], "1: 'attended' lists 'Ana' twice"),
    ("meeting", [{"edit": "{forum}", "attended": "Ana\n\nLuis"}], "1: 'attended' must list one"),
    (
        "meeting",
        [{"edit": "{forum}", "when": "2026-11-01 01:30", "zone": "America/Los_Angeles"}],
        "1: 'when' 2026-11-01 01:30 happens twice there",
    ),
    (
        "meeting",
        [
            {"edit": "{forum}", "repeat": "weekly"},
            {"edit": "{forum}", "repeat": "none", "until": "2027-01-01"},
        ],
        "2: 'every' and 'until' go with a repeat",
    ),
    ("meeting", [{"take": "{forum}"}], "1: meeting has no field 'take'"),
    # a report: its state, link and plans
    ("report", [{"edit": "{report}", "state": "printed"}], "1: 'state' must be one of draft,"),
    ("report", [{"edit": "{report}", "state": "published"}], "1: 'link' is required when"),
    ("report", [{"edit": "{report}", "link": "ftp://x"}], "1: 'link' must be a web address"),
    ("report", [{"edit": "{report}", "title": "x"}], "1: 'title' cannot be changed once"),
    ("report", [{"edit": "{report}", "plans": "xyz"}], "1: 'plans' 'xyz' is not an id"),
    ("report", [{"title": "t", "plan": "0123456"}], "1: 'plans': no plan has an id starting"),
    (
        "report",
        [{"edit": "{report}", "plans": "{plan} {plan}"}],
        "1: 'plans' holds",
    ),
    ("report", [{"retract": "{report}", "state": "sent"}], "1: 'retract' takes no field options"),
    (
        "report",
        [{"retract": "{report}"}, {"edit": "{report}", "state": "sent"}],
        "2: that report is not there any more (deleted or withdrawn)",
    ),
    # a contact's follow-up
    ("contact", [{"edit": "{contact}", "stage": "friend"}], "1: 'stage' must be one of met,"),
    ("contact", [{"edit": "{contact}", "due": "2026-02-30"}], "1: 'due' must be a date that"),
    ("contact", [{"edit": "{contact}", "next": "a\nb"}], "1: 'next' must be a single line"),
    ("contact", [{"edit": "{contact}", "follower": "x" * 201}], "1: 'follower' is 201"),
    ("contact", [{"edit": "{contact}", "note": ""}], "1: --note needs the text of the entry"),
    ("contact", [{"edit": "{contact}", "history": "a\x1bb"}], "1: 'history' contains a control"),
    (
        "contact",
        [{"delete": "{contact}"}, {"edit": "{contact}", "note": "Called"}],
        "2: that contact is not there any more (deleted or withdrawn)",
    ),
    # concentrations, on any kind, new or edited
    ("plan", [{"edit": "{plan}", "tags": "a!b"}], "1: 'tags' has '!' in the tag 'a!b'"),
    ("plan", [{"title": "t", "tags": "salud Salud"}], "1: 'tags' holds 'salud' twice"),
    ("contact", [{"edit": "{contact}", "tag": "x" * 33}], "1: 'tags' has a tag of 33 characters"),
]


def test_every_bad_entry_is_refused_naming_its_line_and_nothing_is_stored(
    la: Collective,
) -> None:
    before = la.stored()
    prefixes = {name: item_id[:8] for name, item_id in la.ids.items()}
    for kind, rows, expected in BAD:
        filled = [{k: v.format(**prefixes) for k, v in row.items()} for row in rows]
        with pytest.raises(BadImportFile) as refused:
            la.post(kind, lines(*filled))
        assert refused.value.message.startswith(f"rows.jsonl line {expected}"), (
            expected,
            refused.value.message,
        )
        assert "\n" not in refused.value.message
        assert la.stored() == before, expected


# --- the changes of one item in one file: in the file's order, on every node ----------------


def _fold(changes: list[Any]) -> ItemState:
    state: ItemState | None = None
    for change in changes:
        state = merge(state, change)
    assert state is not None
    return state


def test_the_changes_of_one_item_in_a_file_rank_in_its_order_whatever_the_clocks(
    la: Collective,
) -> None:
    """A peer's change dated two days ahead was seen, so every change written here ranks
    above it (``after``), not by this node's clock: each row of a file names a higher
    ``after`` than the row before, so no two changes of one register tie."""
    shift = bytes.fromhex(la.ids["shift"])
    ahead = hlc.pack(la.node.now_ms() + 2 * 86_400_000)
    la.node.post(la.keys, [("shift.update", {"v": 1, "of": shift, "after": ahead, "needed": "3"})])
    rows = [
        {"take": la.ids["shift"], "date": "2026-12-03", "who": "Ana"},
        {"edit": la.ids["shift"], "needed": "1"},
        {"leave": la.ids["shift"], "date": "2026-12-03", "who": "ana"},
        {"edit": la.ids["shift"], "needed": "4"},
        {"take": la.ids["shift"], "date": "2026-12-03", "who": "ANA"},
        {"leave": la.ids["shift"], "date": "2026-12-03", "who": "Ana"},
        {"edit": la.ids["shift"], "needed": "2"},
    ]
    written = la.post("shift", lines(*rows))
    ranks = []
    for event in written:
        payload = encoding.decode(event.body or b"")
        ranks.append(max(event.ts, payload["after"] + 1))
        assert payload["after"] > ahead  # ranked by what was seen, not by the clock
    assert ranks == sorted(set(ranks))  # strictly rising, in the file's order
    row = la.row("shift", "shift")
    assert (row["taken"], row["needed"]) == ({}, "2")  # the last row of each wins

    # every order the events can be folded in gives the same shift
    events = [e for e in la.node.store.events() if e.kind.startswith("shift")]
    changes = [change_of(e) for e in events]
    assert all(c is not None for c in changes)
    shuffled = random.Random(17)
    orders = [changes, changes[::-1]]
    orders += [shuffled.sample(changes, len(changes)) for _ in range(30)]
    folded = {_fold(order) for order in orders}
    assert len(folded) == 1
    state = folded.pop()
    assert state.taken() == {}
    assert state.values()["needed"] == "2"


def test_two_changes_of_one_register_by_one_author_end_the_same_only_when_ranks_rise() -> None:
    """Why each change of a file names a higher ``after``: a take and a leave of one
    author with one rank end as whichever is folded first; with rising ranks, every
    order ends with the last."""
    spec = POSTABLE["shift"]
    item, author = b"\x01" * 32, b"\x02" * 32
    create = change_of(_event("shift", item, author, 10), spec.build(SHIFT))
    ahead = 1 << 40  # a change seen, far above every ts here

    def ends(afters: list[int]) -> set[tuple[Any, ...]]:
        edits = [
            change_of(
                _event(f"shift.{action}", bytes([3 + i]) * 32, author, 20 + i),
                {"v": 1, "of": item, "after": after, "date": "2026-12-03", "who": "Ana"},
            )
            for i, (action, after) in enumerate(
                zip(["take", "leave", "take", "leave"], afters, strict=True)
            )
        ]
        return {
            tuple((day, tuple(who)) for day, who in _fold([create, *order]).taken().items())
            for order in itertools.permutations(edits)
        }

    assert len(ends([ahead] * 4)) == 2  # the same after: the order decides
    assert ends([ahead, ahead + 1, ahead + 2, ahead + 3]) == {()}  # the last, a leave


def _event(kind: str, event_id: bytes, author: bytes, ts: int) -> Event:
    return Event(event_id, b"", author, 1, None, ts, kind, b"", b"", None, b"", b"")


# --- changes of private items, and of other nodes' items, from a file -------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    yield members
    close_all(members)


def _post(m: Member, kind: str, text: str) -> list[Event]:
    entries = file_entries(POSTABLE[kind], text.encode(), "rows.jsonl")
    return post_entries(m.node, m.keys, POSTABLE[kind], entries, source="rows.jsonl")[0]


def test_a_file_changes_another_nodes_items_as_the_options_do(pair: list[Member]) -> None:
    """A contact sealed to both is noted from SV's file, sealed to both again; LA's
    report can be sent on by SV but only withdrawn by LA."""
    la, sv = pair
    contact = POSTABLE["contact"].build({"name": "Rosa"})
    readers = private.recipients(la.node, la.keys, [sv.node.node_id.hex()])
    sealed = private.seal_item(la.node, la.keys, "contact", contact, readers)
    contact_id = la.node.post(la.keys, [sealed])[0].id.hex()
    report_id = la.post("Assembly").hex()
    sv.node.ingest([e.raw for e in la.node.store.events()])

    before = len(list(sv.node.store.events()))
    with pytest.raises(BadImportFile, match=r"line 2: only the node that wrote a report can"):
        _post(sv, "report", lines({"edit": report_id, "state": "sent"}, {"retract": report_id}))
    assert len(list(sv.node.store.events())) == before

    written = _post(sv, "contact", lines({"edit": contact_id[:8], "note": "Called her"}))
    written += _post(sv, "report", lines({"edit": report_id, "state": "for-paper"}))
    assert [e.kind for e in written] == ["sealed", "report.update"]
    assert private.open_one(written[0], la.keys) is not None  # LA, its other reader, opens it
    la.node.ingest([e.raw for e in sv.node.store.events()])
    [row] = private.items(la.node, la.keys, "contact")
    assert [e["text"] for e in row["history"]] == ["Called her"]
    assert la.node.projector.rows("report")[0]["state"] == "for-paper"
    assert la.state() == sv.state()
