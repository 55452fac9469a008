"""A contact: a person the collective works with. The most sensitive data Commune
holds; sealed to the posting collective alone unless recipients are given."""

from protocol.kinds.base import CARDS, DELETE, UPDATE, Field, KindSpec, Listing

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
    ),
    private=True,
    edits=(UPDATE, DELETE),
    listing=Listing(show=("name", "phone", "email", "place"), layout=CARDS),
    order=30,
)
