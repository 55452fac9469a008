"""A contact: a person the collective works with. The most sensitive data Commune
holds; sealed to the posting collective alone unless recipients are given.

Follow-up (issue 17) is part of the contact, so it is sealed with it: how far the person
has come (``stage``), who in the collective follows them up (``follower``), the next
step (``next``) and its date (``due``), and a history of notes (``history``), each note
added by an edit (``post contact --edit ID --note …``) and listed in the same order on
every node (docs/PROTOCOL.md §5.3). These fields are optional and the payload stays at
version 1: a node of an earlier version ignores them and shows the contact as before.
"""

from protocol.kinds.base import CARDS, DELETE, NEWEST, OVERDUE, UPDATE, Field, KindSpec, Listing

#: how far a person has come with the collective, in order
STAGES = ("met", "talked", "attends", "takes-tasks", "joined")

SPEC = KindSpec(
    name="contact",
    help="A person the collective works with (private to this collective by default).",
    version=1,
    fields=(
        Field("name", "the person's name", required=True, max_len=200),
        Field("phone", "phone number", max_len=100, ltr=True),
        Field("email", "e-mail address", max_len=200, ltr=True),
        Field("place", "town, area or organisation", max_len=200),
        Field("notes", "anything the collective should know", max_len=5000, multiline=True),
        Field(
            "stage",
            "how far they have come: " + ", ".join(STAGES),
            max_len=12,
            default="met",
            choices=STAGES,
        ),
        Field("follower", "who in the collective follows them up", max_len=200),
        Field("next", "the next step with them", max_len=500),
        Field("due", "the date of the next step, YYYY-MM-DD", max_len=10, date=True),
        Field(
            "history",
            "a note for the follow-up's history (each --note adds one)",
            max_len=2000,
            multiline=True,
            flag="note",
            append=True,
        ),
    ),
    private=True,
    edits=(UPDATE, DELETE),
    listing=Listing(
        show=("name", "phone", "email", "place", "stage", "follower", "due", "next"),
        layout=CARDS,
        filters=("stage", "follower", OVERDUE),
        sorts=((NEWEST, NEWEST), ("due", "date of the next step"), ("stage", "stage")),
        dated_by="due",
    ),
    order=30,
)
