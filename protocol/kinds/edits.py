"""Changes to existing items (docs/PROTOCOL.md §5.3). Each names its item by id in ``of``,
and may say in ``after`` the highest clock of that item's values its author had seen
when writing it: the change then ranks after every one of them, whatever its own
timestamp, so an edit dated in the future never beats an edit made after it was seen.

=================  =============================================================
kind               effect
=================  =============================================================
``report.retract`` the report is withdrawn; counts only when written by the
                   report's own author
``plan.update``    the given fields of the plan change (any member)
``contact.update`` the given fields of the contact change
``contact.delete`` the contact is deleted, for good
=================  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.errors import BadPayload
from protocol.kinds.base import has_version

RETRACT = "retract"
UPDATE = "update"
DELETE = "delete"


@dataclass(frozen=True, slots=True)
class EditKind:
    name: str
    target: str
    action: str


EDITS: dict[str, EditKind] = {
    e.name: e
    for e in (
        EditKind("report.retract", "report", RETRACT),
        EditKind("plan.update", "plan", UPDATE),
        EditKind("contact.update", "contact", UPDATE),
        EditKind("contact.delete", "contact", DELETE),
    )
}


def edit_kind(target: str, action: str) -> EditKind:
    for edit in EDITS.values():
        if edit.target == target and edit.action == action:
            return edit
    raise BadPayload(f"a {target} cannot be {action}d")


def target_of(payload: dict[str, Any]) -> bytes | None:
    """The id of the item an edit payload names, or None when this version cannot read
    the payload: its ``v`` is not the integer 1 (``true`` is not 1), or ``of`` is not
    a 32-byte id."""
    if not has_version(payload, 1):
        return None
    of = payload.get("of")
    return of if isinstance(of, bytes) and len(of) == 32 else None


#: The largest rank a change can have (registers are unsigned 64-bit integers).
MAX_RANK = 2**64 - 1


def rank_of(payload: dict[str, Any], ts: int) -> int | None:
    """Where a change ranks among the item's changes (§5.3): its timestamp, or one above
    the ``after`` it names when that is higher; None when ``after`` is malformed (the
    edit is then unreadable, as any malformed payload)."""
    after = payload.get("after", 0)
    if type(after) is not int or not 0 <= after < MAX_RANK:
        return None
    return min(MAX_RANK, max(ts, after + 1))
