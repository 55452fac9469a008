"""Contact follow-up (issue 17): stage, who follows up, the next step and its date, and
a history of notes, each note an edit, listed in one order on every node; ``show
contacts --due`` by the viewer's local date; and all of it inside the sealed contact,
nothing of it in the envelope."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node import daemon, private
from node.home import Home
from node.service import Node
from node.web import start_web
from protocol.errors import BadPayload
from protocol.kinds import contact
from protocol.projections import ItemState, change_of, merge
from tests.helpers import commune
from tests.net import Member, close_all, make_network
from tests.web_owner import owner_session

SPEC = contact.SPEC


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = commune(home, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- the payload and the merge ---------------------------------------------------------


def test_follow_up_fields_are_optional_and_a_contact_of_before_reads_as_it_was() -> None:
    old = {"v": 1, "name": "María", "phone": "+503 2222 0000"}
    assert SPEC.read(old) == old  # no upcast: the new fields are optional, still version 1
    built = SPEC.build({"name": "Ana"})
    assert built == {"v": 1, "name": "Ana", "stage": "met"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"stage": "friend"}, "'stage' must be one of met, talked, attends, takes-tasks, joined"),
        ({"due": "2026-02-30"}, "'due' must be a date that exists"),
        ({"due": "tomorrow"}, "'due' must be a date like 2026-12-31"),
        ({"next": "a\nb"}, "'next' must be a single line"),
        ({"follower": "x" * 201}, "'follower' is 201 characters; at most 200"),
        ({"history": "x" * 2001}, "'history' is 2001 characters; at most 2000"),
        ({"history": "a\x1b[2Jb"}, "'history' contains a control character"),
    ],
)
def test_bad_follow_up_values_are_refused_naming_the_field(
    values: dict[str, str], problem: str
) -> None:
    with pytest.raises(BadPayload, match=problem):
        SPEC.build({"name": "Ana", **values})


def test_an_empty_note_is_refused() -> None:
    with pytest.raises(BadPayload, match="--note needs the text of the entry to add"):
        SPEC.build_update({"history": "  "})


class _Event:
    """What change_of reads of an event."""

    def __init__(self, kind: str, event_id: bytes, author: bytes, ts: int, body: Any) -> None:
        self.kind, self.id, self.author, self.ts, self.body = kind, event_id, author, ts, body


def _changes() -> list[Any]:
    item = b"\x01" * 32
    events = [
        ("contact", item, b"\xaa" * 32, 10, {"v": 1, "name": "Ana", "history": "Met"}),
        ("contact.update", b"\x02" * 32, b"\xbb" * 32, 20, {"v": 1, "of": item, "history": "B"}),
        ("contact.update", b"\x03" * 32, b"\xaa" * 32, 20, {"v": 1, "of": item, "history": "A"}),
        ("contact.update", b"\x04" * 32, b"\xaa" * 32, 30, {"v": 1, "of": item, "stage": "talked"}),
    ]
    return [change_of(_Event(*e[:4], None), e[4]) for e in events]  # type: ignore[arg-type]


def test_notes_are_a_history_in_one_order_whatever_order_they_arrive_in() -> None:
    changes = _changes()
    rows = []
    for order in (changes, changes[::-1], [changes[2], changes[0], changes[3], changes[1]]):
        state: ItemState | None = None
        for change in [*order, order[1]]:  # one twice: still once
            state = merge(state, change)
        assert state is not None
        rows.append(state.as_row())
    assert rows[0] == rows[1] == rows[2]
    assert [e["text"] for e in rows[0]["history"]] == ["Met", "A", "B"]  # rank, then author
    assert rows[0]["stage"] == "talked"


# --- the command line, each command its own process --------------------------------------


def test_follow_ups_are_posted_noted_and_listed_when_due(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    today = datetime.date.today().isoformat()  # the viewer's local date, as the command's
    late = ok(home, "post", "contact", "--name", "María", "--stage", "talked", "--follower",
              "Ana", "--next", "Invite her to the forum", "--due", "2020-01-05",
              "--note", "Met at the gate, shift B").strip()  # fmt: skip
    now = ok(home, "post", "contact", "--name", "Luis", "--due", today).strip()
    ok(home, "post", "contact", "--name", "Later", "--due", "2999-01-01")
    ok(home, "post", "contact", "--name", "No date")
    ok(home, "post", "contact", "--edit", late[:8], "--note", "Called: she comes Saturday")
    ok(home, "post", "contact", "--edit", late[:8], "--stage", "attends")

    due = json.loads(ok(home, "show", "contacts", "--due", "--json"))
    assert [r["id"] for r in due] == [late, now]  # the earliest first
    first = due[0]
    assert (first["stage"], first["follower"], first["next"], first["due"]) == (
        "attends",
        "Ana",
        "Invite her to the forum",
        "2020-01-05",
    )
    assert [e["text"] for e in first["history"]] == [
        "Met at the gate, shift B",
        "Called: she comes Saturday",
    ]
    assert due[1]["history"] == []
    text = ok(home, "show", "contacts", "--due", env={"COLUMNS": "200"})
    line = next(line for line in text.splitlines() if "María" in line)
    assert "attends  2020-01-05  [overdue] María · Ana · Invite her to the forum" in line
    assert "Later" not in text
    assert len(json.loads(ok(home, "show", "contacts", "--json"))) == 4

    before = len(json.loads(ok(home, "log", "--json")))
    for args, message in [
        (("--name", "Z", "--stage", "friend"), "error: 'stage' must be one of met, talked"),
        (("--name", "Z", "--due", "2026-02-30"), "error: 'due' must be a date that exists"),
        (("--name", "Z", "--next", "a\nb"), "error: 'next' must be a single line"),
        (("--edit", late[:8], "--note", ""), "error: --note needs the text of the entry"),
        (("--edit", late[:8], "--follower", "x" * 201), "error: 'follower' is 201 characters"),
    ]:
        result = commune(home, "post", "contact", *args)
        assert result.returncode != 0
        lines = [x for x in result.stderr.splitlines() if not x.startswith("WARNING")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(message), (args, lines[0])
    assert len(json.loads(ok(home, "log", "--json"))) == before
    result = commune(home, "show", "reports", "--due")
    assert result.returncode == 2
    assert "error: --due applies to plans, " in result.stderr
    assert "contacts only, not reports" in result.stderr


# --- two nodes, over loopback: sealed, and merged the same ----------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    yield members
    close_all(members)


def _note(m: Member, item: bytes, **values: str) -> None:
    after = private.item_latest(m.node, m.keys, "contact", item)
    payload = {"v": 1, "of": item, "after": after, **SPEC.build_update(values)}
    readers = private.edit_recipients(m.node, m.keys, item, [])
    m.node.post(m.keys, [private.seal_item(m.node, m.keys, "contact.update", payload, readers)])


async def test_notes_written_at_once_on_two_nodes_merge_the_same_and_stay_sealed(
    pair: list[Member],
) -> None:
    la, sv = pair
    markers = ["QXNAME", "QXFOLLOWER", "QXNEXT", "QXNOTE1", "QXNOTE2", "QXNOTE3", "talked"]
    payload = SPEC.build(
        {
            "name": "QXNAME",
            "follower": "QXFOLLOWER",
            "next": "QXNEXT",
            "due": "2020-01-01",
            "stage": "talked",
            "history": "QXNOTE1",
        }
    )
    readers = private.recipients(la.node, la.keys, [sv.node.node_id.hex()])
    item = la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", payload, readers)])
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        # each adds a note without having seen the other's
        _note(la, item[0].id, history="QXNOTE2")
        _note(sv, item[0].id, history="QXNOTE3", stage="attends")
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    rows = {m.name: private.items(m.node, m.keys, "contact") for m in pair}
    assert [r["history"] for r in rows["Los Angeles"]] == [
        r["history"] for r in rows["El Salvador"]
    ]
    notes = [e["text"] for e in rows["Los Angeles"][0]["history"]]
    assert notes[0] == "QXNOTE1"
    assert sorted(notes[1:]) == ["QXNOTE2", "QXNOTE3"]
    assert rows["El Salvador"][0]["stage"] == "attends"
    assert la.state() == sv.state()
    # the envelope says no more than it did: kind "sealed", nothing of the follow-up
    for m in pair:
        events = [
            e for e in m.node.store.events() if e.author in (la.node.node_id, sv.node.node_id)
        ]
        assert {e.kind for e in events if e.seq > 2} <= {"sealed", "node.address", "node.keys"}
        for event in events:
            for marker in markers:
                assert marker.encode() not in event.raw
        assert m.node.projector.rows("contact") == []


# --- the web view ----------------------------------------------------------------------------


async def test_the_web_view_shows_the_follow_up_and_its_history_in_order(tmp_path: Path) -> None:

    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    item = ok(
        home,
        "post",
        "contact",
        "--name",
        "María",
        "--stage",
        "takes-tasks",
        "--follower",
        "Ana",
        "--due",
        "2020-01-05",
        "--note",
        "First <note>",
    ).strip()
    ok(home, "post", "contact", "--edit", item[:8], "--note", "Second note")
    ok(home, "post", "contact", "--name", "Luis", "--due", "2999-01-01")
    node = Node.open(Home(home))
    keys = Home(home).unlock(None)
    runner, _ = await start_web(node, keys, host="127.0.0.1", port=0)
    try:
        session, _ = await owner_session(node.home.path)
        try:
            async with session.get("/contacts") as response:
                html = await response.text()
            assert "First &lt;note&gt;" in html  # escaped
            assert html.index("First &lt;note&gt;") < html.index("Second note")
            assert "takes-tasks" in html or "Takes" in html
            async with session.get("/contacts", params={"overdue": "1"}) as response:
                late = await response.text()
            assert "María" in late
            assert "Luis" not in late
            async with session.get("/contacts", params={"lang": "es"}) as response:
                assert "asume tareas" in await response.text()
        finally:
            await session.close()
    finally:
        await runner.cleanup()
        node.close()
