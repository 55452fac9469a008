"""A plan: a concrete action with an owner, a due date and a status that changes."""

from __future__ import annotations

from protocol.kinds.base import NEWEST, OVERDUE, TABLE, UPDATE, Field, KindSpec, Listing

STATUSES = ("open", "doing", "done", "dropped")
#: the statuses of a plan still to be done: past its due date, it is overdue
OPEN = ("open", "doing")

SPEC = KindSpec(
    name="plan",
    help="A concrete action with an owner, a due date and a status.",
    version=1,
    fields=(
        Field("title", "what will be done", required=True, max_len=200),
        Field("description", "details", max_len=20000, multiline=True),
        Field("owner", "who is responsible", max_len=200, empty="nobody yet"),
        Field("due", "due date, YYYY-MM-DD", max_len=10, date=True),
        Field(
            "status",
            "one of: " + ", ".join(STATUSES),
            max_len=10,
            default="open",
            choices=STATUSES,
        ),
    ),
    edits=(UPDATE,),
    listing=Listing(
        show=("due", "status", "title", "owner"),
        layout=TABLE,
        columns=("title", "owner", "due", "status"),
        sorts=(("due", "due date"), ("status", "status"), ("owner", "owner"), (NEWEST, NEWEST)),
        filters=("status", "owner", OVERDUE),
        dated_by="due",
        still_open=("status", OPEN),
    ),
    order=20,
)
