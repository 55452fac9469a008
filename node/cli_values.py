"""What a user typed for ``commune post`` as a kind's values: a list's repeated option
(``Field.many``) as its words; and finding an item by its id or a unique prefix of it
(an item a change names, a plan a report links to, the report ``export-report``
writes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from crypto.identity import NodeKeys
from node import private
from node.service import Node
from protocol.errors import BadPayload
from protocol.kinds import POSTABLE, KindSpec


def given_values(spec: KindSpec, options: dict[str, Any]) -> dict[str, str]:
    """The field options given: a list's repeated option as its words, separated by
    spaces (``--plan ''`` alone gives an empty list, clearing it in an update)."""
    given = {}
    for f in spec.fields:
        value = options.pop(f.name, None)
        if f.many:
            if value:
                given[f.name] = " ".join(str(v) for v in value)
        elif value is not None:
            given[f.name] = str(value)
    given.update({k: str(v) for k, v in options.items() if v is not None})
    return given


def find_item(
    kind: str,
    text: str,
    public: Callable[[str], Iterable[bytes]],
    private_ids: Callable[[], Iterable[bytes]],
    what: str = "",
) -> tuple[bytes, bool]:
    """An item's id from its hex id or a unique prefix of at least 6 digits, and whether
    it is private: among the ids ``public`` gives for a prefix and those of the private
    items this node can open (``private_ids``, asked only for a well-formed prefix).
    :class:`BadPayload` says what is wrong (``what`` names where it was given)."""
    wanted = text.strip().lower()
    if len(wanted) < 6 or any(c not in "0123456789abcdef" for c in wanted):
        plural = POSTABLE[kind].plural
        raise BadPayload(
            f"{what + ' ' if what else ''}{text[:80]!r} is not an id: give the id shown by "
            f"`commune show {plural}` (6+ digits)"
        )
    matches = [(item_id, False) for item_id in public(wanted)]
    matches += [(item_id, True) for item_id in private_ids() if item_id.hex().startswith(wanted)]
    if len(matches) != 1:
        problem = "no" if not matches else "more than one"
        raise BadPayload(
            f"{what + ': ' if what else ''}{problem} {kind} has an id starting with {wanted}"
        )
    return matches[0]


def resolve_item(
    node: Node, keys: NodeKeys | None, kind: str, text: str, what: str = ""
) -> tuple[bytes, bool]:
    """:func:`find_item` in the store's public items and, with ``keys``, in the private
    items this node can open."""
    return find_item(
        kind,
        text,
        lambda prefix: node.store.item_ids_with_prefix(kind, prefix),
        lambda: (
            [bytes.fromhex(r["id"]) for r in private.items(node, keys, kind)]
            if keys is not None
            else []
        ),
        what,
    )
