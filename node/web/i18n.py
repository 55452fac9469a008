"""The web view's languages: gettext catalogs read with Babel, and dates, numbers and
plurals said by each language's own rules (CLDR, through Babel).

Messages are written in English in the code and the templates (``_("Search")``,
``plural("{n} result", "{n} results", n)``): English is the source language and needs
no catalog. Every other language is one catalog, ``locale/<code>/LC_MESSAGES/
messages.po`` beside this module, and the languages offered are English and those whose
catalog is there (:data:`LANGUAGES`): adding a language is adding its catalog
(docs/LANGUAGES.md gives the pybabel commands). What the page says about a kind (its
names, its fields' labels and choices, its list's texts) is written in English in the
kind's spec (protocol/kinds) and translated with the kind's name as the message's
context (``msgctxt "plan"``, :meth:`Translator.kind`), so that a plan's "Due" and a
contact's "Due" can differ; node/web/kinds.py lists those texts and extracts them for
the catalogs.

Placeholders are ``str.format`` fields, filled after translation (``_("{n} events",
n=3)``); an integer in them is written the way the language writes numbers (12,345;
12.345; 12,345 and 12,34,567 in Hindi). A plural is chosen by the catalog's Plural-Forms
(Spanish ``n != 1``, Hindi ``n > 1``: 0 and 1 are singular, as CLDR says; CLDR's
Spanish "many" is for exact millions in words, "1 M de", and the view writes digits).
Dates, weekdays, months and "3 minutes ago" come from CLDR, not from the catalogs.

The catalogs are compiled in memory, once per process on first use (Babel's
``read_po``, then ``write_mo`` into a ``Translations``), rather than committed as .mo
files: the .po file is then the only copy of a language, so no compiled file can be
older than its source, nothing is built at install, and compiling one takes a few
milliseconds. A message missing from a catalog, or marked fuzzy, shows in English
(tests/test_i18n.py fails on any).

The language is chosen, first to last, by ``?lang=``, by the ``lang`` cookie that the
switch sets, by the browser's Accept-Language, and else English.
"""

from __future__ import annotations

import datetime
import functools
import gettext
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.dates import (
    TIMEDELTA_UNITS,
    format_date,
    format_skeleton,
    format_time,
    format_timedelta,
    get_date_format,
    get_datetime_format,
)
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

#: the catalogs: ``<code>/LC_MESSAGES/messages.po``, and the template ``messages.pot``
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
#: the source language: the texts of the code and the templates
DEFAULT = "en"


def N_(text: str) -> str:
    """Mark ``text`` as a message for extraction, where it is written; it is translated
    where it is shown (``tr(text)``)."""
    return text


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def _own_name(code: str) -> str:
    """A language's name in that language, as CLDR writes it: "Español", "हिन्दी"."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def _catalogued() -> dict[str, str]:
    codes = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return {DEFAULT: _own_name(DEFAULT), **{c: _own_name(c) for c in codes if c != DEFAULT}}


#: code -> the language's own name: English, and each language with a catalog
LANGUAGES: dict[str, str] = _catalogued()


@functools.cache
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (English: none), once per process. Fuzzy
    messages are left out, as gettext does: they show in English."""
    path = catalog_path(code)
    if code == DEFAULT or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@functools.cache
def locale_of(code: str) -> Locale:
    return Locale.parse(code)


@functools.lru_cache(maxsize=4096)
def _date(day: datetime.date, form: str, lang: str) -> str:
    """A day in words (CLDR, through Babel): the same day in the same words every time,
    so a page of 200 slots on a dozen days formats a dozen."""
    return str(format_date(day, form, locale=locale_of(lang)))


@functools.lru_cache(maxsize=4096, typed=True)
def _number(n: int | float, lang: str) -> str:
    """A number in a language's words (CLDR, through Babel), formatted once: a page
    says the same few numbers many times (a slot short of 1, late by 3 days)."""
    return str(format_decimal(n, locale=locale_of(lang)))


@functools.lru_cache(maxsize=4096)
def _moment(when: datetime.datetime, wall: str, zone: object, lang: str) -> str:
    """:meth:`Translator.moment`, put in words once for each moment (a meeting's next
    date on every page of the day)."""
    locale = locale_of(lang)
    pattern = str(get_datetime_format("long", locale=locale)).replace("'", "")
    return pattern.replace("{0}", format_time(when, "short", locale=locale)).replace(
        "{1}", _date(when.date(), "long", lang)
    )


@functools.lru_cache(maxsize=1024)
def _weekdays(numbers: tuple[int, ...], lang: str) -> str:
    """:meth:`Translator.weekdays`, put in words once for each list of days (a page of
    shifts names the same few lists on every row)."""
    monday = datetime.date(2024, 1, 1)  # a Monday
    names = [_date(monday + datetime.timedelta(days=n), "EEEE", lang) for n in numbers]
    return str(format_list(names, locale=locale_of(lang))) if names else ""


#: how a date is typed, as each language names its parts: dd/mm/yyyy, dd/mm/aaaa
DATE_PARTS = {"d": N_("dd"), "m": N_("mm"), "y": N_("yyyy")}
#: a date typed in three groups of digits (any script's), with / . - or a space between
_TYPED = re.compile(r"(\d{1,4})\s*[/.\- ]\s*(\d{1,2})\s*[/.\- ]\s*(\d{1,4})")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@functools.cache
def date_form(code: str) -> tuple[str, str]:
    """The order a date is typed in on a language's pages ("dmy"), and the mark between
    its parts: CLDR's short date (d/M/yy in Spanish and Hindi); English types ISO's
    year-month-day, which no reader takes the wrong way round (3/4 is March 4 to some
    English readers and 3 April to others)."""
    if code == DEFAULT:
        return "ymd", "-"
    pattern = str(get_date_format("short", locale=locale_of(code)).pattern)
    at = {part: pattern.find(letter) for part, letter in (("d", "d"), ("m", "M"), ("y", "y"))}
    if min(at.values()) < 0:
        return "ymd", "-"
    order = "".join(sorted(at, key=lambda part: at[part]))
    marks = [c for c in pattern if c in "/.-"]
    return order, marks[0] if marks else "/"


@dataclass(frozen=True, slots=True)
class Translator:
    """The words of one language; called as ``_`` in the templates (and ``plural`` for
    texts with a count)."""

    lang: str

    @property
    def tag(self) -> str:
        """The language as a BCP 47 tag, for ``<html lang>``: ``pt-BR`` for ``pt_BR``."""
        return self.lang.replace("_", "-")

    @property
    def locale(self) -> Locale:
        return locale_of(self.lang)

    def __call__(self, text: str, **values: object) -> str:
        return self._fill(translations(self.lang).gettext(text), values)

    def plural(self, one: str, many: str, n: int, **values: object) -> str:
        """``one`` or ``many`` as the language says ``n`` of something, with ``{n}``."""
        message = translations(self.lang).ngettext(one, many, n)
        return self._fill(message, {"n": n, **values})

    def kind(self, kind: str, text: str, **values: object) -> str:
        """A text about a kind (its names, its fields' labels and choices: node/web/kinds.py),
        translated in the kind's context."""
        return self._fill(translations(self.lang).pgettext(kind, text), values)

    def kind_plural(self, kind: str, one: str, many: str, n: int, **values: object) -> str:
        """A count of a kind's items: "{n} plan", "{n} plans"."""
        message = translations(self.lang).npgettext(kind, one, many, n)
        return self._fill(message, {"n": n, **values})

    def _fill(self, message: str, values: Mapping[str, object]) -> str:
        if not values:
            return message
        shown = {k: self.number(v) if type(v) is int else v for k, v in values.items()}
        return message.format(**shown)

    def number(self, n: int | float) -> str:
        """A number the way the language writes it: 12,345 / 12.345 / 12,345."""
        return _number(n, self.lang)

    def ago(self, seconds: float) -> str:
        """How long ago, in words, in whole units: "3 minutes ago", "hace 2 semanas"."""
        seconds = max(0.0, seconds)
        if seconds < 60:
            return self(N_("just now"))
        for _, size in TIMEDELTA_UNITS:
            if seconds >= size:
                whole = datetime.timedelta(seconds=(seconds // size) * size)
                return format_timedelta(-whole, threshold=1, add_direction=True, locale=self.locale)
        raise AssertionError("a minute is one of CLDR's units")  # pragma: no cover

    def date_hint(self) -> str:
        """How to type a date in this language: yyyy-mm-dd / dd/mm/aaaa / दद/मम/वववव."""
        order, mark = date_form(self.lang)
        return mark.join(self(DATE_PARTS[part]) for part in order)

    def typed_date(self, text: str) -> str | None:
        """The day (YYYY-MM-DD) of a date typed as this language types it
        (:meth:`date_hint`, with / . - or a space between, any script's digits) or as
        YYYY-MM-DD; None if it is not one."""
        text = text.strip()
        iso = _ISO.fullmatch(text)
        groups = iso.groups() if iso else None
        if groups is None:
            typed = _TYPED.fullmatch(text)
            if typed is None:
                return None
            order = date_form(self.lang)[0]
            groups = tuple(typed.group(1 + order.index(part)) for part in "ymd")
        year, month, day = groups
        if len(year) != 4:
            return None
        try:
            return datetime.date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            return None

    def date_field(self, text: str) -> str:
        """A date filter's value as this language types it (a date given as YYYY-MM-DD,
        in a link, shown as 01/03/2026 on a Spanish page); what is not a date, as it is."""
        day = self.typed_date(text)
        if day is None:
            return text
        order, mark = date_form(self.lang)
        year, month, date = day.split("-")
        parts = {"y": year, "m": month, "d": date}
        return mark.join(parts[part] for part in order)

    def date(self, day: datetime.date) -> str:
        """March 12, 2026 / 12 de marzo de 2026 / 12 मार्च 2026."""
        return _date(day, "long", self.lang)

    def short_date(self, day: datetime.date) -> str:
        """Mar 12 / 12 mar / 12 मार्च."""
        return format_skeleton("MMMd", day, locale=self.locale)

    def weekday(self, day: datetime.date) -> str:
        """The day's weekday: Monday / lunes / सोमवार."""
        return _date(day, "EEEE", self.lang)

    def full_date(self, day: datetime.date) -> str:
        """A date with its weekday: Thursday, March 12, 2026 / jueves, 12 de marzo de
        2026 / गुरुवार, 12 मार्च 2026."""
        return _date(day, "full", self.lang)

    def weekdays(self, numbers: list[int]) -> str:
        """Weekdays by number (0 Monday, 6 Sunday) as a list in words: "Monday and
        Thursday" / "lunes y jueves" / "सोमवार और गुरुवार"."""
        return _weekdays(tuple(numbers), self.lang)

    def moment(self, when: datetime.datetime) -> str:
        """A date and a time of day, as given (the view shows this machine's local time),
        joined as the language joins them: March 12, 2026, 2:05 PM."""
        # equal moments in two zones are equal datetimes: the key names the wall time
        # and the zone too
        return _moment(when, when.isoformat(), when.tzinfo, self.lang)


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request (see the module's docstring)."""
    for given in (query, cookie):
        if given in LANGUAGES:
            return given
    by_tag = {code.lower().replace("_", "-"): code for code in LANGUAGES}
    for tag in _accepted(accept_language or ""):
        found = by_tag.get(tag) or by_tag.get(tag.split("-")[0])
        if found is not None:
            return found
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
            weighted.append((-q, index, tag.strip().lower().replace("_", "-")))
    return [tag for _, _, tag in sorted(weighted)]
