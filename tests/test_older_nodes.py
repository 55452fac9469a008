"""Nodes of the version before issue 17 and the new kinds (docs/PROTOCOL.md §5.2, §5.4):
a node that knows no shift and no meeting, reports of version 1 only, and plans and
contacts without concentrations or follow-up, takes in every event of the new kinds,
relays it unchanged to a node it alone reaches, says it cannot show it (unknown, or
unreadable), and shows what it can as before; upgraded, it shows what every other node
shows, its own reports of version 1 read through the upcaster as drafts that go on to
the paper like any other."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import private
from node.cli_entries import file_entries, post_entries
from protocol.kinds import POSTABLE, Field, KindSpec, Listing, register, unregister
from protocol.kinds.base import DELETE, RETRACT, UPDATE
from tests.net import Member, close_all, make_network

#: the item kinds as the version before issue 17 had them: no meeting, no shift
BEFORE = [
    KindSpec(
        name="report",
        help="What the collective did and learned.",
        version=1,
        fields=(
            Field("title", "a one-line title", required=True, max_len=200),
            Field("body", "the text of the report", max_len=20000, multiline=True),
        ),
        edits=(RETRACT,),
        listing=Listing(show=("ts", "title")),
        order=10,
        tags=False,
    ),
    KindSpec(
        name="plan",
        help="A concrete action.",
        version=1,
        fields=(
            Field("title", "what will be done", required=True, max_len=200),
            Field("description", "details", max_len=20000, multiline=True),
            Field("owner", "who is responsible", max_len=200),
            Field("due", "due date", max_len=10, date=True),
            Field("status", "status", max_len=10, default="open", choices=("open", "done")),
        ),
        edits=(UPDATE,),
        order=20,
        tags=False,
    ),
    KindSpec(
        name="contact",
        help="A person the collective works with.",
        version=1,
        fields=(
            Field("name", "the person's name", required=True, max_len=200),
            Field("phone", "phone number", max_len=100),
            Field("email", "e-mail address", max_len=200),
            Field("place", "town, area or organisation", max_len=200),
            Field("notes", "notes", max_len=5000, multiline=True),
        ),
        private=True,
        edits=(UPDATE, DELETE),
        order=30,
        tags=False,
    ),
]
NEW_KINDS = ("report", "plan", "meeting", "shift", "contact")


@contextlib.contextmanager
def version_before() -> Iterator[None]:
    """This process reads events as a node of the version before issue 17 does."""
    current = [POSTABLE[name] for name in NEW_KINDS]
    for name in NEW_KINDS:
        unregister(name)
    for spec in BEFORE:
        register(spec)
    try:
        yield
    finally:
        for spec in BEFORE:
            unregister(spec.name)
        for spec in current:
            register(spec)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador", "South Africa"])
    yield members
    close_all(members)


def _post(m: Member, kind: str, *rows: dict[str, str]) -> list[str]:
    """``post <kind> --from`` these rows as JSON lines, in this process; the new events'
    ids."""
    spec = POSTABLE[kind]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    entries = file_entries(spec, text.encode(), "rows.jsonl")
    events, _ = post_entries(m.node, m.keys, spec, entries, source="rows.jsonl")
    return [e.id.hex() for e in events]


def _item(m: Member, kind: str, values: dict[str, str], to: tuple[Member, ...] = ()) -> str:
    """A new item of ``kind``, sealed to ``to`` too when the kind is private; its id."""
    event: tuple[str, dict[str, str] | bytes] = (kind, POSTABLE[kind].build(values))
    if POSTABLE[kind].private:
        readers = private.recipients(m.node, m.keys, [o.node.node_id.hex() for o in to])
        event = private.seal_item(m.node, m.keys, kind, POSTABLE[kind].build(values), readers)
    return m.node.post(m.keys, [event])[0].id.hex()


def test_older_nodes_relay_the_new_kinds_unchanged_and_say_they_cannot_show_them(
    network: list[Member],
) -> None:
    la, sv, za = network
    shift = _item(la, "shift", {"title": "Gate", "start": "05:30", "end": "07:00",
                                "zone": "America/El_Salvador", "since": "2026-12-03"})  # fmt: skip
    meeting = _item(la, "meeting", {"title": "Group", "when": "2026-11-05 18:30",
                                    "zone": "America/Los_Angeles", "repeat": "weekly"})  # fmt: skip
    plan = _item(la, "plan", {"title": "Leaflets", "tags": "vivienda"})
    report = _item(la, "report", {"title": "Para el periódico", "state": "for-paper",
                                  "plans": plan, "tags": "vivienda"})  # fmt: skip
    contact = _item(la, "contact", {"name": "Rosa", "stage": "talked", "follower": "Ana",
                                    "history": "Met at the gate"}, to=(sv, za))  # fmt: skip
    _post(la, "shift", {"take": shift, "date": "2026-12-10", "who": "Ana"})
    _post(la, "shift", {"leave": shift, "date": "2026-12-10", "who": "Ana"})
    _post(la, "meeting", {"edit": meeting, "date": "2026-11-19", "guests": "4"})
    _post(la, "report", {"edit": report, "state": "sent"})
    _post(la, "plan", {"edit": plan, "tag": "huelga"})
    _post(la, "contact", {"edit": contact, "note": "Came", "stage": "attends"})
    written = {e.id: e.raw for e in la.node.store.events() if e.author == la.node.node_id}

    with version_before():
        old = sv.node.post(sv.keys, [("report", POSTABLE["report"].build({"title": "Old one"}))])
        sv.node.ingest([e.raw for e in la.node.store.events()])
        za.node.ingest([e.raw for e in sv.node.store.events()])  # ZA hears LA through SV only
        for m in (sv, za):
            assert m.node.verify() == []
            held = {e.id: e.raw for e in m.node.store.events()}
            assert {i: held.get(i) for i in written} == written  # relayed byte for byte
            unknown = {(u["kind"], u["reason"]) for u in m.node.projector.unknown()}
            assert unknown == {
                ("shift", "unknown kind"),
                ("shift.take", "unknown kind"),
                ("shift.leave", "unknown kind"),
                ("meeting", "unknown kind"),
                ("meeting.update", "unknown kind"),
                ("report", "unreadable payload"),  # version 2
                ("report.update", "unknown kind"),
            }
            # what it can show, it shows as before: no tags, no follow-up
            assert [r["title"] for r in m.node.projector.rows("report")] == ["Old one"]
            [shown_plan] = m.node.projector.rows("plan")
            assert (shown_plan["title"], "tags" in shown_plan) == ("Leaflets", False)
            [shown_contact] = private.items(m.node, m.keys, "contact")
            assert shown_contact["name"] == "Rosa"
            assert not {"stage", "follower", "history", "tags"} & set(shown_contact)
        assert sv.state() == za.state()

    la.node.ingest([e.raw for e in sv.node.store.events()])
    for m in (sv, za):  # upgraded in place: the log folded again by this version
        m.node.rebuild()
        assert m.node.projector.unknown() == []
    for kind in ("report", "plan", "meeting", "shift"):
        rows = la.node.projector.rows(kind)
        assert sv.node.projector.rows(kind) == rows == za.node.projector.rows(kind), kind
    assert la.state() == sv.state() == za.state()
    contacts = [private.items(m.node, m.keys, "contact")[0] for m in network]
    assert [[e["text"] for e in c["history"]] for c in contacts] == [
        ["Met at the gate", "Came"]
    ] * 3
    assert {c["stage"] for c in contacts} == {"attends"}

    # the report SV wrote as version 1 reads as a draft of version 2, and goes to the
    # paper by a change checked against what it reads as
    reports = {r["title"]: r for r in sv.node.projector.rows("report")}
    assert (reports["Old one"]["state"], reports["Para el periódico"]["state"]) == (
        "draft",
        "sent",
    )
    _post(sv, "report", {"edit": old[0].id.hex(), "state": "for-paper"})
    la.node.ingest([e.raw for e in sv.node.store.events()])
    queue = [r["title"] for r in la.node.projector.rows("report") if r["state"] == "for-paper"]
    assert queue == ["Old one"]
    assert la.node.projector.rows("shift")[0]["taken"] == {}
    assert la.node.projector.rows("plan")[0]["tags"] == "huelga"
