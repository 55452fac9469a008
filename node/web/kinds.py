"""What the web view says about each kind, in English, built from the kind's spec
(protocol/kinds): its name in the list of events, its page's title and menu entry, the
overview's count, its list's labels and notes. The kind's spec holds their Spanish
(``KindSpec.words``), beside the texts every list shares in node/web/i18n.py;
tests/test_kind_registry.py checks that none is missing for a registered kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.envelope import SEALED
from protocol.kinds import EDITS, POSTABLE, KindSpec, redact
from protocol.kinds.base import OVERDUE
from protocol.kinds.edits import edits_of

#: the names of the kinds that are neither items nor their edits (those are named by
#: their specs: :func:`kind_label`)
OTHER_LABELS = {
    SEALED: "private (sealed)",
    redact.KIND: "erasure",
    "network": "network founded",
    "member.admit": "collective admitted",
    "member.revoke": "collective removed",
    "member.role": "role changed",
    "node.address": "address published",
    "node.keys": "keys published",
}


def kind_label(kind: str) -> str | None:
    """How the web view names a kind ("report", "plan changed"), or None for a kind this
    version does not know."""
    spec = POSTABLE.get(kind)
    if spec is not None:
        return spec.label
    edit = EDITS.get(kind)
    if edit is not None:
        return edit.label(POSTABLE[edit.target])
    return OTHER_LABELS.get(kind)


@dataclass(frozen=True, slots=True)
class KindTexts:
    """The texts of one kind's list page and of its line in the overview."""

    #: the overview's count: "{n} report", "{n} reports"
    one: str
    many: str
    #: the overview's count of its items past their date: "{n} overdue plans", or ""
    overdue_many: str
    #: the labels of the list's date range: "From"/"To", or "Due from"/"Due by" for a
    #: list dated by a field
    date_from: str
    date_to: str
    #: a private kind's page without the keys, and with them
    locked: str
    opened: str

    @classmethod
    def of(cls, spec: KindSpec) -> KindTexts:
        dated = spec.field_named(spec.listing.dated_by)
        return cls(
            one="{n} " + spec.label,
            many="{n} " + spec.plural,
            overdue_many="{n} overdue " + spec.plural if OVERDUE in spec.listing.filters else "",
            date_from=f"{dated.label} from" if dated else "From",
            date_to=f"{dated.label} by" if dated else "To",
            locked=f"{spec.plural.capitalize()} are private. This page shows those addressed "
            "to this collective when the node runs with its passphrase."
            if spec.private
            else "",
            opened=f"Only the {spec.plural} this node can open are shown. They are read in "
            "memory and never written to disk in readable form."
            if spec.private
            else "",
        )


def any_of(name: str) -> str:
    """The first choice of a filter by a field with choices: "Any status"."""
    return f"Any {name}"


def words(spec: KindSpec) -> list[str]:
    """Every text the web view shows about ``spec``, for the check that each has its
    Spanish: its names, its edits' names, its page's texts, the labels, empty texts and
    choices of the fields it lists or filters by, and the names of its orders."""
    texts = KindTexts.of(spec)
    listing = spec.listing
    shown = [f for f in spec.fields if f.name in (*listing.columns, *listing.filters)]
    return [
        spec.label,
        spec.list_label,
        *(edit.label(spec) for edit in edits_of(spec)),
        *(text for text in (texts.one, texts.many, texts.overdue_many) if text),
        texts.date_from,
        texts.date_to,
        *(text for text in (texts.locked, texts.opened) if text),
        *(f.label for f in spec.fields),
        *(f.empty for f in shown if f.empty),
        *(choice for f in shown for choice in f.choices),
        *(any_of(f.name) for f in shown if f.choices and f.name in listing.filters),
        *(label for _, label in listing.sorts),
    ]
