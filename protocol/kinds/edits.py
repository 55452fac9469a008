"""Changes to existing items (docs/PROTOCOL.md §5.3). Each names its item by id in ``of``,
and may say in ``after`` the highest clock of that item's values its author had seen
when writing it: the change then ranks after every one of them, whatever its own
timestamp, so an edit dated in the future never beats an edit made after it was seen.

A kind says which changes its items take (``KindSpec.edits``); each is the edit kind
``<kind>.<action>``, and the registry (``protocol/kinds/__init__.py`` ``EDITS``) holds
them all. The actions:

=============  ================================================================
action         effect
=============  ================================================================
``update``     the given fields of the item change (any member; ``plan.update``,
               ``contact.update``)
``retract``    the item is withdrawn; counts only when written by the item's own
               author (``report.retract``)
``delete``     the item is deleted, for good (``contact.delete``)
``take``       a person is on one of the item's dated slots (a kind with
               ``slots``: ``shift.take``); ``leave``: no longer on it. Each
               (slot, person) is a register of the item, merged as a field is
=============  ================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from protocol.kinds.base import (
    ACTIONS,
    DELETE,
    LEAVE,
    RETRACT,
    TAKE,
    UPDATE,
    KindSpec,
    has_version,
)

__all__ = [
    "DELETE",
    "EDITS",
    "LEAVE",
    "MAX_RANK",
    "RETRACT",
    "TAKE",
    "UPDATE",
    "EditKind",
    "edits_of",
    "rank_of",
    "refill",
    "target_of",
]

#: how the web view names an edit of an item, in English ("plan changed"); the web
#: view's catalogs translate it in the item kind's context (node/web/kinds.py)
_ACTION_LABELS = {
    UPDATE: "{kind} changed",
    RETRACT: "{kind} withdrawn",
    DELETE: "{kind} deleted",
    TAKE: "{kind} taken",
    LEAVE: "{kind} left",
}


@dataclass(frozen=True, slots=True)
class EditKind:
    name: str
    target: str
    action: str

    def label(self, target: KindSpec) -> str:
        """This edit in the web view's words, in English: "report withdrawn"."""
        return _ACTION_LABELS[self.action].format(kind=target.label)


def edits_of(spec: KindSpec) -> list[EditKind]:
    """The edit kinds of a kind, in the order of :data:`ACTIONS`, then a take and a leave
    of its slots when it has some."""
    actions = [a for a in ACTIONS if a in spec.edits]
    actions += [TAKE, LEAVE] if spec.slots is not None else []
    return [EditKind(f"{spec.name}.{action}", spec.name, action) for action in actions]


_TABLE: dict[str, EditKind] = {}
#: name -> every edit kind of the registered kinds (``plan.update``), in their order: a
#: read-only view that the registry (protocol/kinds/__init__.py) keeps filled
EDITS: Mapping[str, EditKind] = MappingProxyType(_TABLE)


def refill(specs: Iterable[KindSpec]) -> None:
    """Make :data:`EDITS` the edit kinds of ``specs`` (the registry's, when it changes)."""
    _TABLE.clear()
    for spec in specs:
        _TABLE.update((e.name, e) for e in edits_of(spec))


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
