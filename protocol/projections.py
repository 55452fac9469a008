"""Projections: reports, plans and contacts as pure merges of events (docs/PROTOCOL.md §5).

Every item (a report, a plan, a contact) is a small state that events *merge* into:

- the creating event sets the item's author and time and its fields;
- ``plan.update`` and ``contact.update`` set some fields. Each field is a
  last-writer-wins register: the value with the highest ``(rank, author)`` wins, where
  an edit's rank is its ``ts``, or one above the ``after`` it names (the highest clock
  of the item its author had seen), whichever is higher: so an edit made after another
  was seen beats it, however far ahead the other's clock was;
- ``report.retract`` adds its author to the item's retractions; the report is hidden
  when its own author is among them (checked when read, so the order does not matter);
- ``contact.delete`` deletes the contact for good;
- ``shift.take`` and ``shift.leave`` set the register of one (day, person) of a shift:
  the name, or empty once left; merged as a field is (protocol/kinds/base.py
  :class:`Slots`).

Merging is commutative, associative and idempotent, so any delivery order of the same
events gives the same items, and so the same :class:`StateHasher` digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocol import encoding, signed
from protocol.envelope import SEALED, Event
from protocol.errors import EncodingError
from protocol.kinds import EDITS, KNOWN, POSTABLE, KindSpec, Payload
from protocol.kinds.base import Slots, has_version
from protocol.kinds.edits import DELETE, LEAVE, RETRACT, TAKE, UPDATE, rank_of, target_of

#: (value, ts, author) of one field
Register = tuple[str, int, bytes]


def list_keys(state: ItemState) -> tuple[str | None, int | None]:
    """What the web view's lists of a dated kind (``Listing.dated_by``) sort and filter
    by, kept beside the item (node/projector.py): its date key (``Listing.date_key``)
    and whether it is still to be done (``Listing.still_to_do``, 1 or 0); (None, None)
    for a kind that is not dated. Its values read as the web view reads them, as text."""
    spec = POSTABLE.get(state.kind)
    if spec is None or not spec.listing.dated_by:
        return None, None
    current = {name: str(register[0]) for name, register in state.fields}
    return spec.listing.date_key(current), int(spec.listing.still_to_do(current))


@dataclass(frozen=True, slots=True)
class ItemState:
    kind: str
    id: bytes
    author: bytes | None = None
    ts: int = 0
    #: field name -> (value, ts, author), sorted by name
    fields: tuple[tuple[str, Register], ...] = ()
    retracted_by: tuple[bytes, ...] = ()
    deleted: bool = False

    @property
    def visible(self) -> bool:
        """Created, not retracted by its author, not deleted."""
        return self.author is not None and self.author not in self.retracted_by and not self.deleted

    def latest(self) -> int:
        """The highest clock among the item's values: what a new edit of it names in
        ``after`` (§5.3), so that it ranks after all of them."""
        return max([self.ts, *(register[1] for _, register in self.fields)])

    def values(self) -> dict[str, str]:
        spec = POSTABLE[self.kind]
        current = dict(self.fields)
        return {f.name: current[f.name][0] if f.name in current else "" for f in spec.fields}

    def taken(self) -> dict[str, list[str]]:
        """A kind with slots: slot -> who is on it (protocol/kinds/base.py :class:`Slots`)."""
        return Slots.taken({name: register[0] for name, register in self.fields})

    def histories(self) -> dict[str, list[dict[str, Any]]]:
        """Each history of the item's kind (``Field.append``): its entries, in order."""
        spec = POSTABLE[self.kind]
        return {f.name: history(self, f.name) for f in spec.fields if f.append}

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.id.hex(),
            "author": self.author.hex() if self.author else None,
            "ts": self.ts,
            **self.values(),
            **self.histories(),
        }
        if POSTABLE[self.kind].slots is not None:
            row["taken"] = self.taken()
        if POSTABLE[self.kind].occurrence_fields:
            row["occurrences"] = self.occurrences()
        return row

    def occurrences(self) -> dict[str, dict[str, str]]:
        """date -> the values of the kind's ``occurrence_fields`` set for that date
        (registers ``name@date``, protocol/kinds/base.py), dates in order."""
        found: dict[str, dict[str, str]] = {}
        for name, register in self.fields:
            field_name, at, day = name.partition("@")
            if at and field_name:
                found.setdefault(day, {})[field_name] = register[0]
        return dict(sorted(found.items()))

    def encode(self) -> bytes:
        # arrays and scalars only: msgpack's own encoding is the canonical one
        return encoding.encode_arrays(
            [
                self.kind,
                self.id,
                self.author,
                self.ts,
                [[name, list(register)] for name, register in self.fields],
                list(self.retracted_by),
                self.deleted,
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> ItemState:
        kind, item_id, author, ts, fields, retracted_by, deleted = encoding.decode(data)
        return cls(
            kind,
            item_id,
            author,
            ts,
            tuple((name, (r[0], r[1], r[2])) for name, r in fields),
            tuple(retracted_by),
            deleted,
        )


@dataclass(frozen=True, slots=True)
class Change:
    """What one event does to one item."""

    kind: str
    item_id: bytes
    author: bytes
    ts: int
    create: bool = False
    fields: tuple[tuple[str, str], ...] = ()
    retract: bool = False
    delete: bool = False

    @property
    def key(self) -> tuple[str, bytes]:
        return (self.kind, self.item_id)


def read_payload(event: Event) -> Payload | None:
    """The decoded payload of a public event, or None when erased or not a map."""
    if event.body is None or event.kind == SEALED:
        return None
    try:
        payload = encoding.decode(event.body)
    except EncodingError:
        return None
    return payload if isinstance(payload, dict) else None


def change_of(event: Event, payload: Payload | None = None) -> Change | None:
    """The change ``event`` makes to an item, or None (not an item event, or a payload
    this version cannot read)."""
    payload = read_payload(event) if payload is None else payload
    if payload is None:
        return None
    spec = POSTABLE.get(event.kind)
    if spec is not None:
        current = spec.read(payload)
        if current is None:
            return None
        fields = _entries(
            spec.name, event.id, [(f.name, current.get(f.name, "")) for f in spec.fields]
        )
        return Change(spec.name, event.id, event.author, event.ts, create=True, fields=fields)
    edit = EDITS.get(event.kind)
    target = target_of(payload)
    if edit is None or target is None or not has_version(payload, 1):
        return None
    rank = rank_of(payload, event.ts)
    if rank is None:
        return None
    if edit.action in (TAKE, LEAVE):
        slots = POSTABLE[edit.target].slots
        register = None if slots is None else slots.read(payload, edit.action == TAKE)
        if register is None:
            return None
        return Change(edit.target, target, event.author, rank, fields=(register,))
    if edit.action == UPDATE:
        changed = POSTABLE[edit.target].read_update(payload)
        return Change(
            edit.target,
            target,
            event.author,
            rank,
            fields=tuple(sorted(_entries(edit.target, event.id, changed.items()))),
        )
    return Change(
        edit.target,
        target,
        event.author,
        rank,
        retract=edit.action == RETRACT,
        delete=edit.action == DELETE,
    )


def entry_register(name: str, event_id: bytes) -> str:
    """The register of one entry of a history (``Field.append``, §5.3): the field's
    name, ``+`` and the id of the event that wrote it. No field's name holds a ``+``,
    so an entry never meets a field, and the same event always writes the same entry."""
    return f"{name}+{event_id.hex()}"


#: kind -> (its spec, the names of its histories): asked once an event, worked out once
#: a spec (a kind registered again, as tests do, is worked out again)
_HISTORIES: dict[str, tuple[KindSpec, frozenset[str]]] = {}


def _histories(kind: str) -> frozenset[str]:
    spec = POSTABLE[kind]
    known = _HISTORIES.get(kind)
    if known is None or known[0] is not spec:
        known = (spec, frozenset(f.name for f in spec.fields if f.append))
        _HISTORIES[kind] = known
    return known[1]


def _entries(
    kind: str, event_id: bytes, fields: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """An event's field values, a history's value as its entry (left out when empty)."""
    histories = _histories(kind)
    return tuple(
        (entry_register(name, event_id) if name in histories else name, value)
        for name, value in fields
        if value or name not in histories
    )


def history(state: ItemState, name: str) -> list[dict[str, Any]]:
    """The entries of the history ``name`` of an item, in (rank, author, event id) order:
    each its ``ts`` (the rank), ``author`` (hex) and ``text``."""
    prefix = name + "+"
    entries = sorted(
        (register[1], register[2], key, register[0])
        for key, register in state.fields
        if key.startswith(prefix)
    )
    return [{"ts": ts, "author": author.hex(), "text": text} for ts, author, _, text in entries]


def merge(state: ItemState | None, change: Change) -> ItemState:
    """The item after ``change``; the same whatever order changes come in."""
    if state is None:
        state = ItemState(change.kind, change.item_id)
    author, ts = state.author, state.ts
    if change.create:
        author, ts = change.author, change.ts
    registers = dict(state.fields)
    for name, value in change.fields:
        current = registers.get(name)
        if current is None or (change.ts, change.author) > (current[1], current[2]):
            registers[name] = (value, change.ts, change.author)
    retracted = state.retracted_by
    if change.retract and change.author not in retracted:
        retracted = tuple(sorted((*retracted, change.author)))
    return ItemState(
        state.kind,
        state.id,
        author,
        ts,
        tuple(sorted(registers.items())),
        retracted,
        state.deleted or change.delete,
    )


def is_unknown(event: Event) -> bool:
    """§5.4: a kind this version does not know."""
    return event.kind not in KNOWN


class StateHasher:
    """§5.6: the state hash, fed in a fixed order: the membership, then every item in
    (kind, id) order, then the ids of counted events of unknown kinds and of sealed
    events in id order. Each piece is a canonical msgpack value, so the concatenation
    is unambiguous."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(signed.STATE_HASH)

    def add(self, value: Any) -> None:
        self._hash.update(encoding.encode(value))

    def add_item(self, encoded_state: bytes) -> None:
        self._hash.update(encoded_state)

    def digest(self) -> bytes:
        return self._hash.digest()
