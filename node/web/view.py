"""What every page shares: one request's view of the node (its language, the names
of the collectives, times said the way people say them, the menu), and the list
filters. The menu and the names of the kinds come from the kinds' specs
(protocol/kinds): a kind registered there has its entry and its name here.

Times are shown in this machine's local time (the view runs on the collective's own
machine), as dates people read ("12 March 2026, 14:05") and ages ("3 minutes ago").

Why this module is long: besides what every page shares, it writes the rows of a
list's table and of the coming slots (:meth:`View.table_rows`, :meth:`View.slot_rows`),
which the templates drew at about 15 µs a cell, a quarter of a page of shifts; they
need the same view (its words, dates, names and links) as the rest of it.
"""

from __future__ import annotations

import datetime
import functools
import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from babel.dates import format_timedelta
from markupsafe import Markup, escape

from node import peers as peer_list
from node import private
from node.daemon import PeerState
from node.web import details, i18n, svg
from node.web.kinds import KindTexts, kind_name
from node.web.lists import Filters, Page
from node.web.state import STATE, WebState, language
from protocol import hlc
from protocol.kinds import POSTABLE, KindSpec
from protocol.kinds.base import NEWEST, OVERDUE, WEEKDAYS, Field

_KIND = re.compile(r"[a-z][a-z0-9._-]{0,63}\Z")
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")
MAX_PAGE = 1_000_000


# --- what every page shares ------------------------------------------------------------


def local(ts: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hlc.millis(ts) / 1000).astimezone()


class View:
    """One request's view: its language, the node's names, time helpers."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.state: WebState = request.app[STATE]
        self.tr = i18n.Translator(language(request))
        self.now = self.state.node.clock()
        membership = self.state.node.membership()
        self.network = membership.name if membership is not None else None
        self.members = (
            sorted(membership.members.values(), key=lambda m: (m.name.casefold(), m.node_id))
            if membership is not None
            else []
        )
        self.founder = membership.founder if membership is not None else None
        self.names = {m.node_id: m.name for m in self.members}
        self.me = self.state.node.node_id
        if self.me not in self.names:
            self.names[self.me] = self.state.node.home.identity().name
        self.colours = {m.node_id: svg.colour(i) for i, m in enumerate(self.members)}
        self._days: dict[tuple[str, bool], Markup] = {}

    @functools.cached_property
    def today(self) -> str:
        """This machine's date at the request's moment (``now``), YYYY-MM-DD."""
        return datetime.datetime.fromtimestamp(self.now).astimezone().date().isoformat()

    def name(self, node_id: bytes | str | None) -> str:
        if node_id is None:
            return "?"
        raw = bytes.fromhex(node_id) if isinstance(node_id, str) else node_id
        return self.names.get(raw, raw.hex()[:12])

    def when(self, ts: int) -> Markup:
        moment = local(ts)
        text = self.tr.moment(moment)
        if hlc.is_suspect(ts, int(self.now * 1000)):
            text += " (" + self.tr("future time: this author's clock may be wrong") + ")"
        return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), text)

    def day(self, iso: str, *, weekday: bool = False) -> Markup:
        """A date (YYYY-MM-DD) in words; ``weekday``: with its weekday (a shift's slot).
        Each date is written once a page, however many rows show it."""
        key = (iso, weekday)
        shown = self._days.get(key)
        if shown is None:
            try:
                day = datetime.date.fromisoformat(iso)
            except ValueError:
                shown = escape(iso)
            else:
                text = self.tr.full_date(day) if weekday else self.tr.date(day)
                shown = Markup('<time datetime="{}">{}</time>').format(iso, text)
            self._days[key] = shown
        return shown

    def table_rows(
        self,
        spec: KindSpec,
        columns: list[Field],
        rows: list[dict[str, Any]],
        is_private: bool,
        *,
        dates_late: bool,
        tomorrow: str,
    ) -> Markup | None:
        """The rows of a list's table (_items.html ``table``), written here rather than
        by the template (Jinja2 took about 15 µs a cell: 50 shifts of nine cells, a
        quarter of the page), exactly as it writes them; None when a column is shown
        by its type's macro (a list, a history, many lines: _values.html ``shown``),
        which the template then draws. Every value is escaped (:func:`_text`)."""
        first, rest = columns[0], columns[1:]
        plan = []
        for f in rest:
            if f.date:
                how = "date"
                empty = self.tr.kind(spec.name, f.empty) if f.empty else self.tr("no date")
            elif f.choices:
                how = "choice"
                empty = ""
            elif f.append or f.refs or f.many or f.lines or f.multiline:
                return None
            else:
                how = "weekdays" if f.weekdays else "text"
                empty = self.tr.kind(spec.name, f.empty) if f.empty else ""
            plan.append((f.name, how, _text(empty), f'<td dir="{"ltr" if f.ltr else "auto"}">'))
        chosen = [f for f in columns if f.choices]
        tag = f' <span class="tag">{_text(self.tr("private"))}</span>' if is_private else ""
        due_today = _text(self.tr("due today"))
        coming = spec.listing.coming is not None
        out: list[str] = []
        for row in rows:
            out += [
                "    <tr",
                str(self.row_class(chosen, row)),
                '>\n<td><a href="/event/',
                _text(row["id"]),
                '" dir="auto">',
                _text(row[first.name]),
                "</a>",
                tag,
                "</td>\n",
            ]
            for name, how, empty, opening in plan:
                text = row[name]
                if how == "date":
                    if not text:
                        out += ['<td><span class="muted">', empty, "</span></td>\n"]
                        continue
                    out += ["<td>", str(self.day(text)), "\n"]
                    if dates_late and row.get("overdue"):
                        late = self.tr.plural(
                            "overdue by {n} day", "overdue by {n} days", self.late(text)
                        )
                        out += ['<strong class="badge overdue">', _text(late), "</strong>\n"]
                    elif dates_late and spec.listing.is_overdue(row, tomorrow):
                        out += ['<strong class="badge">', due_today, "</strong>"]
                    out.append("</td>\n")
                elif how == "choice":
                    shown = _text(self.tr.kind(spec.name, text)) if text else ""
                    out += ['<td><span class="badge ', _text(name), '">', shown, "</span></td>\n"]
                elif not text:
                    out += ['<td dir="auto">', empty, "</td>\n"]
                elif how == "weekdays":
                    out += [opening, _text(self.weekdays(text)), "</td>\n"]
                else:
                    out += [opening, str(self.link(text)), "</td>\n"]
            if coming:
                after = self.next_start(spec, row)
                out += ["<td>", str(after) if after else '<span class="muted">—</span>', "</td>"]
            out += ['      <td dir="auto">', _text(self.name(row["author"])), "</td>\n    </tr>\n"]
        return Markup("".join(out))  # noqa: S704 - every value in it escaped above

    def slot_rows(self, spec: KindSpec, slots: list[dict[str, Any]]) -> Markup:
        """The rows of the coming slots' table (_slots.html), written here rather than
        by the template: 200 rows of six cells took Jinja2 about 50 µs a row, a third
        of the page. Every value is escaped (:func:`_text`) as the template escaped it.
        ``slots``: rows of ``Slots.rows``."""
        assert spec.slots is not None
        slot_name, title_name = spec.slots.slot.name, spec.fields[0].name
        place = spec.field_named("place")
        nobody = f'<span class="muted">{_text(self.tr("nobody yet"))}</span>'
        enough = _text(self.tr("enough"))
        out = []
        for row in slots:
            short, note, taken = row["short"], row["note"], row["taken_by"]
            out += [
                '    <tr class="short">\n      <td>' if short else "    <tr>\n      <td>",
                str(self.day(row[slot_name], weekday=True)),
                '</td>\n      <td dir="ltr">',
                _text(row["starts_at"][11:16]),
                "–",
                _text(row["ends_at"][11:16]),
                " ",
                _text(row["zone"]),
                f'<br><span class="muted">{_text(note)}</span>' if note else "",
                '</td>\n      <td dir="auto"><a href="/event/',
                _text(row["id"]),
                '" dir="auto">',
                _text(row[title_name]),
                "</a></td>\n",
            ]
            if place is not None:
                value = row[place.name]
                out += ['<td dir="auto">', str(self.link(value)) if value else "", "</td>"]
            out += [
                '      <td dir="auto">',
                _text(", ".join(taken)) if taken else nobody,
                "</td>\n      <td>",
                f"<strong>{_text(self.tr('short of {n}', n=short))}</strong>" if short else enough,
                "</td>\n    </tr>\n",
            ]
        return Markup("".join(out))  # noqa: S704 - every value in it escaped above

    def row_class(self, fields: list[Field], row: dict[str, Any]) -> Markup:
        """The class attribute of a table's row: each field with choices and its value
        (``status-open``), and ``overdue`` when it is; nothing when none."""
        names = [f"{f.name}-{row[f.name]}" for f in fields]
        if row.get("overdue"):
            names.append("overdue")
        # % escapes as format does, at a fraction of Markup.format's cost
        return Markup(' class="%s"') % " ".join(names) if names else Markup("")

    def weekdays(self, text: str) -> str:
        """Weekdays as a field holds them (``mon,thu``: ``Field.weekdays``), in words."""
        days = [WEEKDAYS.index(d) for d in text.split(",") if d in WEEKDAYS]
        return self.tr.weekdays(days)

    def late(self, due: str) -> int:
        """Days a plan due on ``due`` is late by."""
        try:
            return (datetime.date.fromisoformat(self.today) - datetime.date.fromisoformat(due)).days
        except ValueError:
            return 0

    def link(self, text: str) -> Markup:
        """A value as text, or as a link when it is a whole http(s) address."""
        return details.web_link(text)

    def refs(self, kind: str, text: str) -> list[details.Ref]:
        """The items of ``kind`` a list of ids names: their titles, or None if not here."""
        return details.refs(self, kind, text)

    def next_start(self, spec: KindSpec, row: dict[str, Any]) -> Markup | None:
        """When an item next takes place, in its own time zone, or None."""
        return details.next_start(self, spec, row)

    def person(self, line: str) -> str:
        return details.person(self, line)

    def count(self, kind: str, n: int) -> str:
        """How many items of ``kind``, in words: "2 plans"."""
        texts = KindTexts.of(POSTABLE[kind])
        return self.tr.kind_plural(kind, texts.one, texts.many, n)

    def ago(self, seconds_ts: float) -> str:
        return self.tr.ago(self.now - seconds_ts)

    def until(self, seconds_ts: float) -> str:
        """How long from now until a moment (unix seconds), in words: "in 8 seconds",
        "dentro de 2 minutos"; "now" for a moment past."""
        seconds = seconds_ts - self.now
        if seconds < 1:
            return self.tr("now")
        whole = datetime.timedelta(seconds=round(seconds))
        return format_timedelta(whole, threshold=1, add_direction=True, locale=self.tr.locale)

    def moment_iso(self, seconds_ts: float) -> str:
        """A moment (unix seconds) as HTML's <time datetime> takes it, in UTC."""
        moment = datetime.datetime.fromtimestamp(seconds_ts, tz=datetime.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def kind(self, kind: str) -> str:
        return kind_name(self.tr, kind) or kind

    def url(self, path: str | None = None, **changes: object) -> str:
        """This page's address (or ``path``) with its query changed; None removes."""
        query: dict[str, str] = dict(self.request.query)
        for key, value in changes.items():
            if value is None or value == "":
                query.pop(key, None)
            else:
                query[key] = str(value)
        text = urlencode(query)
        return (path or self.request.path) + ("?" + text if text else "")

    def render(self, template: str, *, nav: str, title: str, **values: Any) -> web.Response:
        body = self.page(template, nav=nav, title=title, **values)
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    def page(self, template: str, *, nav: str, title: str, **values: Any) -> bytes:
        """The page ``template`` draws, as UTF-8 (:meth:`render` answers with it)."""
        tr = self.tr
        context: dict[str, Any] = {
            "_": tr,
            "plural": tr.plural,
            "lang": tr.lang,
            "title": title,
            "nav": nav,
            "network": self.network,
            "me": self.name(self.me),
            "languages": [
                (code, label, self.url(lang=code)) for code, label in i18n.LANGUAGES.items()
            ],
            "menu": [
                ("overview", "/", tr("Overview")),
                *(
                    (s.plural, "/" + s.plural, tr.kind(s.name, s.list_label))
                    for s in POSTABLE.values()
                ),
                ("calendar", "/calendar", tr("Calendar")),
                ("events", "/events", tr("All events")),
                ("activity", "/activity", tr("Activity")),
            ],
            "v": self,
            # a large intake stores the log first, its items follow (node/projector.py)
            "behind": self.state.node.projector.behind(),
            **values,
        }
        return self.state.env.get_template(template).render(context).encode()

    # --- lists ------------------------------------------------------------------------

    def filters(
        self, spec: KindSpec | None = None, *, log: bool = False
    ) -> tuple[Filters, list[str]]:
        """The list filters of the query string: those of every list, and those the
        kind's listing offers (its fields' filters, ``overdue``, its orders, dates of a
        date field); a value that is not understood (not one of a field's choices, not
        a date) is left out, with a note saying so for a date."""
        q = self.request.query
        notes: list[str] = []
        by_text = q.get("by", "").strip().lower()
        kind = q.get("kind", "").strip() if log else ""
        offered = spec.listing.filters if spec is not None else ()
        fields = []
        for name in offered:
            f = spec.field_named(name) if spec is not None else None
            value = q.get(name, "").strip()[:200] if f is not None else ""
            if value and (not f or not f.choices or value in f.choices):
                fields.append((name, value))
        sorts = [key for key, _ in spec.listing.sorts] if spec is not None else [NEWEST]
        sort = q.get("sort", "").strip()
        # a list dated by a field (a plan's due date) filters on it; any other, on when
        # it was written
        since = until = None
        dated_from = dated_to = ""
        if spec is not None and spec.listing.dated_by:
            dated_from = self._day(q.get("from", ""), notes)
            dated_to = self._day(q.get("to", ""), notes)
        else:
            since = self._day_bound(q.get("from", ""), notes, end=False)
            until = self._day_bound(q.get("to", ""), notes, end=True)
        return (
            Filters(
                q=q.get("q", "").strip()[:200],
                by=bytes.fromhex(by_text) if _HEX32.match(by_text) else None,
                since=since,
                until=until,
                dated_from=dated_from,
                dated_to=dated_to,
                kind=kind if _KIND.match(kind) else "",
                fields=tuple(fields),
                overdue=OVERDUE in offered and q.get("overdue") == "1",
                sort=sort if sort in sorts else sorts[0],
                page=_page_number(q.get("page", "1")),
            ),
            notes,
        )

    def _day(self, text: str, notes: list[str]) -> str:
        """The day (YYYY-MM-DD) of a date given in a filter, typed as the page's language
        types dates (dd/mm/aaaa on a Spanish page) or as YYYY-MM-DD; or "" (with a note
        if it is not one)."""
        text = text.strip()
        if not text:
            return ""
        day = self.tr.typed_date(text)
        if day is None:
            notes.append(self.tr("{value} is not a date; it was left out.", value=text[:40]))
            return ""
        return day

    def _day_bound(self, text: str, notes: list[str], *, end: bool) -> int | None:
        """The timestamp at the start of a day given in a filter (of the next, for the
        end of a range), in this machine's time zone."""
        iso = self._day(text, notes)
        if not iso:
            return None
        day = datetime.date.fromisoformat(iso)
        if end:
            day += datetime.timedelta(days=1)
        start = datetime.datetime.combine(day, datetime.time.min).astimezone()
        return hlc.pack(int(start.timestamp() * 1000))

    def pager(self, page: Page) -> dict[str, Any]:
        def to(n: int) -> str:
            return self.url(page=None if n == 1 else n)

        return {
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
            "first": to(1) if page.page > 1 else None,
            "prev": to(page.page - 1) if page.page > 1 else None,
            "next": to(page.page + 1) if page.page < page.pages else None,
            "last": to(page.pages) if page.page < page.pages else None,
        }

    def collectives(self) -> list[tuple[str, str]]:
        return [(m.node_id.hex(), m.name) for m in self.members]

    def private_items(self, kind: str) -> list[dict[str, Any]] | None:
        """The private items of ``kind`` this node can open, newest first; None without
        the keys. Opened in memory, kept in memory until the log changes."""
        state = self.state
        if state.keys is None:
            return None
        mark = state.data.mark()
        cached = state.private.get(kind)
        if cached is None or cached[0] != mark:
            rows = private.items(state.node, state.keys, kind)
            rows.sort(key=lambda r: (r["ts"], r["id"]), reverse=True)
            cached = (mark, rows)
            state.private[kind] = cached
        return cached[1]


def _text(value: object) -> str:
    """A value as text in HTML, escaped as Jinja2 escapes it (markupsafe), as a plain
    string to join with others."""
    return str(escape(value))


def _page_number(text: str) -> int:
    try:
        return min(MAX_PAGE, max(1, int(text)))
    except ValueError:
        return 1


def peer_ids(v: View) -> dict[str, bytes]:
    """url -> node id, for the peers whose node this node knows."""
    return {p.url: p.node_id for p in peer_list.known_peers(v.state.node) if p.node_id}


def peer_node(peer: PeerState, known: dict[str, bytes]) -> bytes | None:
    """The node a peer is: as its last sync said, or as the address book says."""
    node_id = peer.last.node_id if peer.last is not None else None
    return node_id if node_id is not None else known.get(peer.url)
