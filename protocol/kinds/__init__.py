"""The registry of event kinds. Adding a kind means one module here and one test file.

An event of a kind missing from this registry is still valid (docs/PROTOCOL.md §5.4):
it is stored, relayed, counted in the state hash and listed as unknown.
"""

from __future__ import annotations

from protocol.envelope import SEALED
from protocol.kinds import contact, member, plan, redact, report
from protocol.kinds.base import Field, KindSpec, Payload
from protocol.kinds.edits import EDITS, EditKind

POSTABLE: dict[str, KindSpec] = {spec.name: spec for spec in (report.SPEC, plan.SPEC, contact.SPEC)}
#: every kind this version understands; any other kind is "unknown" (§5.4)
KNOWN: frozenset[str] = frozenset([*POSTABLE, *EDITS, *member.KINDS, SEALED, redact.KIND])

__all__ = ["EDITS", "KNOWN", "POSTABLE", "EditKind", "Field", "KindSpec", "Payload"]
