"""What a user typed for ``commune post`` as a kind's values: a list's repeated option
(``Field.many``) as its words, ids of other items given by unique prefixes
(``Field.refs``), and an update that must leave an item's values agreeing
(``KindSpec.agree``); and finding an item by its id or a prefix of it."""

from __future__ import annotations

from typing import Any

from crypto.identity import NodeKeys
from node import private
from node.cli_common import fail
from node.service import Node
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


def resolve_refs(
    node: Node, keys: NodeKeys, spec: KindSpec, given: dict[str, str]
) -> dict[str, str]:
    """Lists of ids (``Field.refs``) with unique prefixes written out whole."""
    out = dict(given)
    for f in spec.fields:
        if f.refs and given.get(f.name):
            ids = [
                resolve_item(node, keys, f.refs, word, what=f.option)[0].hex()
                for word in given[f.name].split()
            ]
            out[f.name] = " ".join(ids)
    return out


def check_agree(
    node: Node,
    keys: NodeKeys,
    spec: KindSpec,
    target: bytes,
    *,
    is_private: bool,
    fields: dict[str, str],
) -> None:
    """An update must leave the item's values agreeing (``KindSpec.agree``)."""
    if spec.agree is None:
        return
    rows = private.items(node, keys, spec.name) if is_private else node.projector.rows(spec.name)
    current = next((r for r in rows if r["id"] == target.hex()), None)
    if current is not None:
        problem = spec.agree({**current, **fields})
        if problem is not None:
            fail(problem)


def resolve_item(
    node: Node, keys: NodeKeys | None, kind: str, text: str, what: str = ""
) -> tuple[bytes, bool]:
    """An item's id from its hex id or a unique prefix of at least 6 digits, and
    whether it is private (sealed; only looked for with ``keys``)."""
    wanted = text.strip().lower()
    if len(wanted) < 6 or any(c not in "0123456789abcdef" for c in wanted):
        plural = POSTABLE[kind].plural
        fail(
            f"{what + ' ' if what else ''}{text[:80]!r} is not an id: give the id shown by "
            f"`commune show {plural}` (6+ digits)"
        )
    matches = [(item_id, False) for item_id in node.store.item_ids_with_prefix(kind, wanted)]
    matches += [
        (bytes.fromhex(row["id"]), True)
        for row in (private.items(node, keys, kind) if keys is not None else [])
        if row["id"].startswith(wanted)
    ]
    if len(matches) != 1:
        problem = "no" if not matches else "more than one"
        fail(f"{what + ': ' if what else ''}{problem} {kind} has an id starting with {wanted}")
    return matches[0]
