"""The registry of event kinds. Adding a kind means one module here and one test file.

Every module of this package that defines ``SPEC``, a :class:`KindSpec`, is a kind a
member can post: the registry finds it when this package is imported, so nothing else
names it. From the specs come :data:`POSTABLE` (name -> spec, in the kinds' ``order``),
:data:`EDITS` (the edit kinds their ``edits`` allow) and :data:`KNOWN`; the command
line, the web view and the docs' tables read the same specs.

To add a kind:

1. write ``protocol/kinds/<name>.py`` with ``SPEC = KindSpec(...)``: its fields, the
   changes its items take, whether it is private, how its items are listed (report.py,
   plan.py and contact.py show each layout), all in English.
   ``commune post <name>`` and ``commune show <plural>``, the web view's ``/<plural>``
   with its menu entry and its count on the overview, and the pages of its events all
   follow from it;
2. write ``tests/test_<name>.py`` for what is particular to it (tests/test_kind_registry.py
   shows a whole kind going through the command line, the web view and sync);
3. run ``python docs/make_kind_tables.py``, which writes its rows in docs/CLI.md and
   docs/PROTOCOL.md §5.1 from the spec, and extract its texts into the web view's
   catalogs and translate them (docs/LANGUAGES.md). A test fails, naming what is
   missing, while a table or a translation is missing.

:func:`register` adds a kind that lives elsewhere: a kind being tried out, or a test's
throwaway kind (node/cli_items.py registers the modules named in
``$COMMUNE_EXTRA_KINDS``, so that a command run in its own process knows them too).
Registering checks that the new kind takes no name, edit kind or plural another already
has, so two kinds can never be confused. The three tables are read-only views that
follow the registry.

An event of a kind missing from this registry is still valid (docs/PROTOCOL.md §5.4):
it is stored, relayed, counted in the state hash and listed as unknown.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping, Set
from types import MappingProxyType
from typing import Any

from protocol import encoding
from protocol.envelope import SEALED
from protocol.errors import EncodingError
from protocol.kinds import edits, member, redact
from protocol.kinds.base import Field, KindSpec, Listing, Payload, control_char
from protocol.kinds.edits import EDITS, EditKind

#: The registry's names, the modules of the kinds that are not items (those of the items
#: are found, not named: :func:`_discover`) and ``zones``, the kinds' time zones.
__all__ = [
    "EDITS",
    "KNOWN",
    "POSTABLE",
    "RESERVED_PLURALS",
    "EditKind",
    "Field",
    "KindSpec",
    "Listing",
    "Payload",
    "base",
    "control_char",
    "edits",
    "member",
    "redact",
    "register",
    "register_module",
    "text_problem",
    "unregister",
    "zones",
]

_SPECS: dict[str, KindSpec] = {}
#: name -> spec of every kind a member can post, in the kinds' order
POSTABLE: Mapping[str, KindSpec] = MappingProxyType(_SPECS)
#: the kinds that are neither posted items nor their edits
_OTHERS = frozenset([*member.KINDS, SEALED, redact.KIND])
#: names the command line and the web view use for other things than a kind's items
#: (``commune show members``, ``/events``): no kind's plural may be one of them
RESERVED_PLURALS = frozenset(
    [
        "members",
        "peers",
        "unknown",
        "events",
        "event",
        "activity",
        "live",
        "static",
        "healthz",
        "metrics",
    ]
)


class _Known(Set[str]):
    """Every kind this version understands; any other kind is "unknown" (§5.4). A view
    of the registry, so that a kind registered later is known wherever this was
    imported."""

    def __contains__(self, kind: object) -> bool:
        return kind in _SPECS or kind in EDITS or kind in _OTHERS

    def __iter__(self) -> Iterator[str]:
        return iter([*_SPECS, *EDITS, *sorted(_OTHERS)])

    def __len__(self) -> int:
        return len(_SPECS) + len(EDITS) + len(_OTHERS)

    def __repr__(self) -> str:
        return f"KNOWN({sorted(self)})"


KNOWN: Set[str] = _Known()


def register(spec: KindSpec) -> None:
    """Make ``spec`` a kind this process knows (again: nothing). Refused (ValueError)
    when its name, one of its edit kinds or its plural is already taken, or its plural
    is reserved."""
    if _SPECS.get(spec.name) is spec:
        return
    taken = [f"name {spec.name!r}"] if spec.name in KNOWN else []
    taken += [f"edit kind {e.name!r}" for e in edits.edits_of(spec) if e.name in KNOWN]
    if spec.plural in {s.plural for s in _SPECS.values()} | RESERVED_PLURALS:
        taken.append(f"plural {spec.plural!r}")
    if taken:
        verb = "is" if len(taken) == 1 else "are"
        raise ValueError(
            f"kind {spec.name!r} cannot be registered: its {', '.join(taken)} {verb} taken"
        )
    _rebuild([*_SPECS.values(), spec])


def unregister(name: str) -> None:
    """Forget a kind registered by :func:`register` (a test's throwaway kind); nothing
    happens when no kind has that name."""
    _rebuild([s for s in _SPECS.values() if s.name != name])


def register_module(name: str) -> KindSpec:
    """Import the module ``name`` and register its ``SPEC``: a kind that lives outside
    this package, laid out exactly as one inside it."""
    spec = getattr(importlib.import_module(name), "SPEC", None)
    if not isinstance(spec, KindSpec):
        raise ValueError(f"module {name!r} has no SPEC that is a KindSpec")
    register(spec)
    return spec


def _rebuild(specs: list[KindSpec]) -> None:
    """Refill the tables in the kinds' order (then by name), so that what is built from
    them (the menu, the choices of ``show``, the docs) has one order on every node."""
    specs.sort(key=lambda s: (s.order, s.name))
    _SPECS.clear()
    _SPECS.update((spec.name, spec) for spec in specs)
    edits.refill(specs)


def _discover() -> None:
    """Register the ``SPEC`` of every module of this package that has one."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, KindSpec):
            register(spec)


_discover()

#: the text fields of the membership kinds (besides the lists of addresses)
_MEMBER_TEXT = ("name", "founder_name")


def text_problem(kind: str, body: bytes | None) -> str | None:
    """§3.8: what is wrong with the text of an event of a kind this version knows, or
    None. Every text field that a post of this kind could hold must pass the rules a
    post passes (no control character: C0 and C1 controls, line and paragraph
    separators, bidi overrides; line breaks and tabs only in multi-line fields), so
    that text read from a peer is never more than what a member could type. A body that
    is absent, not a canonical map, or of a payload version this code does not know is
    not looked at (§5.2, §5.4): it is unreadable, not invalid."""
    if body is None or kind == SEALED:
        return None
    try:
        payload = encoding.decode(body)
    except EncodingError:
        return None
    if not isinstance(payload, dict):
        return None
    spec = _SPECS.get(kind)
    edit = EDITS.get(kind)
    if edit is not None:
        spec = _SPECS[edit.target]
    if spec is not None:
        version = payload.get("v")
        if type(version) is not int or not 1 <= version <= spec.version:
            return None
        slotted = () if spec.slots is None else (spec.slots.slot, spec.slots.who)
        for f in (*spec.fields, *slotted, *spec.occurrence_fields):
            problem = _text(payload.get(f.name), "\n\t" if f.multiline else "")
            if problem is not None:
                return f"its {f.name!r} {problem}"
        return None
    if kind in member.KINDS:
        for name in _MEMBER_TEXT:
            problem = _text(payload.get(name), "")
            if problem is not None:
                return f"its {name!r} {problem}"
        addresses = payload.get("addresses")
        for address in addresses if isinstance(addresses, list) else []:
            problem = _text(address, "")
            if problem is not None:
                return f"an address {problem}"
    return None


def _text(value: Any, allowed: str) -> str | None:
    return control_char(value, allowed) if isinstance(value, str) else None
