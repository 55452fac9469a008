"""The registry of event kinds. Adding a kind means one module here and one test file.

An event of a kind missing from this registry is still valid (docs/PROTOCOL.md §5.3):
it is stored, relayed, counted in the state hash and listed as unknown.
"""

from __future__ import annotations

from protocol.kinds import contact, plan, report
from protocol.kinds.base import Field, KindSpec, Payload

POSTABLE: dict[str, KindSpec] = {spec.name: spec for spec in (report.SPEC, plan.SPEC, contact.SPEC)}

__all__ = ["POSTABLE", "Field", "KindSpec", "Payload"]
