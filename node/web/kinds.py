"""What the web view says about each kind, in English, built from the kind's spec
(protocol/kinds): its name in the list of events, its page's title and menu entry, the
overview's count, its list's labels and notes, its fields' labels, empty texts and
choices. The catalogs (node/web/locale) translate them with the kind's name as the
message's context; :func:`extract_specs` is the Babel extraction method that reads them
from each kind's module for the catalogs (babel.cfg), so no kind writes its texts twice.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from node.web.i18n import N_, Translator
from protocol.envelope import SEALED
from protocol.kinds import EDITS, POSTABLE, KindSpec, redact
from protocol.kinds.base import OVERDUE
from protocol.kinds.edits import edits_of

#: the names of the kinds that are neither items nor their edits (those are named by
#: their specs: :func:`kind_label`)
OTHER_LABELS = {
    SEALED: N_("private (sealed)"),
    redact.KIND: N_("erasure"),
    "network": N_("network founded"),
    "member.admit": N_("collective admitted"),
    "member.revoke": N_("collective removed"),
    "member.role": N_("role changed"),
    "node.address": N_("address published"),
    "node.keys": N_("keys published"),
}


def kind_label(kind: str) -> str | None:
    """How the web view names a kind, in English ("report", "plan changed"), or None for
    a kind this version does not know."""
    spec = POSTABLE.get(kind)
    if spec is not None:
        return spec.label
    edit = EDITS.get(kind)
    if edit is not None:
        return edit.label(POSTABLE[edit.target])
    return OTHER_LABELS.get(kind)


def kind_name(tr: Translator, kind: str) -> str | None:
    """:func:`kind_label` in ``tr``'s language: an item kind's and its edits' in the
    item kind's context, the others' as they are marked here."""
    label = kind_label(kind)
    if label is None:
        return None
    if kind in POSTABLE:
        return tr.kind(kind, label)
    edit = EDITS.get(kind)
    return tr.kind(edit.target, label) if edit is not None else tr(label)


@dataclass(frozen=True, slots=True)
class KindTexts:
    """The texts of one kind's list page and of its line in the overview."""

    #: the overview's count: "{n} report", "{n} reports"
    one: str
    many: str
    #: the overview's count of its items past their date: "{n} overdue plan(s)", or ""
    overdue_one: str
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
        overdue = OVERDUE in spec.listing.filters
        return cls(
            one="{n} " + spec.label,
            many="{n} " + spec.plural,
            overdue_one="{n} overdue " + spec.label if overdue else "",
            overdue_many="{n} overdue " + spec.plural if overdue else "",
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


@dataclass(frozen=True, slots=True)
class Message:
    """One text the web view shows about a kind: its English (and its plural's, for a
    count), and what it is, for whoever translates it."""

    text: str
    many: str = ""
    about: str = ""


def messages(spec: KindSpec) -> list[Message]:
    """Every text the web view shows about ``spec``, each once: its names, its edits'
    names, its page's and the overview's texts, the labels, empty texts and choices of
    its fields (those of its dates' and slots' too), the filters by choices and the
    names of its orders."""
    texts = KindTexts.of(spec)
    listing = spec.listing
    fields = [*spec.fields, *spec.occurrence_fields]
    if spec.slots is not None:
        fields += [spec.slots.slot, spec.slots.who]
    found = [
        Message(spec.label, about="the name of one, in the list of events"),
        Message(spec.list_label, about="its page's title and menu entry"),
        *(Message(e.label(spec), about="an event that changes one") for e in edits_of(spec)),
        Message(texts.one, texts.many, about="how many, on the overview"),
        Message(texts.overdue_one, texts.overdue_many, about="how many are past their date"),
        Message(texts.date_from, about="the start of its list's date range"),
        Message(texts.date_to, about="the end of its list's date range"),
        Message(texts.locked, about="its page, when the node runs without its keys"),
        Message(texts.opened, about="its page, when the node runs with its keys"),
        *(Message(f.label, about=f"a field's label ({f.name}: {f.help})") for f in fields),
        *(Message(f.empty, about=f"what an empty {f.name} shows") for f in fields),
        *(Message(c, about=f"a value of {f.name}") for f in fields for c in f.choices),
        *(
            Message(any_of(name), about=f"the filter by {name}, when it filters nothing")
            for name in listing.filters
            if (f := spec.field_named(name)) is not None and f.choices
        ),
        *(Message(label, about="an order of its list") for _, label in listing.sorts),
    ]
    unique: dict[tuple[str, str], Message] = {}
    for message in found:
        if message.text:
            unique.setdefault((message.text, message.many), message)
    return list(unique.values())


# --- extraction for the catalogs ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def extract_specs(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, tuple[str, ...], list[str]]]:
    """Babel's extraction method for the modules of protocol/kinds (babel.cfg): the texts
    of the module's ``SPEC`` (:func:`messages`), each in the kind's context, with what it
    is as a comment for translators. A module without a ``SPEC`` gives none."""
    if "pgettext" not in keywords or "npgettext" not in keywords:
        raise ValueError("extracting kinds needs the keywords pgettext and npgettext")
    spec = _spec_in(Path(str(getattr(fileobj, "name", ""))))
    if spec is None:
        return
    lines = fileobj.read().decode("utf-8").splitlines()
    line = next((i for i, text in enumerate(lines, 1) if text.startswith("SPEC =")), 1)
    for m in messages(spec):
        about = [f"{spec.name}: {m.about}"]
        if m.many:
            yield line, "npgettext", (spec.name, m.text, m.many), about
        else:
            yield line, "pgettext", (spec.name, m.text), about


def _spec_in(path: Path) -> KindSpec | None:
    """The ``SPEC`` of the module at ``path``, a module of this project."""
    try:
        parts = path.resolve().relative_to(ROOT).with_suffix("").parts
    except ValueError:
        return None
    if parts[-1] == "__init__":
        parts = parts[:-1]
    module = importlib.import_module(".".join(parts))
    spec = getattr(module, "SPEC", None)
    return spec if isinstance(spec, KindSpec) else None
