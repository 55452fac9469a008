"""A report: what a collective did and learned. Sent on to the newspaper."""

from protocol.kinds.base import RETRACT, Field, KindSpec, Listing

SPEC = KindSpec(
    name="report",
    help="What the collective did and learned.",
    version=1,
    fields=(
        Field("title", "a one-line title", required=True, max_len=200),
        Field("body", "the text of the report", max_len=20000, multiline=True),
    ),
    edits=(RETRACT,),
    listing=Listing(show=("ts", "title")),
    order=10,
    words={
        "es": {
            "report": "informe",
            "Reports": "Informes",
            "report withdrawn": "informe retirado",
            "{n} report": "{n} informe",
            "{n} reports": "{n} informes",
        }
    },
)
