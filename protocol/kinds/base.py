"""What a kind is: one spec that says all there is to say about it.

A :class:`KindSpec` holds its payload fields and schema version, how older payload
versions are read (upcasting, docs/PROTOCOL.md §5.2), the changes its items take
(§5.3), whether it is private by default (§11), its names (plural, labels) and how its
items are listed (:class:`Listing`). The registry (``protocol/kinds/__init__.py``), the
command line's ``post`` and ``show``, the web view's lists, menu and event pages, and
the kinds tables of docs/CLI.md and docs/PROTOCOL.md are all built from it, so a kind
is described in one place.

Why this module is long: it is the one description of what a kind may hold (text,
dates, choices, lists, lists of ids) and how it is listed, with the checks that refuse
a spec naming what it does not have; split, each part would need the others to check
a spec.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from protocol.errors import BadPayload

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

#: the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
#: they make text show in another order than it is stored in, so a name or an address
#: could read as something it is not
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


#: every character :func:`control_char` refuses: category Cc is exactly U+0000-U+001F and
#: U+007F-U+009F, Zl exactly U+2028 and Zp exactly U+2029 (stable in Unicode), and the
#: bidi controls; one regular expression finds them far faster than a loop in Python
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def control_char(text: str, allowed: str = "") -> str | None:
    """What is wrong with ``text`` if it holds a control character, else None.

    Refused: the C0 and C1 controls (Unicode category Cc: escape sequences, NUL, line
    breaks) except those in ``allowed``, the line and paragraph separators (Zl, Zp),
    and :data:`BIDI_CONTROLS`. Other format characters (Cf) are kept: the zero-width
    joiners are part of how many scripts and emoji are written."""
    if _REFUSED.search(text) is None:  # nearly always: one scan, no iterator
        return None
    for match in _REFUSED.finditer(text):
        ch = match.group()
        if ch in allowed:
            continue
        name = unicodedata.name(ch, "")
        return f"contains a control character (U+{ord(ch):04X}{' ' + name if name else ''})"
    return None


#: the days of the week as a field holds them (``Field.weekdays``), Monday first
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: an item's id as a list of ids holds it: 64 lowercase hex digits
_ID = re.compile(r"[0-9a-f]{64}")


def check_date(text: str) -> str | None:
    """YYYY-MM-DD, ASCII digits, a day that exists (2026-02-30 is refused)."""
    if _DATE.fullmatch(text) is None:
        return f"must be a date like 2026-12-31, not {text[:40]!r}"
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return f"must be a date that exists, like 2026-12-31, not {text!r}"
    return None


def is_int(value: object) -> TypeGuard[int]:
    """An integer and not a bool: in Python ``True == 1``, but a payload's ``true`` is
    not an integer (docs/PROTOCOL.md §2)."""
    return type(value) is int


def has_version(payload: Mapping[str, Any], version: int) -> bool:
    """The payload's ``v`` is the integer ``version`` (not ``true`` for 1)."""
    v = payload.get("v")
    return is_int(v) and v == version


@dataclass(frozen=True, slots=True)
class Field:
    """One text field of a kind's payload: the rules a value follows when written and
    read, and how the command line, the web view and the docs show it."""

    name: str
    help: str
    required: bool = False
    max_len: int = 1000
    multiline: bool = False
    default: str = ""
    #: returns an error message for a bad value, or None
    check: Callable[[str], str | None] | None = None
    #: a day, ``YYYY-MM-DD``, that exists (checked when written and read); the web view
    #: shows it as a date
    date: bool = False
    #: the only values it may hold (checked when written and read); the web view offers
    #: them in a filter and shows them in its own words
    choices: tuple[str, ...] = ()
    #: weekdays of :data:`WEEKDAYS` separated by commas (``mon,thu``): the web view names
    #: them in its language
    weekdays: bool = False
    #: what the web view's lists show for it when it is empty ("nobody yet"), in English
    #: (the web view's catalogs translate it: node/web/kinds.py)
    empty: str = ""
    #: read left to right whatever the language around it (a phone number, an address)
    ltr: bool = False
    #: whether an update (``<kind>.update``) may change it; one that may not is set when
    #: the item is written and an update's value for it is ignored (§5.3)
    editable: bool = True
    #: a list: at most this many words separated by single spaces (0: plain text); each
    #: word passes ``check``, none twice. The command line takes one per ``--<flag>``
    #: (repeatable), ``show --json`` gives a JSON array; an update replaces the whole list
    many: int = 0
    #: the command line's option when not ``--<name>``: one word of a list (``--plan``
    #: for ``plans``), one entry of a history (``--note`` for ``history``)
    flag: str = ""
    #: a list of ids of items of this kind (64 hex digits each); the command line takes
    #: unique prefixes and writes the whole ids
    refs: str = ""
    #: returns an error message for a bad value when it is *written*, never when read: a
    #: rule on data a node holds outside the log (a time zone that exists in this
    #: node's database), so that a stored value never becomes unreadable on a node
    #: whose data differs
    written: Callable[[str], str | None] | None = None
    #: a list of one-line entries, one a line, at most this many (0: not such a list):
    #: the command line takes one entry per option, repeated (``--attended``)
    lines: int = 0
    #: case-folded when written (a list of tags: ``Vivienda`` is ``vivienda``)
    fold: bool = False
    #: a history: each event that writes it (the item's, or an update) adds one entry
    #: rather than replacing the value; the entries, each with its event's rank and
    #: author, are listed in (rank, author, event id) order on every node (§5.3)
    append: bool = False

    @property
    def label(self) -> str:
        """Its name as a heading, in English: "Title" (node/web/kinds.py has it translated)."""
        return self.name.capitalize()

    @property
    def metavar(self) -> str:
        """How a value is written, for the docs: ``YYYY-MM-DD``, ``open|doing``, ``ID``,
        or ""."""
        if self.date:
            return "YYYY-MM-DD"
        if self.refs:
            return "ID"
        return "|".join(self.choices)

    @property
    def option(self) -> str:
        """The command line's option: ``--title``; a list's, one word each: ``--plan``."""
        return f"--{self.flag or self.name}"

    def words(self, text: str) -> list[str]:
        """A list's words (its value split at spaces); a plain field's value, alone."""
        if not self.many:
            return [text] if text else []
        return text.split(" ") if text else []

    def problem(self, text: str) -> str | None:
        """What is wrong with a non-empty value beyond its length and characters, or None:
        not a date, not one of the choices, refused by ``check``; for a list, too many
        words, an empty one or one given twice."""
        if self.many:
            words = text.split(" ")
            if len(words) > self.many:
                return f"has {len(words)} entries; at most {self.many}"
            for word in words:
                if not word:
                    return "must be words separated by single spaces"
                if words.count(word) > 1:
                    return f"holds {word[:40]!r} twice"
                if self.refs and _ID.fullmatch(word) is None:
                    return f"must hold ids of {self.refs}s (64 hex digits), not {word[:40]!r}"
                if self.check is not None and (problem := self.check(word)) is not None:
                    return problem
            return None
        if self.date and (problem := check_date(text)) is not None:
            return problem
        if self.choices and text not in self.choices:
            return f"must be one of {', '.join(self.choices)}, not {text[:40]!r}"
        return None if self.check is None else self.check(text)

    def clean(self, value: str) -> str:
        """The value as stored: NFC-normalised; refused with a message naming the field.
        A list's words are separated by single spaces."""
        text = unicodedata.normalize("NFC", value).replace("\r\n", "\n")
        text = text.rstrip() if self.multiline else text.strip()
        if self.fold:
            text = text.casefold()
        if self.many:
            text = " ".join(text.split())
            if text.count(" ") >= self.many:  # said before its length: clearer
                raise BadPayload(
                    f"{self.name!r} has {text.count(' ') + 1} entries; at most {self.many}"
                )
        if self.required and not text:
            raise BadPayload(f"{self.name!r} is required")
        if len(text) > self.max_len:
            raise BadPayload(f"{self.name!r} is {len(text)} characters; at most {self.max_len}")
        if not self.multiline and ("\n" in text or "\r" in text):
            problem: str | None = "must be a single line"
        else:
            problem = control_char(text, allowed="\n\t")
        if problem is None and text:
            problem = self.problem(text)
        if problem is None and text and self.written is not None:
            problem = self.written(text)
        if problem is not None:
            raise BadPayload(f"{self.name!r} {problem}")
        return text

    def readable(self, text: str) -> bool:
        """Whether a stored value is one this field can hold: reading a payload from the
        log never raises; a value :meth:`clean` would refuse is malformed."""
        if not text:  # most fields of most items: nothing to check but being required
            return not self.required
        if len(text) > self.max_len:
            return False
        if control_char(text, allowed="\n\t" if self.multiline else "") is not None:
            return False  # never stored since §3.8, but a store may be older
        return self.problem(text) is None


#: the key of an update's payload naming the date its ``occurrence_fields`` are for
OCCURRENCE = "date"


def occurrence_register(name: str, day: str) -> str:
    """The register of an occurrence field on one date: ``minutes@2026-12-10``; a
    kind's own field names have no ``@``, so the two never meet."""
    return f"{name}@{day}"


#: the changes an item can take (docs/PROTOCOL.md §5.3), each an edit kind
#: ``<kind>.<action>`` (protocol/kinds/edits.py)
UPDATE = "update"
RETRACT = "retract"
DELETE = "delete"
ACTIONS = (UPDATE, RETRACT, DELETE)

#: the web view's layouts of a list: an article per item (its first column as a heading
#: and its second as text), a table (a row per item), cards (every column, labelled)
ARTICLES = "articles"
TABLE = "table"
CARDS = "cards"
LAYOUTS = (ARTICLES, TABLE, CARDS)
#: the web view's own list filter besides a kind's fields: items past their date
#: (``Listing.dated_by``) and still open (node/web/data.py)
OVERDUE = "overdue"
#: the web view's own order besides a kind's fields: the last written first
NEWEST = "newest"
#: the time an item was written, as a column of ``commune show``
TS = "ts"
#: a key after every text (the last code point): an item without a date sorts last
LAST_KEY = "\U0010ffff"
#: the web view's own order for a listing with ``coming``: the items that take place
#: next first, then those that no longer do, newest first
COMING = "coming"

#: the changes of an item that offers slots (:class:`Slots`): a member takes one of its
#: slots, or leaves it (edit kinds ``<kind>.take`` and ``<kind>.leave``)
TAKE = "take"
LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated slot of an item (a shift on one day): when it starts and ends, as
    aware times in the item's own zone, and what changed it that day ("")."""

    #: the slot's name, as a take names it: its date, ``YYYY-MM-DD``
    slot: str
    start: datetime.datetime
    end: datetime.datetime
    note: str = ""


@functools.lru_cache(maxsize=4096)
def _slot_times(
    occurrences: Callable[[Mapping[str, str], datetime.date, datetime.date], list[Occurrence]],
    values: tuple[tuple[str, str], ...],
    first: datetime.date,
    last: datetime.date,
) -> tuple[tuple[str, str, str, str, datetime.datetime], ...]:
    """An item's slots from ``first`` to ``last`` (:attr:`Slots.occurrences` of its
    values as text) as :meth:`Slots.rows` gives them: (slot, start and end in ISO 8601,
    note, start in UTC), worked out once for the same values and days: a list of the
    coming weeks' slots asks it of the same few hundred items on every page."""
    return tuple(
        (o.slot, o.start.isoformat(), o.end.isoformat(), o.note, o.start.astimezone(datetime.UTC))
        for o in occurrences(dict(values), first, last)
    )


@dataclass(frozen=True, slots=True)
class Slots:
    """Dated slots an item offers (a shift's days) that members take and leave: the edit
    kinds ``<kind>.take`` and ``<kind>.leave``, whose payload names, besides ``of`` and
    ``after`` (§5.3), one slot (``slot``, a date field) and one person (``who``).

    Whether a person is on a slot is a last-writer-wins register of the item, one per
    (slot, person folded), merged exactly as its fields are: a take and a leave of the
    same person and day end the same on every node, the higher ``(rank, author)``
    winning. Its name (:meth:`register`) begins with ``@``, which no field's name does,
    so an update can never set it. ``occurrences`` (values, first day, last day) gives
    the item's slots in that range, at most the days of the range; it is asked by the
    command line and the web view, never when merging, so no node's clock or zone
    database decides what an item holds."""

    slot: Field
    who: Field
    occurrences: Callable[[Mapping[str, str], datetime.date, datetime.date], list[Occurrence]]
    #: the field saying how many people a slot needs ("": no such count)
    needed: str = ""

    def register(self, slot: str, who: str) -> str:
        """The name of the register saying whether ``who`` is on ``slot``."""
        return f"@{slot}\n{who.casefold()}"

    def read(self, payload: Mapping[str, Any], take: bool) -> tuple[str, str] | None:
        """A take's or leave's register and its value (the name, or "" when left), or
        None when the payload does not name a well-formed slot and person."""
        slot, who = payload.get(self.slot.name), payload.get(self.who.name)
        if not (isinstance(slot, str) and isinstance(who, str) and slot and who):
            return None
        if not (self.slot.readable(slot) and self.who.readable(who)):
            return None
        return self.register(slot, who), who if take else ""

    def rows(
        self, items: Sequence[Mapping[str, Any]], first: datetime.date, last: datetime.date
    ) -> list[dict[str, Any]]:
        """Every slot of these items (rows with their ``taken``) from ``first`` to
        ``last``, soonest first: the item's fields, then the slot's name (its date),
        ``starts_at``/``ends_at`` (ISO 8601 with the zone's offset that day), ``needed``
        (a number), ``taken_by``, ``short`` (how many more it needs) and ``note``."""
        found = []
        for item in items:
            taken = item.get("taken", {})
            needed = str(item.get(self.needed) or "") if self.needed else ""
            wanted = int(needed) if needed.isascii() and needed.isdigit() else 1
            fields = {k: v for k, v in item.items() if k != "taken"}
            text = tuple((k, v) for k, v in fields.items() if isinstance(v, str))
            for slot, starts, ends, note, moment in _slot_times(
                self.occurrences, text, first, last
            ):
                on = list(taken.get(slot, []))
                row = {
                    **fields,
                    self.slot.name: slot,
                    "starts_at": starts,
                    "ends_at": ends,
                    "taken_by": on,
                    "short": max(0, wanted - len(on)),
                    "note": note,
                }
                if self.needed:
                    row[self.needed] = wanted
                found.append((moment, str(item.get("id", "")), row))
        found.sort(key=lambda t: (t[0], t[1]))
        return [row for _, _, row in found]

    @staticmethod
    def taken(registers: Mapping[str, str]) -> dict[str, list[str]]:
        """slot -> who is on it (sorted, folded), from an item's registers by name."""
        on: dict[str, list[str]] = {}
        for name, value in registers.items():
            if name.startswith("@") and value:
                on.setdefault(name[1:].split("\n", 1)[0], []).append(value)
        return {slot: sorted(names, key=lambda n: (n.casefold(), n)) for slot, names in on.items()}


#: a concentration: letters and digits of any script (with their marks), ``-`` and ``_``
MAX_TAG = 32
MAX_TAGS = 8


def tag_problem(tag: str) -> str | None:
    """What is wrong with one concentration (a tag), or None."""
    if len(tag) > MAX_TAG:
        return f"has a tag of {len(tag)} characters, {tag[:40]!r}; at most {MAX_TAG}"
    for ch in tag:
        if ch not in "-_" and unicodedata.category(ch)[0] not in "LMN":
            return f"has {ch!r} in the tag {tag[:40]!r}: letters, digits, - and _ only"
    return None


#: the concentrations an item works on (issue 17): a field of every item kind
#: (``KindSpec.tags``), at most :data:`MAX_TAGS` tags of at most :data:`MAX_TAG`
#: characters, folded to lower case; ``--tag`` (repeatable) on the command line, an
#: update replaces the whole list
TAGS = Field(
    "tags",
    "a concentration this item is about (a tag); repeat for several",
    max_len=MAX_TAGS * (MAX_TAG + 1),
    many=MAX_TAGS,
    flag="tag",
    fold=True,
    check=tag_problem,
)


@dataclass(frozen=True, slots=True)
class Listing:
    """How a kind's items are listed: by ``commune show`` and on the web view's page
    (``/<plural>``). Every name here is one of the kind's fields, or one of the few the
    listing itself defines (:data:`TS`, :data:`NEWEST`, :data:`OVERDUE`); a spec that
    names anything else is refused when it is made."""

    #: ``commune show``'s columns (its text output, not ``--json``), in order: field
    #: names, or :data:`TS` for when it was written; empty: ``ts`` and the first field
    show: tuple[str, ...] = ()
    #: the web page's layout, one of :data:`LAYOUTS`
    layout: str = ARTICLES
    #: the web page's columns, in order; the first names the item and links to its
    #: event page; empty: every field
    columns: tuple[str, ...] = ()
    #: the web page's orders as (key, label in English), the default first: a field
    #: name, or :data:`NEWEST`. By a field with choices: in the choices' order; by any
    #: other: its text, folded (dates sort as text); empty values last; then by the
    #: ``dated_by`` field, then newest first (node/web/data.py)
    sorts: tuple[tuple[str, str], ...] = ((NEWEST, NEWEST),)
    #: the web page's filters besides search, collective and dates: a field with
    #: choices (a select: that value), a one-line field (text it contains, folded), or
    #: :data:`OVERDUE` (:meth:`is_overdue`)
    filters: tuple[str, ...] = ()
    #: a date field that the page's date range applies to; empty: when written. With
    #: ``still_open``, kept beside each item by the projector (:meth:`date_key`,
    #: :meth:`still_to_do`): changing either for a kind whose items a store holds
    #: needs its items projected again (node/projector.py ``PROJECTOR_VERSION``)
    dated_by: str = ""
    #: (a field with choices, the choices that mean "still to be done"): such an item
    #: past its ``dated_by`` date is overdue; None: every item past its date is
    still_open: tuple[str, tuple[str, ...]] | None = None
    #: when an item next takes place from a day on (``YYYY-MM-DD``, 00:00 UTC), as ISO
    #: 8601 UTC, or "" when it no longer does: the list can then be ordered
    #: :data:`COMING` (a meeting's next date). Asked by the web view with today's date,
    #: never when reading the log
    coming: Callable[[Mapping[str, str], str], str] | None = None

    def date_key(self, values: Mapping[str, object]) -> str | None:
        """What an item sorts by on its ``dated_by`` date: the date as written, or
        :data:`LAST_KEY` (after every date) when it has none; None when the listing is
        not dated. The web view's lists keep it beside the items (node/projector.py)."""
        if not self.dated_by:
            return None
        return str(values.get(self.dated_by) or "") or LAST_KEY

    def still_to_do(self, values: Mapping[str, object]) -> bool:
        """Whether an item is still to be done (``still_open``): past its date, it is
        overdue (:meth:`is_overdue`)."""
        return self.still_open is None or values.get(self.still_open[0]) in self.still_open[1]

    def is_overdue(self, row: Mapping[str, object], today: str) -> bool:
        """Whether an item (its fields by name) is past its date and still open."""
        day = str(row.get(self.dated_by) or "") if self.dated_by else ""
        if not day or day >= today:
            return False
        return self.still_open is None or row.get(self.still_open[0]) in self.still_open[1]

    def is_due(self, row: Mapping[str, object], today: str) -> bool:
        """Whether an item is due (``show --due``): dated today or before and still
        open, in a listing with :data:`OVERDUE` (being late means something for it)."""
        if OVERDUE not in self.filters or row.get(self.dated_by) != today:
            return OVERDUE in self.filters and self.is_overdue(row, today)
        return self.still_open is None or row.get(self.still_open[0]) in self.still_open[1]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """A kind of event a member can post: its name, fields and payload version, the
    changes it takes, whether it is private, its names and how it is listed."""

    name: str
    help: str
    version: int
    fields: tuple[Field, ...]
    #: upcasters[n] turns a version-n payload into version n+1 (:meth:`read` sets its
    #: ``v``); one that raises on a malformed payload leaves the payload unreadable
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)
    #: posted sealed to its author alone unless recipients are given (issue 5); the web
    #: view lists only the items it can open, and only when it runs with the keys
    private: bool = False
    #: the changes its items take, of :data:`ACTIONS`: each is an edit kind
    #: ``<name>.<action>`` and an option of ``commune post <name>``
    edits: tuple[str, ...] = ()
    #: as in ``commune show reports`` and the web view's ``/reports``; default name + "s"
    plural: str = ""
    #: one event of it, in English, in the web view's list of events; default: the name
    label: str = ""
    #: its web page's title and menu entry, in English; default: the plural, capitalised
    list_label: str = ""
    listing: Listing = field(default_factory=Listing)
    #: where it comes among the kinds: in the menu, in ``show``'s choices, in the docs
    order: int = 100
    #: what is wrong with an item's values taken together (a report published without
    #: its link), or None: checked when an item is written and, by the command line, on
    #: the values an update would leave; never when reading (merges stay free of it)
    agree: Callable[[Mapping[str, str]], str | None] | None = None
    #: whether its items carry concentrations: the field :data:`TAGS`, added to its
    #: fields and to its list's filters (every item kind does, unless it says not)
    tags: bool = True
    #: dated slots its items offer, which members take and leave (a shift's days)
    slots: Slots | None = None
    #: fields an ``update`` sets for one date of the item (its payload's ``date``,
    #: YYYY-MM-DD), each date's values merged apart from the others' (a meeting's
    #: minutes and attendance, one occurrence at a time); an update must give the date
    occurrence_fields: tuple[Field, ...] = ()
    #: when written: the occurrence date an update of ``occurrence_fields`` is for, from
    #: the item's values and the date given ("" when none), or :class:`BadPayload`
    occurrence_of: Callable[[Mapping[str, str], str], str] | None = None

    def __post_init__(self) -> None:
        """Fill in the derived names and the concentrations (:data:`TAGS`), and refuse a
        spec that names what it does not have: a mistake in a kind's module shows when
        it is imported, not on a page."""
        if self.tags and TAGS.name not in self.field_names():
            object.__setattr__(self, "fields", (*self.fields, TAGS))
            if TAGS.name not in self.listing.filters:
                filters = (*self.listing.filters, TAGS.name)
                object.__setattr__(
                    self, "listing", dataclasses.replace(self.listing, filters=filters)
                )
        plural = self.plural or self.name + "s"
        object.__setattr__(self, "plural", plural)
        object.__setattr__(self, "label", self.label or self.name)
        object.__setattr__(self, "list_label", self.list_label or plural.capitalize())
        names = self.field_names()
        listing = self.listing
        if names and not listing.show:
            listing = dataclasses.replace(listing, show=(TS, names[0]))
        if not listing.columns:
            listing = dataclasses.replace(listing, columns=names)
        object.__setattr__(self, "listing", listing)
        problems = _problems(self, listing)
        if problems:
            raise ValueError(f"kind {self.name!r}: " + "; ".join(problems))

    def with_lists(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """An item's row with each list (``Field.many``) as a list of its words."""
        lists = {f.name: f.words(str(row.get(f.name) or "")) for f in self.fields if f.many}
        return {**row, **lists}

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field_named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def edit_kinds(self) -> dict[str, str]:
        """action -> the edit kind that does it: ``{"update": "plan.update"}``."""
        kinds = {action: f"{self.name}.{action}" for action in self.edits}
        if self.slots is not None:
            kinds.update({action: f"{self.name}.{action}" for action in (TAKE, LEAVE)})
        return kinds

    def build(self, values: Mapping[str, str | None]) -> Payload:
        """A new payload from what a user typed; :class:`BadPayload` names what is wrong."""
        known = set(self.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadPayload(
                f"{self.name} has no field {unknown[0]!r} (its fields: {', '.join(sorted(known))})"
            )
        payload: Payload = {"v": self.version}
        for f in self.fields:
            value = values.get(f.name)
            text = f.clean(f.default if value is None else value)
            if text:
                payload[f.name] = text
        self.check_agree({f.name: payload.get(f.name, "") for f in self.fields})
        return payload

    def check_agree(self, values: Mapping[str, str]) -> None:
        """Refuse (:class:`BadPayload`) values that do not go together (``agree``)."""
        problem = None if self.agree is None else self.agree(values)
        if problem is not None:
            raise BadPayload(problem)

    def build_update(self, values: Mapping[str, str | None]) -> Payload:
        """The fields a user changes on an existing item: only those given."""
        known = set(self.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadPayload(
                f"{self.name} has no field {unknown[0]!r} (its fields: {', '.join(sorted(known))})"
            )
        editable = sorted(f.name for f in self.fields if f.editable)
        fixed = [f.name for f in self.fields if f.name in values and not f.editable]
        if fixed:
            raise BadPayload(
                f"{fixed[0]!r} cannot be changed once the {self.name} is written "
                f"(what can: {', '.join(editable)})"
            )
        changed = {f.name: f.clean(values[f.name] or "") for f in self.fields if f.name in values}
        empty = [f.option for f in self.fields if f.append and changed.get(f.name) == ""]
        if empty:
            raise BadPayload(f"{empty[0]} needs the text of the entry to add")
        if not changed:
            raise BadPayload(f"nothing to change: give at least one of {', '.join(editable)}")
        return changed

    def read_update(self, payload: Payload) -> dict[str, str]:
        """The fields of an update payload that this kind has and that are well formed;
        the rest is ignored (a newer version may change fields this one does not know)."""
        changed = {}
        for f in self.fields:
            if not f.editable:
                continue  # set when written; an update of it changes nothing (§5.3)
            value = payload.get(f.name)
            if isinstance(value, str) and f.readable(value):
                changed[f.name] = value
        changed.update(self.read_occurrence(payload))
        return changed

    def build_occurrence(self, values: Mapping[str, str], day: str) -> Payload:
        """What an update sets for one date of an item: the ``occurrence_fields`` given
        and the date (``date``); :class:`BadPayload` names what is wrong."""
        if (problem := check_date(day)) is not None:
            raise BadPayload(f"'date' {problem}")
        changed: Payload = {
            f.name: f.clean(values[f.name]) for f in self.occurrence_fields if f.name in values
        }
        changed[OCCURRENCE] = day
        return changed

    def read_occurrence(self, payload: Payload) -> dict[str, str]:
        """The well-formed ``occurrence_fields`` of an update payload, as the registers
        of its date (:func:`occurrence_register`); none without a well-formed date."""
        day = payload.get(OCCURRENCE)
        if not self.occurrence_fields or not isinstance(day, str) or check_date(day):
            return {}
        return {
            occurrence_register(f.name, day): value
            for f in self.occurrence_fields
            if isinstance(value := payload.get(f.name), str) and f.readable(value)
        }

    def read(self, payload: Payload) -> Payload | None:
        """A stored payload as the current version, or None when it cannot be read
        (a newer version than this code, or fields of the wrong type)."""
        version = payload.get("v")
        if type(version) is not int or version < 1 or version > self.version:
            return None
        while version < self.version:
            upcast = self.upcasters.get(version)
            if upcast is None:
                return None
            try:
                payload = upcast(payload)
            except (KeyError, TypeError, ValueError, AttributeError):
                return None  # a malformed old payload: unreadable, like any other
            if not isinstance(payload, dict):
                return None
            version += 1
            payload = {**payload, "v": version}
        for f in self.fields:
            value = payload.get(f.name, "")
            if not isinstance(value, str) or not f.readable(value):
                return None
        return payload


#: a kind's name and plural: in event kinds (``plan.update``: no dot of its own), in
#: commands and in the web view's addresses
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _problems(spec: KindSpec, listing: Listing) -> list[str]:
    """What a spec names that it does not have."""
    fields = {f.name: f for f in spec.fields}
    problems = [
        f"its {what} {name!r} is not lowercase letters, digits and _ (a letter first)"
        for what, name in (("name", spec.name), ("plural", spec.plural))
        if _NAME.fullmatch(name) is None
    ]
    problems += [
        f"no edit {a!r} (edits are {', '.join(ACTIONS)})" for a in spec.edits if a not in ACTIONS
    ]
    problems += [f"no field {c!r} to show" for c in listing.show if c != TS and c not in fields]
    problems += [f"no field {c!r} to list" for c in listing.columns if c not in fields]
    problems += [
        f"no field {k!r} to sort by"
        for k, _ in listing.sorts
        if k not in (NEWEST, COMING) and k not in fields
    ]
    if listing.coming is None and COMING in {k for k, _ in listing.sorts}:
        problems.append("the coming order needs a listing's coming")
    for name in listing.filters:
        f = fields.get(name)
        if name == OVERDUE:
            if not listing.dated_by:
                problems.append("the overdue filter needs a dated_by field")
        elif f is None or f.multiline:
            problems.append(f"no one-line field {name!r} to filter by")
    dated = fields.get(listing.dated_by)
    if listing.dated_by and (dated is None or not dated.date):
        problems.append(f"no date field {listing.dated_by!r} to date the list by")
    if listing.still_open is not None:
        name, values = listing.still_open
        f = fields.get(name)
        if f is None or not f.choices:
            problems.append(f"no field with choices {name!r} to say what is still open")
        elif not set(values) <= set(f.choices):
            problems.append(f"still_open names values that are not choices of {name!r}")
    for f in spec.fields:
        if f.many and (f.date or f.choices or f.multiline):
            problems.append(f"the list {f.name!r} cannot also be a date, choices or many lines")
        if f.refs and not f.many:
            problems.append(f"{f.name!r} has refs but is not a list (many)")
        if f.append and (f.many or f.required or f.choices or f.date or not f.editable):
            problems.append(f"the history {f.name!r} can only be text that updates add to")
    if listing.layout not in LAYOUTS:
        problems.append(f"no layout {listing.layout!r} (layouts are {', '.join(LAYOUTS)})")
    if spec.slots is not None:
        slotted = (spec.slots.slot, spec.slots.who)
        problems += [
            f"its slots' field {f.name!r} is also a field" for f in slotted if f.name in fields
        ]
        if not spec.slots.slot.date:
            problems.append(f"its slots' field {spec.slots.slot.name!r} is not a date field")
        if spec.slots.needed and spec.slots.needed not in fields:
            problems.append(f"no field {spec.slots.needed!r} to say how many a slot needs")
    if not spec.fields:
        problems.append("no fields")
    return problems
