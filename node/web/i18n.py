"""The web view's words in English and Spanish, and times said the way people say them.

Messages are written in English in the code and the templates (``_("Search")``); the
Spanish catalog maps each English text to its Spanish one, and each kind's spec
(protocol/kinds, ``KindSpec.words``) holds what is said about that kind. A text missing from a
catalog shows in English (a test checks that none is missing). Placeholders are
``str.format`` fields, filled after translation: ``_("{n} events", n=3)``.

The language is chosen, first to last, by ``?lang=``, by the ``lang`` cookie that the
switch sets, by the browser's Accept-Language, and else English.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from protocol.kinds import POSTABLE

LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT = "en"

_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}

#: English text -> Spanish text. Plural forms are two entries (singular and plural).
ES: dict[str, str] = {
    # navigation and layout
    "Overview": "Resumen",
    "All events": "Todos los eventos",
    "Activity": "Actividad",
    "Language": "Idioma",
    "Main menu": "Menú principal",
    "This page only shows what your own node holds. Nothing can be changed from here.": (
        "Esta página solo muestra lo que guarda su propio nodo. Desde aquí no se puede "
        "cambiar nada."
    ),
    "New events arrived. Show them": "Han llegado eventos nuevos. Mostrarlos",
    "This node": "Este nodo",
    "not part of a network yet": "aún no forma parte de una red",
    # overview
    "Problems": "Problemas",
    "Nothing needs your attention.": "Nada requiere su atención.",
    "Collectives": "Colectivos",
    "Collective": "Colectivo",
    "State": "Estado",
    "Events": "Eventos",
    "Last event": "Último evento",
    "Peers": "Nodos vecinos",
    "Peer": "Nodo vecino",
    "Last good sync": "Última sincronización correcta",
    "Since then": "Desde entonces",
    "Problem": "Problema",
    "member": "miembro",
    "admin": "administración",
    "founder": "fundador",
    "(this node)": "(este nodo)",
    "removed from the network after its event {n}: its later events are ignored": (
        "retirado de la red después de su evento {n}: sus eventos posteriores se ignoran"
    ),
    "this collective's feed split in two (fork) at event {n}: its later events are ignored": (
        "la secuencia de este colectivo se partió en dos (bifurcación) en el evento {n}: "
        "sus eventos posteriores se ignoran"
    ),
    "never": "nunca",
    "not yet": "todavía no",
    "up to date": "al día",
    "calls this node": "llama a este nodo",
    "{n} new event here": "{n} evento nuevo aquí",
    "{n} new events here": "{n} eventos nuevos aquí",
    "could not reach it ({n} try in a row)": "no se pudo conectar ({n} intento seguido)",
    "could not reach it ({n} tries in a row)": "no se pudo conectar ({n} intentos seguidos)",
    "it refused the sync ({n} try in a row)": "rechazó la sincronización ({n} intento seguido)",
    "it refused the sync ({n} tries in a row)": (
        "rechazó la sincronización ({n} intentos seguidos)"
    ),
    "last time: {sent} sent, {received} received": (
        "la última vez: {sent} enviados, {received} recibidos"
    ),
    "The sync service is not running with this page, so there is no sync news.": (
        "El servicio de sincronización no está en marcha con esta página, así que no hay "
        "noticias de sincronización."
    ),
    "the last sync found a feed split in two (fork); see the collectives above": (
        "la última sincronización encontró una secuencia partida en dos (bifurcación); vea "
        "los colectivos más arriba"
    ),
    "This node calls no other node: it syncs when other nodes call it.": (
        "Este nodo no llama a ningún otro nodo: se sincroniza cuando otros nodos lo llaman."
    ),
    "{name}: {n} event held back, over the network's daily budget.": (
        "{name}: {n} evento retenido, por encima del límite diario de la red."
    ),
    "{name}: {n} events held back, over the network's daily budget.": (
        "{name}: {n} eventos retenidos, por encima del límite diario de la red."
    ),
    "{n} event waits for earlier ones that have not arrived yet.": (
        "{n} evento espera a otros anteriores que aún no han llegado."
    ),
    "{n} events wait for earlier ones that have not arrived yet.": (
        "{n} eventos esperan a otros anteriores que aún no han llegado."
    ),
    "{n} event is of a kind this version cannot show; it is kept and passed on.": (
        "{n} evento es de un tipo que esta versión no sabe mostrar; se guarda y se transmite."
    ),
    "{n} events are of a kind this version cannot show; they are kept and passed on.": (
        "{n} eventos son de un tipo que esta versión no sabe mostrar; se guardan y se transmiten."
    ),
    "{name}: {problem}": "{name}: {problem}",
    "In numbers": "En cifras",
    "{n} overdue": "{n} atrasado",
    "{n} event": "{n} evento",
    "{n} events": "{n} eventos",
    # lists, filters, paging
    "Search": "Buscar",
    "All collectives": "Todos los colectivos",
    "From": "Desde",
    "To": "Hasta",
    "Kind": "Tipo",
    "All kinds": "Todos los tipos",
    "Show": "Mostrar",
    "Clear": "Borrar filtros",
    "Filters": "Filtros",
    "{value} is not a date; it was left out.": "{value} no es una fecha; no se tuvo en cuenta.",
    "Nothing matches.": "No hay resultados.",
    "Nothing here yet.": "Aquí todavía no hay nada.",
    "Page {page} of {pages}": "Página {page} de {pages}",
    "Previous": "Anterior",
    "Next": "Siguiente",
    "First": "Primera",
    "Last": "Última",
    "Pages": "Páginas",
    "{n} result": "{n} resultado",
    "{n} results": "{n} resultados",
    "by {name}": "de {name}",
    "Private, addressed to this collective": "Privados, dirigidos a este colectivo",
    # what every list of items may show (each kind's own words are in its spec,
    # protocol/kinds: KindSpec.words)
    "Title": "Título",
    "Tags": "Concentraciones",
    "Overdue only": "Solo atrasados",
    "Sort by": "Ordenar por",
    "newest": "más recientes",
    "overdue": "atrasado",
    "overdue by {n} day": "atrasado {n} día",
    "overdue by {n} days": "atrasado {n} días",
    "due today": "vence hoy",
    "no date": "sin fecha",
    # the coming slots of a kind with slots (shifts: templates/_slots.html)
    "Coming slots": "Próximos turnos",
    "Day": "Día",
    "On it": "Quién va",
    "Short": "Faltan",
    "short of {n}": "faltan {n}",
    "enough": "completo",
    "No slots in the coming weeks.": "No hay turnos en las próximas semanas.",
    "Body": "Texto",
    "Description": "Descripción",
    "Who can read it": "Quién puede leerlo",
    # events
    "Time": "Hora",
    "Place in feed": "Lugar en la secuencia",
    "What": "Qué",
    "private": "privado",
    "erased": "borrado",
    "Event": "Evento",
    "Written by": "Escrito por",
    "Written": "Escrito",
    "Event {seq} of {count} in the feed of {name}.": (
        "Evento {seq} de {count} en la secuencia de {name}."
    ),
    "Previous event": "Evento anterior",
    "Next event": "Evento siguiente",
    "Signature": "Firma",
    "verified: {name} wrote exactly this": "verificada: {name} escribió exactamente esto",
    "NOT valid: {reason}": "NO válida: {reason}",
    "Addressed to": "Dirigido a",
    "everyone in the network": "todos los miembros de la red",
    "{n} collective (private)": "{n} colectivo (privado)",
    "{n} collectives (private)": "{n} colectivos (privado)",
    "Redaction": "Borrado",
    "not erased": "no borrado",
    "its contents were erased for good by {name} ({when}); the envelope stays, so every "
    "signature still checks": (
        "su contenido fue borrado para siempre por {name} ({when}); el sobre se mantiene, "
        "así que todas las firmas siguen siendo comprobables"
    ),
    "its contents were erased for good; the envelope stays, so every signature still checks": (
        "su contenido fue borrado para siempre; el sobre se mantiene, así que todas las "
        "firmas siguen siendo comprobables"
    ),
    "Counts": "Cuenta",
    "yes": "sí",
    "no: it comes after its author's cutoff or fork, so it is kept only as evidence": (
        "no: llega después del corte o la bifurcación de su autor, así que se guarda solo "
        "como prueba"
    ),
    "This is fork evidence: a second, different event at the same place in its author's feed.": (
        "Esto es una prueba de bifurcación: un segundo evento distinto en el mismo lugar "
        "de la secuencia de su autor."
    ),
    "Contents": "Contenido",
    "As it stands now": "Cómo está ahora",
    "This node cannot open it: it was sealed for other collectives.": (
        "Este nodo no puede abrirlo: fue sellado para otros colectivos."
    ),
    "Technical details": "Detalles técnicos",
    "future time: this author's clock may be wrong": (
        "hora futura: el reloj de este autor puede estar mal"
    ),
    # kinds
    "private (sealed)": "privado (sellado)",
    "erasure": "borrado",
    "network founded": "fundación de la red",
    "collective admitted": "colectivo admitido",
    "collective removed": "colectivo retirado",
    "role changed": "cambio de rol",
    "address published": "dirección publicada",
    "keys published": "claves publicadas",
    # activity
    "Events per week": "Eventos por semana",
    "Events per week, by collective, over the last {n} weeks.": (
        "Eventos por semana, por colectivo, en las últimas {n} semanas."
    ),
    "Week of": "Semana del",
    "Total": "Total",
    "The numbers": "Las cifras",
    "Who this node syncs with": "Con quién sincroniza este nodo",
    "Each line is a direct link; its label says when the last sync over it worked.": (
        "Cada línea es un enlace directo; su etiqueta dice cuándo funcionó la última "
        "sincronización por él."
    ),
    "no direct link": "sin enlace directo",
    "Age of the last sync": "Antigüedad de la última sincronización",
    "less than an hour": "menos de una hora",
    "less than a day": "menos de un día",
    "older, or never": "más antigua, o nunca",
    # times
    "just now": "ahora mismo",
    "{n} minute ago": "hace {n} minuto",
    "{n} minutes ago": "hace {n} minutos",
    "{n} hour ago": "hace {n} hora",
    "{n} hours ago": "hace {n} horas",
    "{n} day ago": "hace {n} día",
    "{n} days ago": "hace {n} días",
    "synced {age}": "sincronizado {age}",
    "{day} {month} {year}": "{day} de {month} de {year}",
    "{date}, {time}": "{date}, {time}",
    # errors
    "Not found": "No encontrado",
    "This page does not exist.": "Esta página no existe.",
    "Only reading": "Solo lectura",
    "This view is read-only: nothing can be sent to it.": (
        "Esta vista es de solo lectura: no se le puede enviar nada."
    ),
    "Wrong address": "Dirección equivocada",
    "This node's page answers only at its own address.": (
        "La página de este nodo solo responde en su propia dirección."
    ),
    # the refusal page (node/web/access.py)
    "This page is private": "Esta página es privada",
    "This page is private to the person who runs this node. It shows nothing to anyone else.": (
        "Esta página es privada para la persona que hace funcionar este nodo. No muestra "
        "nada a nadie más."
    ),
    "The address you opened was already used, or the node has restarted since. Each address "
    "lets one browser in, once.": (
        "La dirección que abrió ya se usó, o el nodo se reinició desde entonces. Cada "
        "dirección deja entrar a un navegador, una sola vez."
    ),
    "If you run this node, open the address that the command commune serve printed when it "
    "started. The current address is always in this file, which only the account that runs "
    "the node can read:": (
        "Si usted hace funcionar este nodo, abra la dirección que mostró el comando commune "
        "serve al arrancar. La dirección vigente está siempre en este archivo, que solo puede "
        "leer la cuenta que hace funcionar el nodo:"
    ),
    "The command commune status prints it too. Once you have opened it, this browser stays "
    "let in until it is closed.": (
        "El comando commune status también la muestra. Una vez abierta, este navegador "
        "puede entrar hasta que se cierre."
    ),
    "Something went wrong": "Algo salió mal",
    # the calendar (node/web/calendar.py, templates/calendar.html) and its feed (node/ics.py)
    "Calendar": "Calendario",
    "Today": "Hoy",
    "Week": "Semana",
    "Month": "Mes",
    "Time zone": "Zona horaria",
    "Week of {date}": "Semana del {date}",
    "Times are in {zone}.": "Las horas están en {zone}.",
    "this machine's ({name})": "la de esta máquina ({name})",
    "{value} is not a time zone this machine knows; the calendar is in this machine's time zone.": (
        "{value} no es una zona horaria que esta máquina conozca; el calendario está en la "
        "zona horaria de esta máquina."
    ),
    "There is more than one page can show here: only the first entries are shown.": (
        "Hay más de lo que cabe en una página: solo se muestran las primeras entradas."
    ),
    "due": "vence",
    "today": "hoy",
    "Nothing this day.": "Nada este día.",
    "No shifts, meetings or due dates in these days.": (
        "No hay turnos, reuniones ni vencimientos en estos días."
    ),
    "In your calendar app": "En su aplicación de calendario",
    "Download this calendar (.ics)": "Descargar este calendario (.ics)",
    "To subscribe from a calendar app on this machine, give it this address:": (
        "Para suscribirse desde una aplicación de calendario de esta máquina, dele esta dirección:"
    ),
    "Whoever has this address can read the calendar (private items are never in it). To "
    "change it, delete this file and restart commune serve:": (
        "Quien tenga esta dirección puede leer el calendario (los elementos privados nunca "
        "están en él). Para cambiarla, borre este archivo y reinicie commune serve:"
    ),
    "By {name}": "De {name}",
    "On it: {who}": "Quién va: {who}",
    "Short of {n}": "Faltan {n}",
    "Due: {title}": "Vence: {title}",
    "{title} (short of {n})": "{title} (faltan {n})",
    "Shift": "Turno",
    "Meeting": "Reunión",
    "Plan due": "Vencimiento de plan",
    "Back to the overview": "Volver al resumen",
}

CATALOGS: dict[str, dict[str, str]] = {"en": {}, "es": ES}


def has(lang: str, text: str) -> bool:
    """Whether ``text`` has its words in ``lang``: in its catalog or a kind's spec."""
    if text in CATALOGS.get(lang, {}):
        return True
    return any(text in spec.words.get(lang, {}) for spec in POSTABLE.values())


def kind_word(lang: str, text: str) -> str:
    """A kind's text in ``lang``, from the words of its spec (protocol/kinds), or the
    text as it is (English) when no registered kind has it."""
    for spec in POSTABLE.values():
        word = spec.words.get(lang, {}).get(text)
        if word is not None:
            return word
    return text


@dataclass(frozen=True, slots=True)
class Translator:
    """The words of one language; called as ``_`` in the templates."""

    lang: str

    def __call__(self, text: str, **values: object) -> str:
        message = CATALOGS.get(self.lang, {}).get(text)
        if message is None:
            message = kind_word(self.lang, text)
        return message.format(**values) if values else message

    def plural(self, one: str, many: str, n: int, **values: object) -> str:
        return self(one if n == 1 else many, n=n, **values)

    def ago(self, seconds: float) -> str:
        """How long ago, in words: "3 minutes ago"."""
        seconds = max(0.0, seconds)
        if seconds < 60:
            return self("just now")
        if seconds < 3600:
            n = int(seconds // 60)
            return self.plural("{n} minute ago", "{n} minutes ago", n)
        if seconds < 86400:
            n = int(seconds // 3600)
            return self.plural("{n} hour ago", "{n} hours ago", n)
        n = int(seconds // 86400)
        return self.plural("{n} day ago", "{n} days ago", n)

    def date(self, day: datetime.date) -> str:
        """12 March 2026 / 12 de marzo de 2026."""
        month = _MONTHS.get(self.lang, _MONTHS["en"])[day.month - 1]
        return self("{day} {month} {year}", day=day.day, month=month, year=day.year)

    def short_date(self, day: datetime.date) -> str:
        """12 Mar / 12 mar."""
        month = _MONTHS.get(self.lang, _MONTHS["en"])[day.month - 1]
        return f"{day.day} {month[:3]}"

    def moment(self, when: datetime.datetime) -> str:
        """A date and a time of day, as given (the view shows this machine's local time)."""
        return self("{date}, {time}", date=self.date(when.date()), time=when.strftime("%H:%M"))


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request (see the module's docstring)."""
    for given in (query, cookie):
        if given in LANGUAGES:
            return given
    for tag in _accepted(accept_language or ""):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT


def _accepted(header: str) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 means never)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            weighted.append((-q, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]
