"""The web view's languages (node/web/i18n.py, docs/LANGUAGES.md): the messages Babel
extracts from the code, the templates and the kinds' specs (babel.cfg) are all in the
template (messages.pot) and translated in every catalog, with the same placeholders;
each catalog's plural rule is CLDR's; dates, weekdays, ages and numbers come from CLDR;
and real pages served over HTTP in Spanish and Hindi leave none of their known English
behind, nor ask for a text that a catalog lacks.
"""

from __future__ import annotations

import datetime
import fnmatch
import gettext
import string
import time
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from node.web import i18n, kinds
from node.web.i18n import LANGUAGES, Translator, catalog_path, translations
from protocol.kinds import POSTABLE
from tests.helpers import ROOT
from tests.net import Member, close_all
from tests.test_web_http import World, build, served

OTHERS = sorted(code for code in LANGUAGES if code != i18n.DEFAULT)
TEMPLATES = ROOT / "node" / "web" / "templates"
POT = i18n.LOCALE_DIR / "messages.pot"
UPDATE = "pybabel update (docs/LANGUAGES.md)"
EXTRACT = "pybabel extract (docs/LANGUAGES.md)"

Key = tuple[str | None, str]


def _key(m: Message) -> Key:
    return m.context, m.id[0] if isinstance(m.id, (list, tuple)) else m.id


def _ids(m: Message) -> tuple[str, ...]:
    return tuple(m.id) if isinstance(m.id, (list, tuple)) else (m.id,)


def _strings(m: Message) -> tuple[str, ...]:
    return tuple(m.string) if isinstance(m.string, (list, tuple)) else (m.string,)


def _name(key: Key) -> str:
    context, text = key
    return f"{text!r}" + (f" (in {context})" if context else "")


def extracted() -> Catalog:
    """What ``pybabel extract -F babel.cfg`` finds, through Babel's API."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    found = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map
    ):
        found.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return found


@pytest.fixture(scope="module")
def used() -> Catalog:
    return extracted()


def read(path: Path, code: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=code)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_catalogs_found_are_the_languages_offered() -> None:
    assert LANGUAGES == {"en": "English", "es": "Español", "hi": "हिन्दी"}
    assert OTHERS == ["es", "hi"]


def test_the_template_holds_every_message_the_code_uses_and_no_other(used: Catalog) -> None:
    pot = read(POT)
    held = {_key(m): m for m in pot if m.id}
    needed = {_key(m): m for m in used if m.id}
    stale = [f"{_name(k)} is used but not in messages.pot" for k in needed if k not in held]
    stale += [f"{_name(k)} is in messages.pot but used nowhere" for k in held if k not in needed]
    stale += [
        f"{_name(k)}: its plural is {_ids(held[k])[1:]!r} in messages.pot, {_ids(m)[1:]!r} in use"
        for k, m in needed.items()
        if k in held and _ids(held[k]) != _ids(m)
    ]
    assert stale == [], f"messages.pot is stale: run {EXTRACT}"
    assert len(needed) > 250  # the code, the templates and every kind's texts


@pytest.mark.parametrize("code", OTHERS)
def test_every_message_is_translated_in_every_catalog(code: str, used: Catalog) -> None:
    catalog = read(catalog_path(code), code)
    held = {_key(m): m for m in catalog if m.id}
    problems = []
    for m in used:
        if not m.id:
            continue
        key = _key(m)
        found = held.get(key)
        if found is None:
            problems.append(f"{_name(key)} is missing: run {UPDATE}, then translate it")
            continue
        if found.fuzzy:
            problems.append(f"{_name(key)} is fuzzy: check its translation, then unmark it")
        if _ids(found) != _ids(m):
            problems.append(f"{_name(key)} has another plural: run {UPDATE}")
        strings = _strings(found)
        if m.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"{_name(key)} has {len(strings)} forms, not {catalog.num_plurals}")
        wanted = set().union(*(placeholders(text) for text in _ids(m)))
        for text in strings:
            if not text.strip():
                problems.append(f"{_name(key)} is empty")
            elif placeholders(text) != wanted:
                problems.append(
                    f"{_name(key)}: {text!r} has {sorted(placeholders(text))}, not {sorted(wanted)}"
                )
    needed = {_key(m) for m in used if m.id}
    problems += [
        f"{_name(k)} is in the catalog but used nowhere: run {UPDATE}"
        for k in held
        if k not in needed
    ]
    assert problems == [], f"{catalog_path(code).relative_to(ROOT)}"


def test_every_kind_has_its_texts_extracted(used: Catalog) -> None:
    """What the page says about each registered kind (node/web/kinds.py) is extracted in
    the kind's context, so every catalog translates it."""
    keys = {_key(m) for m in used if m.id}
    missing = [(spec.name, m.text) for spec in POSTABLE.values() for m in kinds.messages(spec)]
    assert [k for k in missing if k not in keys] == []


def test_templates_call_only_what_babel_can_extract() -> None:
    """Babel's Jinja2 extractor reads calls of a name, ``plural("…", "…", n)``, not of an
    attribute: ``_.plural("…")`` would never reach a catalog."""
    found = [t.name for t in TEMPLATES.glob("*.html") if "_.plural(" in t.read_text()]
    assert found == []


# --- plurals, dates and numbers ------------------------------------------------------------


@pytest.mark.parametrize("code", OTHERS)
def test_each_catalogs_plural_rule_is_cldrs(code: str) -> None:
    """The catalog's Plural-Forms parses, and its first form is for exactly the numbers
    CLDR calls "one" in that language (Hindi: 0 and 1; Spanish: 1). CLDR's Spanish
    "many" is for exact millions written in words ("1 M de"); the view writes digits."""
    catalog = read(catalog_path(code), code)
    assert catalog.num_plurals == 2
    form = gettext.c2py(catalog.plural_expr)
    cldr = Locale.parse(code)
    wrong = [n for n in range(10_001) if (form(n) == 0) != (cldr.plural_form(n) == "one")]
    assert wrong == []
    assert {form(n) for n in range(10_001)} == {0, 1}


def test_plurals_follow_each_language() -> None:
    one, many = "{n} event", "{n} events"
    assert [Translator("en").plural(one, many, n) for n in (0, 1, 2)] == [
        "0 events",
        "1 event",
        "2 events",
    ]
    assert [Translator("es").plural(one, many, n) for n in (0, 1, 2)] == [
        "0 eventos",
        "1 evento",
        "2 eventos",
    ]
    plan = ("plan", "{n} plan", "{n} plans")
    assert [Translator("hi").kind_plural(*plan, n) for n in (0, 1, 2)] == [
        "0 योजना",
        "1 योजना",
        "2 योजनाएँ",
    ]


def test_dates_weekdays_ages_and_numbers_come_from_cldr() -> None:
    day = datetime.date(2026, 3, 12)  # a Thursday
    en, es, hi = Translator("en"), Translator("es"), Translator("hi")
    assert (en.date(day), es.date(day), hi.date(day)) == (
        "March 12, 2026",
        "12 de marzo de 2026",
        "12 मार्च 2026",
    )
    assert (en.short_date(day), es.short_date(day), hi.short_date(day)) == (
        "Mar 12",
        "12 mar",
        "12 मार्च",
    )
    assert (en.weekday(day), es.weekday(day), hi.weekday(day)) == ("Thursday", "jueves", "गुरुवार")
    assert (es.full_date(day), hi.full_date(day)) == (
        "jueves, 12 de marzo de 2026",
        "गुरुवार, 12 मार्च 2026",
    )
    assert (en.weekdays([0, 3]), es.weekdays([0, 3]), hi.weekdays([0, 3])) == (
        "Monday and Thursday",
        "lunes y jueves",
        "सोमवार और गुरुवार",
    )
    moment = datetime.datetime(2026, 3, 12, 14, 5)
    assert es.moment(moment) == "12 de marzo de 2026, 14:05"
    assert (en.ago(185), es.ago(185), hi.ago(185)) == (
        "3 minutes ago",
        "hace 3 minutos",
        "3 मिनट पहले",
    )
    assert (en.ago(3599), en.ago(11 * 86400)) == ("59 minutes ago", "1 week ago")  # whole units
    assert (en.ago(5), es.ago(5), hi.ago(5)) == ("just now", "ahora mismo", "अभी-अभी")
    n = 1_234_567
    assert (en.number(n), es.number(n), hi.number(n)) == ("1,234,567", "1.234.567", "12,34,567")
    assert hi("Page {page} of {pages}", page=1, pages=12_345) == "12,345 में से पेज 1"


def test_a_kinds_texts_are_translated_in_its_own_context() -> None:
    """A plan's "Due" is its due date, a contact's is the date of its next step; the
    pager's "Next" is not a contact's next step."""
    es = Translator("es")
    assert es.kind("plan", "Due") == "Fecha límite"
    assert es.kind("contact", "Due") == "Fecha del próximo paso"
    assert (es("Next"), es.kind("contact", "Next")) == ("Siguiente", "Próximo paso")
    assert Translator("hi").kind("shift", "Shifts") == "शिफ़्टें"
    assert es.kind("nothing", "Due") == "Due"  # a kind no catalog has shows in English


def test_the_catalogs_are_compiled_once_per_process() -> None:
    assert translations("hi") is translations("hi")
    assert isinstance(translations("en"), gettext.NullTranslations)


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "chosen"),
    [
        ("hi", None, "es", "hi"),
        (None, "hi", "es", "hi"),
        ("xx", "es", "hi", "es"),
        (None, None, "hi-IN,hi;q=0.9,en;q=0.8", "hi"),
        (None, None, "fr, es-SV;q=0.5, hi;q=0.2", "es"),
        (None, None, "hi;q=0, es;q=0.1", "es"),
        (None, None, "fr", "en"),
        (None, None, None, "en"),
    ],
)
def test_the_language_of_a_request(
    query: str | None, cookie: str | None, accept: str | None, chosen: str
) -> None:
    assert i18n.choose(query, cookie, accept) == chosen


# --- real pages ------------------------------------------------------------------------------


class _Texts(HTMLParser):
    """The texts of a page as a reader meets them: each text between tags, and the
    labels of attributes (aria-label, title), stripped; not what is code (an event's
    kind as the log holds it, in its technical details)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.lang = ""
        self.code = 0

    def handle_endtag(self, tag: str) -> None:
        self.code -= tag == "code"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.code += tag == "code"
        for name, value in attrs:
            if name in ("aria-label", "title") and value:
                self.found.add(value.strip())
            if tag == "html" and name == "lang":
                self.lang = value or ""

    def handle_data(self, data: str) -> None:
        if self.code:
            return
        for part in data.split("·"):
            text = part.strip(" \n\t‹›«»:()")
            if text:
                self.found.add(text)


def texts(html: str) -> _Texts:
    parser = _Texts()
    parser.feed(html)
    return parser


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build(tmp_path)
    la = w.la
    shift = POSTABLE["shift"].build(
        {
            "title": "Maquila gate",
            "weekdays": "mon,thu",
            "start": "05:30",
            "end": "07:00",
            "zone": "America/El_Salvador",
            "since": datetime.date.today().isoformat(),
            "needed": "2",
        }
    )
    meeting = POSTABLE["meeting"].build(
        {"title": "Discussion group", "when": "2026-01-08 18:00", "zone": "UTC", "repeat": "weekly"}
    )
    w.ids["shift"] = la.node.post(la.keys, [("shift", shift)])[0].id
    w.ids["meeting"] = la.node.post(la.keys, [("meeting", meeting)])[0].id
    yield w
    close_all(w.members)


def _paths(w: World) -> list[str]:
    paths = ["/", *("/" + s.plural for s in POSTABLE.values()), "/events", "/activity"]
    paths += ["/plans?overdue=1", "/reports?from=nope", "/nowhere"]
    return paths + [f"/event/{i.hex()}" for i in w.ids.values()]


async def _pages(la: Member, paths: list[str], lang: str) -> dict[str, str]:
    pages = {}
    async with served(la) as site:
        for path in paths:
            sep = "&" if "?" in path else "?"
            status, html, _ = await site.get(f"{path}{sep}lang={lang}")
            assert status in (200, 404), (path, status)
            pages[path] = html
    return pages


async def test_pages_in_spanish_and_hindi_leave_no_known_english_behind(world: World) -> None:
    """Every text of the English pages that is a message of the catalogs (a whole text on
    the page: a heading, a label, a menu entry, a note) is gone from the same pages in
    Spanish and in Hindi, unless the catalog says it reads the same there."""
    paths = _paths(world)
    english = await _pages(world.la, paths, "en")
    assert all(texts(html).lang == "en" for html in english.values())
    started = time.monotonic()
    for code in OTHERS:
        catalog = read(catalog_path(code), code)
        known = {
            text: _strings(m) for m in catalog if m.id for text in _ids(m) if not placeholders(text)
        }
        shown = await _pages(world.la, paths, code)
        left = []
        for path, html in shown.items():
            page = texts(html)
            assert page.lang == code, path
            seen = texts(english[path]).found & known.keys()
            left += [(path, t) for t in sorted(seen & page.found) if t not in known[t]]
        assert left == [], (code, left)
        assert len(seen) > 5
    assert time.monotonic() - started < 120


async def test_every_text_a_page_asks_for_is_in_every_catalog(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The texts the pages ask to translate, including those made at run time (a kind's
    labels, choices and counts), are all in every catalog, in the context asked."""
    asked: set[Key] = set()
    plain, kind = Translator.__call__, Translator.kind
    plural, kind_plural = Translator.plural, Translator.kind_plural

    def record_plain(self: Translator, text: str, **values: object) -> str:
        asked.add((None, text))
        return plain(self, text, **values)

    def record_kind(self: Translator, context: str, text: str, **values: object) -> str:
        asked.add((context, text))
        return kind(self, context, text, **values)

    def record_plural(self: Translator, one: str, many: str, n: int, **values: object) -> str:
        asked.add((None, one))
        return plural(self, one, many, n, **values)

    def record_kind_plural(
        self: Translator, context: str, one: str, many: str, n: int, **values: object
    ) -> str:
        asked.add((context, one))
        return kind_plural(self, context, one, many, n, **values)

    monkeypatch.setattr(Translator, "__call__", record_plain)
    monkeypatch.setattr(Translator, "kind", record_kind)
    monkeypatch.setattr(Translator, "plural", record_plural)
    monkeypatch.setattr(Translator, "kind_plural", record_kind_plural)
    await _pages(world.la, _paths(world), "hi")
    assert len(asked) > 100
    for code in OTHERS:
        held = {_key(m) for m in read(catalog_path(code), code) if m.id}
        missing = sorted(map(_name, asked - held))
        assert missing == [], (code, missing)


def test_the_catalogs_are_installed_with_the_package() -> None:
    """pyproject.toml's package data holds every catalog and the template, so that an
    installed node speaks every language a checkout does."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["node.web"]
    web = ROOT / "node" / "web"
    files = [p.relative_to(web).as_posix() for p in i18n.LOCALE_DIR.rglob("*.po*")]
    assert len(files) == len(OTHERS) + 1
    assert [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []


async def test_the_shifts_page_names_weekdays_in_the_pages_language(world: World) -> None:
    """A shift's weekdays (``mon,thu``) and the days of its coming slots are CLDR's
    names in the page's language, not the codes the log holds."""
    pages = {code: (await _pages(world.la, ["/shifts"], code))["/shifts"] for code in LANGUAGES}
    assert "Monday and Thursday" in pages["en"]
    assert "lunes y jueves" in pages["es"]
    assert "सोमवार और गुरुवार" in pages["hi"]
    assert ">mon,thu<" not in "".join(pages.values())
    for code, names in (("en", ("Monday", "Thursday")), ("es", ("lunes", "jueves"))):
        slots = pages[code].split('id="slots"', 1)[1]
        assert any(f"{name}, " in slots for name in names), code
    assert any(f"{name}, " in pages["hi"] for name in ("सोमवार", "गुरुवार"))
