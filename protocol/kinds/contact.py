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
    words={
        "es": {
            "contact": "contacto",
            "Contacts": "Contactos",
            "contact changed": "contacto cambiado",
            "contact deleted": "contacto eliminado",
            "{n} contact": "{n} contacto",
            "{n} contacts": "{n} contactos",
            "Contacts are private. This page shows those addressed to this collective "
            "when the node runs with its passphrase.": (
                "Los contactos son privados. Esta página muestra los dirigidos a este "
                "colectivo cuando el nodo funciona con su frase de contraseña."
            ),
            "Only the contacts this node can open are shown. They are read in memory and "
            "never written to disk in readable form.": (
                "Solo se muestran los contactos que este nodo puede abrir. Se leen en "
                "memoria y nunca se escriben en el disco de forma legible."
            ),
            "Name": "Nombre",
            "Phone": "Teléfono",
            "Email": "Correo",
            "Place": "Lugar",
            "Notes": "Notas",
        }
    },
)
