"""A plan: a concrete action with an owner, a due date and a status that changes."""

from __future__ import annotations

import datetime
import re

from protocol.kinds.base import Field, KindSpec

STATUSES = ("open", "doing", "done", "dropped")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _check_date(text: str) -> str | None:
    """YYYY-MM-DD, ASCII digits, a day that exists (2026-02-30 is refused)."""
    if _DATE.fullmatch(text) is None:
        return f"must be a date like 2026-12-31, not {text[:40]!r}"
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return f"must be a date that exists, like 2026-12-31, not {text!r}"
    return None


def _check_status(text: str) -> str | None:
    if text not in STATUSES:
        return f"must be one of {', '.join(STATUSES)}, not {text[:40]!r}"
    return None


SPEC = KindSpec(
    name="plan",
    help="A concrete action with an owner, a due date and a status.",
    version=1,
    fields=(
        Field("title", "what will be done", required=True, max_len=200),
        Field("description", "details", max_len=20000, multiline=True),
        Field("owner", "who is responsible", max_len=200),
        Field("due", "due date, YYYY-MM-DD", max_len=10, check=_check_date),
        Field(
            "status",
            "one of: " + ", ".join(STATUSES),
            max_len=10,
            default="open",
            check=_check_status,
        ),
    ),
)
