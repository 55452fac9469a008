"""What one ``commune post`` writes, entry by entry: a new item, or a change of one (an
edit, a withdrawal, a deletion, a take or a leave of a day's slot, the minutes and
attendance of one date), from the command's options or from a row of a ``--from``
file, whose columns are the options' names (docs/CLI.md).

An :class:`Entry` is what was typed, sorted into its parts (:func:`entry_problem` says
what is wrong with its shape before the node is asked anything); :func:`file_entries`
makes one of each row of a file. :class:`Posting` checks each entry against the node
and against the entries before it, and makes the event to write; nothing is written
until every entry of a file is checked (the caller posts them all in one
transaction), and a bad one is refused naming its line and its field.

Each change is checked against its item as merged so far, this file's earlier changes
included: a take of someone a row above put on the slot is refused, and an update a
row above made is what the next row's checks see. For that :class:`Posting` merges
each change into its item as every node will (protocol/projections.py), with the least
rank the change can have, one above the ``after`` it names; the next change of that
item then names a higher ``after``. So the changes of one item in a file rank in the
file's order on every node, whatever the clocks say: two changes of one register with
one rank and one author would leave the outcome to the order events are folded in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import private
from node.cli_meeting import occurrence_values
from node.cli_slots import slot_fields
from node.cli_values import find_item
from node.errors import BadImportFile
from node.importer import read_rows
from node.service import Node
from protocol.envelope import Event
from protocol.errors import BadPayload
from protocol.kinds import KindSpec, Payload
from protocol.kinds.base import OCCURRENCE
from protocol.kinds.edits import DELETE, LEAVE, RETRACT, TAKE, UPDATE
from protocol.projections import ItemState, change_of, merge

#: each change's word: its option on the command line (``--edit ID``) and its column in
#: a ``--from`` file (``edit``), holding the id of the item it changes
CHANGE_WORDS = {UPDATE: "edit", RETRACT: "retract", DELETE: "delete", TAKE: "take", LEAVE: "leave"}


@dataclass
class Entry:
    """One post as typed: a new item (no ``action``) or a change of the item ``target``
    names (its id or a unique prefix), with the values given, by field name."""

    action: str = ""
    target: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    #: a take's or a leave's day and person (``KindSpec.slots``)
    slot: dict[str, str] = field(default_factory=dict)
    #: the values of one date (``KindSpec.occurrence_fields``) and ``date`` when given
    occurrence: dict[str, str] = field(default_factory=dict)
    #: a row of a file (its values are named as columns), not the command's options
    in_file: bool = False

    def name(self, word: str) -> str:
        """An option or a column as a message names it: ``--date``, or ``'date'``."""
        return repr(word) if self.in_file else f"--{word}"

    def id_option(self, action: str) -> str:
        """How a change is given: ``--edit ID``, or ``'edit' (an id)``."""
        return self.name(CHANGE_WORDS[action]) + (" (an id)" if self.in_file else " ID")


def entry_problem(spec: KindSpec, entry: Entry) -> str | None:
    """What is wrong with the shape of an entry (values that go with another change), or
    None: asked before the node is opened."""
    names = ", ".join(entry.name(k) for k in [*entry.slot, *entry.occurrence])
    if entry.slot and entry.action not in (TAKE, LEAVE):
        verb = "go" if len(entry.slot) > 1 else "goes"
        names = " and ".join(entry.name(k) for k in entry.slot)
        return f"{names} {verb} with {entry.name('take')} or {entry.name('leave')}"
    if entry.occurrence and not entry.action:
        return f"{names}: give them with {entry.id_option(UPDATE)}, once it has taken place"
    if entry.occurrence and entry.action != UPDATE:
        return f"{entry.name(CHANGE_WORDS[entry.action])} takes no values of one date ({names})"
    if entry.fields and entry.action not in ("", UPDATE):
        fields = ", ".join(entry.fields)
        return f"{entry.name(CHANGE_WORDS[entry.action])} takes no field options ({fields})"
    if entry.action == UPDATE and set(entry.occurrence) == {OCCURRENCE}:
        values = ", ".join(entry.name(f.name) for f in spec.occurrence_fields)
        return f"{entry.name(OCCURRENCE)} goes with {values}: give what to set for that date"
    return None


def _row_entry(spec: KindSpec, values: Mapping[str, str | None]) -> Entry:
    """A row of a file as an entry: its columns are the names of ``post``'s options (a
    field's name or its option's, a change's word, a slot's or a date's value); an
    empty cell is a value not given."""
    changes = {CHANGE_WORDS[action]: action for action in spec.edit_kinds()}
    slots = () if spec.slots is None else (spec.slots.slot.name, spec.slots.who.name)
    dated = (
        [OCCURRENCE, *(f.name for f in spec.occurrence_fields)] if spec.occurrence_fields else []
    )
    fields = {f.name: f.name for f in spec.fields} | {f.flag: f.name for f in spec.fields if f.flag}
    entry = Entry(in_file=True)
    given = []
    named: dict[str, str] = {}
    for key, value in values.items():
        if key not in fields and key not in changes and key not in slots and key not in dated:
            columns = ", ".join([*fields, *changes, *dict.fromkeys([*slots, *dated])])
            raise BadPayload(f"{spec.name} has no field {key!r} (a row's columns: {columns})")
        if value is None:
            continue
        if key in fields:
            if fields[key] in named:
                raise BadPayload(
                    f"{fields[key]!r} is given twice: as {named[fields[key]]!r} and {key!r}"
                )
            named[fields[key]] = key
            entry.fields[fields[key]] = value
        elif key in changes:
            given.append(key)
            entry.action, entry.target = changes[key], value
        elif key in slots:
            entry.slot[key] = value
        else:
            entry.occurrence[key] = value
    if len(given) > 1:
        raise BadPayload(f"give only one of {', '.join(map(repr, given))} in a row")
    problem = entry_problem(spec, entry)
    if problem is not None:
        raise BadPayload(problem)
    return entry


def file_entries(spec: KindSpec, data: bytes, name: str) -> list[tuple[int, Entry]]:
    """(line number, entry) for each row of a ``--from`` file; :class:`BadImportFile`
    names the line of the first row that is not one."""
    entries = []
    for number, values in read_rows(data, name):
        try:
            entries.append((number, _row_entry(spec, values)))
        except BadPayload as e:
            raise BadImportFile(f"{name} line {number}: {e.message}") from None
    if not entries:
        raise BadImportFile(f"{name} holds no rows; nothing was posted")
    return entries


def post_entries(
    node: Node,
    keys: NodeKeys,
    spec: KindSpec,
    entries: list[tuple[int, Entry]],
    *,
    source: str | None,
    to: tuple[str, ...] = (),
) -> tuple[list[Event], Posting]:
    """Check every entry (of the file ``source``, or the one of the options), then post
    them all in one transaction: the events written, and what they were."""
    posting = Posting(node, keys, spec, to)
    if source is None:
        for _, entry in entries:
            posting.add(entry)
    else:
        posting.add_rows(entries, source)
    return node.post(keys, posting.events), posting


@dataclass
class _Item:
    """An item a change names, as merged so far (this command's changes included)."""

    state: ItemState | None
    private: bool
    #: a private item's readers (from its creating event), and whom its edits go to
    readers: tuple[bytes, ...] | None = None
    recipients: dict[bytes, bytes] | None = None


class Posting:
    """The events one ``post`` writes (:attr:`events`), each checked when added."""

    def __init__(self, node: Node, keys: NodeKeys, spec: KindSpec, to: tuple[str, ...]) -> None:
        self.node, self.keys, self.spec, self.to = node, keys, spec, to
        self.events: list[tuple[str, Payload | bytes]] = []
        #: new items, and changes of items
        self.new = self.changed = 0
        #: whom new items are sealed to (empty: they are public)
        self.readers: dict[bytes, bytes] = {}
        if spec.private or to:
            self.readers = private.recipients(node, keys, to)  # refuses a bad --to first
        self._items: dict[bytes, _Item] = {}
        self._private: dict[str, tuple[dict[Any, ItemState], dict[bytes, tuple[bytes, ...]]]] = {}

    def add_rows(self, entries: list[tuple[int, Entry]], name: str) -> None:
        """Add the entries of a file; the first bad one is refused naming its line."""
        for number, entry in entries:
            try:
                self.add(entry)
            except CommuneError as e:
                raise BadImportFile(f"{name} line {number}: {e.message}") from None

    def add(self, entry: Entry) -> None:
        """Check ``entry`` and add its event; :class:`BadPayload` (or another
        :class:`CommuneError`) says what is wrong, naming the field."""
        if entry.action:
            self._change(entry)
            return
        payload = self.spec.build(self._refs(entry))
        if self.readers:
            self.events.append(
                private.seal_item(self.node, self.keys, self.spec.name, payload, self.readers)
            )
        else:
            self.events.append((self.spec.name, payload))
        self.new += 1

    def _private_states(
        self, kind: str
    ) -> tuple[dict[Any, ItemState], dict[bytes, tuple[bytes, ...]]]:
        """The private items of a kind this node can open, opened once per command."""
        if kind not in self._private:
            self._private[kind] = private.item_states(self.node, self.keys, kind)
        return self._private[kind]

    def _find(self, kind: str, text: str, what: str) -> tuple[bytes, bool]:
        return find_item(
            kind,
            text,
            lambda prefix: self.node.store.item_ids_with_prefix(kind, prefix),
            lambda: [key[1] for key, s in self._private_states(kind)[0].items() if s.visible],
            what,
        )

    def _refs(self, entry: Entry) -> dict[str, str]:
        """The field values with each list of ids (``Field.refs``) written out whole."""
        out = dict(entry.fields)
        for f in self.spec.fields:
            if f.refs and entry.fields.get(f.name):
                what = repr(f.name) if entry.in_file else f.option
                words = entry.fields[f.name].split()
                out[f.name] = " ".join(self._find(f.refs, w, what)[0].hex() for w in words)
        return out

    def _item(self, item_id: bytes, is_private: bool) -> _Item:
        if item_id not in self._items:
            kind = self.spec.name
            if is_private:
                states, readers = self._private_states(kind)
                item = _Item(states.get((kind, item_id)), True, readers.get(item_id))
            else:
                item = _Item(self.node.projector.item_state(kind, item_id), False)
            self._items[item_id] = item
        return self._items[item_id]

    def _change(self, entry: Entry) -> None:
        spec, action = self.spec, entry.action
        what = repr(CHANGE_WORDS[action]) if entry.in_file else ""
        item_id, is_private = self._find(spec.name, entry.target, what)
        item = self._item(item_id, is_private)
        state = item.state
        if state is None or not state.visible:
            raise BadPayload(f"that {spec.name} is not there any more (deleted or withdrawn)")
        row = state.as_row()
        fields: dict[str, Any] = {}
        if action == UPDATE:
            given = self._refs(entry)
            if given or not entry.occurrence:
                fields = spec.build_update(given)
                spec.check_agree({**state.values(), **fields})
            if entry.occurrence:
                fields |= occurrence_values(spec, row, entry.occurrence)
        elif action in (TAKE, LEAVE):
            fields = slot_fields(spec, row, action, entry.slot)
        elif action == RETRACT and state.author != self.keys.node_id:
            raise BadPayload(
                f"only the node that wrote a {spec.name} can withdraw it (this one was "
                f"written by {str(row['author'])[:12]}…)"
            )
        kind = f"{spec.name}.{action}"
        payload: Payload = {"v": 1, "of": item_id, "after": state.latest(), **fields}
        if is_private:
            if item.recipients is None:
                item.recipients = private.edit_recipients(
                    self.node, self.keys, item_id, self.to, readers=item.readers
                )
            sealed = private.seal_item(self.node, self.keys, kind, payload, item.recipients)
            self.events.append(sealed)
        elif self.to:
            raise BadPayload(
                f"that {spec.name} is public: --to applies to new items and to private ones"
            )
        else:
            self.events.append((kind, payload))
        self.changed += 1
        # as every node will merge it, with the least rank it can have (after + 1)
        draft = _draft(kind, self.keys.node_id, self.changed)
        change = change_of(draft, payload)
        if change is not None:
            item.state = merge(state, change)


def _draft(kind: str, author: bytes, number: int) -> Event:
    """An event as :func:`change_of` reads one (kind, id, author, ts 0), never written:
    its id, the number, is none an event has (an event's is a SHA-256 digest)."""
    return Event(
        id=number.to_bytes(32, "big"),
        network=b"",
        author=author,
        seq=0,
        prev=None,
        ts=0,
        kind=kind,
        body_hash=b"",
        signature=b"",
        body=None,
        raw=b"",
        header=b"",
    )
