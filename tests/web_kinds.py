"""Items of the kinds of issue 17 for the web view's tests (tests/test_web_kinds.py over
HTTP, tests/test_web_browser.py in Chromium): a meeting with minutes and attendance on
two of its dates, reports in each state (one for the paper with a plan held here and
one that is not, one published with its link), contacts followed up (late, due today)
with a history of notes, and a shift with people on its first slot. Posted through the
node as ``commune post`` does (each payload built by its kind's spec), dated from
today, so what is coming and what is late does not depend on the day the tests run.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from node import private
from protocol.kinds import POSTABLE
from tests.net import Member

MEETING = "Asamblea <script>alert('m')</script>"
MINUTES = "Acordamos <b>marchar</b> el sábado.\nDaniel hace el volante."
LATER_MINUTES = "Revisamos el volante."
ATTENDED = ["Maria", "Daniel <i>", "Rosa"]
GUESTS = "3"
ODD_PLACE = "javascript:alert('place')"
ZOOM = "https://meet.example.org/asamblea?id=7&pwd=x"
QUOTED = 'https://x.example.org/"onmouseover="alert(1)'
PLAN = "Print <em>leaflets</em>"
REPORTS = {
    "draft": "Borrador sobre el agua",
    "for-paper": "Rent strike, week two",
    "sent": "Enviado al periódico",
    "published": "Published: the tenants won",
}
PUBLISHED_LINK = "https://paper.example.org/2026/tenants-won"
LATE = "Thandiwe <b>Mokoena</b>"
DUE_TODAY = "José Martínez"
NOTES = ["First <note>", "Second note: she comes Saturday"]
SHIFT = "Puerta de la maquila"
SHIFT_PLACE = "Zona franca de San Bartolo"
TAKERS = ["Luis", "Marta"]


def today() -> datetime.date:
    """Today where the view runs (its pages date things by this machine's clock)."""
    return datetime.date.today()


def day(offset: int) -> str:
    return (today() + datetime.timedelta(days=offset)).isoformat()


@dataclass
class Posted:
    meeting: bytes = b""
    odd_meeting: bytes = b""
    plan: bytes = b""
    missing_plan: str = ""
    reports: dict[str, bytes] = field(default_factory=dict)
    late: bytes = b""
    due_today: bytes = b""
    shift: bytes = b""


def _post(m: Member, kind: str, values: dict[str, Any]) -> bytes:
    return m.node.post(m.keys, [(kind, POSTABLE[kind].build(values))])[0].id


def _update(m: Member, kind: str, item: bytes, payload: dict[str, Any]) -> None:
    after = m.node.projector.item_latest(kind, item)
    m.node.post(m.keys, [(f"{kind}.update", {"v": 1, "of": item, "after": after, **payload})])


def post_meetings(m: Member, posted: Posted) -> None:
    """A weekly meeting begun three weeks ago, with minutes and attendance on two dates
    held, and a one-off whose place is an odd address (a ``javascript:`` one)."""
    spec = POSTABLE["meeting"]
    began = day(-21)
    posted.meeting = _post(
        m,
        "meeting",
        {
            "title": MEETING,
            "when": f"{began} 18:00",
            "zone": "America/El_Salvador",
            "repeat": "weekly",
            "place": ZOOM,
            "agenda": "1. <script>alert('agenda')</script>\n2. The march",
        },
    )
    record = {"minutes": MINUTES, "attended": "\n".join(ATTENDED), "guests": GUESTS}
    _update(m, "meeting", posted.meeting, spec.build_occurrence(record, day(-14)))
    later = spec.build_occurrence({"minutes": LATER_MINUTES}, day(-7))
    _update(m, "meeting", posted.meeting, later)
    posted.odd_meeting = _post(
        m,
        "meeting",
        {"title": "Odd places", "when": f"{day(30)} 10:00", "zone": "UTC", "place": ODD_PLACE},
    )


def post_reports(m: Member, other: Member, posted: Posted) -> None:
    """A report in each state: the one for the paper contains a plan held here and one
    of ``other``'s that has not come here; the published one has its link."""
    posted.plan = _post(m, "plan", {"title": PLAN, "owner": "Ana", "due": day(5)})
    posted.missing_plan = _post(other, "plan", {"title": "Not synced yet"}).hex()
    spec = POSTABLE["report"]
    for state, title in REPORTS.items():
        report = _post(m, "report", {"title": title, "body": f"The {state} one."})
        posted.reports[state] = report
        change: dict[str, str] = {"state": state}
        if state == "for-paper":
            change["plans"] = f"{posted.plan.hex()} {posted.missing_plan}"
            change["tags"] = "housing"
        if state == "published":
            change["link"] = PUBLISHED_LINK
        if state != "draft":
            _update(m, "report", report, spec.build_update(change))


def post_contacts(m: Member, posted: Posted) -> None:
    """Two contacts sealed to ``m`` alone: one whose next step is late, with two notes
    (the second by an edit), and one whose next step is due today."""
    readers = private.recipients(m.node, m.keys, [])
    spec = POSTABLE["contact"]
    late = spec.build(
        {
            "name": LATE,
            "stage": "takes-tasks",
            "follower": "Ana",
            "next": "Ask her to chair <the> assembly",
            "due": day(-3),
            "history": NOTES[0],
        }
    )
    made = m.node.post(m.keys, [private.seal_item(m.node, m.keys, "contact", late, readers)])[0]
    posted.late = made.id
    edit = {"v": 1, "of": made.id, "after": made.ts, "history": NOTES[1]}
    m.node.post(m.keys, [private.seal_item(m.node, m.keys, "contact.update", edit, readers)])
    due = spec.build(
        {"name": DUE_TODAY, "stage": "talked", "follower": "Luis", "next": "Call", "due": day(0)}
    )
    posted.due_today = m.node.post(
        m.keys, [private.seal_item(m.node, m.keys, "contact", due, readers)]
    )[0].id


def post_shift(m: Member, posted: Posted) -> None:
    """A shift every day from today, two people needed, two on its first slot."""
    spec = POSTABLE["shift"]
    assert spec.slots is not None
    values = {
        "title": SHIFT,
        "place": SHIFT_PLACE,
        "weekdays": "mon,tue,wed,thu,fri,sat,sun",
        "start": "05:30",
        "end": "07:00",
        "zone": "America/El_Salvador",
        "since": day(0),
        "needed": "2",
    }
    posted.shift = _post(m, "shift", values)
    m.node.post(
        m.keys,
        [
            ("shift.take", {"v": 1, "of": posted.shift, "date": day(1), "who": who})
            for who in TAKERS
        ],
    )


def post_all(m: Member, other: Member) -> Posted:
    posted = Posted()
    post_meetings(m, posted)
    post_reports(m, other, posted)
    post_contacts(m, posted)
    post_shift(m, posted)
    return posted
