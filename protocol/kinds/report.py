"""A report: what a collective did and learned, sent on to the newspaper.

Version 2 (issue 17) gives a report a state on its way to the paper (``draft``,
``for-paper``, ``sent``, ``published`` with its ``link``) and the ids of the plans it
contains (``plans``); these three change by ``report.update``, the title and the text
do not. A version-1 report is read as version 2 in the state ``draft``
(:func:`upcast_report_v1_v2`): nothing says it went to the paper, and marking every
old report "for the paper" would fill the editors' queue with reports written before
there was a queue; one ``report.update`` moves it on.
"""

from __future__ import annotations

from collections.abc import Mapping

from protocol.kinds.base import RETRACT, UPDATE, Field, KindSpec, Listing, Payload

DRAFT = "draft"
FOR_PAPER = "for-paper"
SENT = "sent"
PUBLISHED = "published"
STATES = (DRAFT, FOR_PAPER, SENT, PUBLISHED)
#: plans a report links to, at most
MAX_PLANS = 50
MAX_LINK = 500


def upcast_report_v1_v2(payload: Payload) -> Payload:
    """docs/PROTOCOL.md §5.2: a version-1 report, which had no state, is a draft with
    no link and no plans: whatever else a version-1 payload holds under those names
    meant nothing to its readers, so it means nothing here either."""
    return {**{k: v for k, v in payload.items() if k not in ("link", "plans")}, "state": DRAFT}


def _link_problem(text: str) -> str | None:
    if not text.startswith(("https://", "http://")) or " " in text:
        return f"must be a web address starting with https://, not {text[:40]!r}"
    return None


def _agree(values: Mapping[str, str]) -> str | None:
    """A published report says where: its link."""
    if values.get("state") == PUBLISHED and not values.get("link"):
        return "'link' is required when 'state' is published (where the paper published it)"
    return None


SPEC = KindSpec(
    name="report",
    help="What the collective did and learned, on its way to the paper.",
    version=2,
    upcasters={1: upcast_report_v1_v2},
    fields=(
        Field("title", "a one-line title", required=True, max_len=200, editable=False),
        Field("body", "the text of the report", max_len=20000, multiline=True, editable=False),
        Field(
            "state",
            "one of: " + ", ".join(STATES),
            max_len=10,
            default=DRAFT,
            choices=STATES,
        ),
        Field(
            "link",
            "where the paper published it (https://...)",
            max_len=MAX_LINK,
            ltr=True,
            check=_link_problem,
        ),
        Field(
            "plans",
            "a plan the report contains (its id or a unique prefix); repeat for several",
            max_len=MAX_PLANS * 65,
            ltr=True,
            many=MAX_PLANS,
            flag="plan",
            refs="plan",
        ),
    ),
    edits=(UPDATE, RETRACT),
    listing=Listing(
        show=("ts", "state", "title"),
        filters=("state",),
        sorts=(("newest", "newest"), ("state", "state")),
    ),
    order=10,
    agree=_agree,
)
