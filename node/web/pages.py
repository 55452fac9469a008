"""The overview, and the list of each kind's items (``/reports``, ``/plans``,
``/contacts``, ...), built from the kind's spec (protocol/kinds): its layout, columns,
filters and orders.

A public kind's list is read from the store a page at a time, with the private items
of that kind this node can open shown above it on the first page. A private kind's
list (contacts) holds only the items this node can open, opened in memory with its
keys and never written to disk; without the keys the page says so and shows nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node import failures, records
from node.daemon import PeerState
from node.search import fold
from node.web.kinds import KindTexts, any_of
from node.web.lists import PAGE_SIZE, Filters, filter_rows, page_of
from node.web.view import View, peer_ids, peer_node
from protocol.kinds import POSTABLE, KindSpec
from protocol.kinds.base import OVERDUE

# --- overview -----------------------------------------------------------------------------


def _member_state(v: View, m: Any) -> str:
    if m.forked_at is not None:
        return v.tr(
            "this collective's feed split in two (fork) at event {n}: its later events are ignored",
            n=m.forked_at,
        )
    if m.cutoff is not None:
        return v.tr(
            "removed from the network after its event {n}: its later events are ignored",
            n=m.cutoff,
        )
    return v.tr("admin") if m.is_admin else v.tr("member")


def peer_problem(v: View, record: dict[str, Any]) -> str:
    """A failing peer in plain words: the sentence of its last failure (node/failures.py,
    as ``sync`` and ``status`` say it) and its failures in a row."""
    cause = str(record.get("cause") or "")
    if cause in failures.SENTENCES:
        sentence = v.tr(failures.SENTENCES[cause])
    else:  # said in words by this node already (in English), or by an older version
        sentence = failures.sentence_of(cause, str(record.get("detail") or ""))
    tries = v.tr.plural("{n} try in a row", "{n} tries in a row", int(record["failures"]))
    return f"{sentence} ({tries})"


def _peer_trouble(v: View, node_id: bytes | None, peer: PeerState, record: dict[str, Any]) -> str:
    """What is wrong with a peer, in plain words, or "": its sync fails, or its
    collective's feed forked, or it was removed from the network."""
    if record["failures"]:
        return peer_problem(v, record)
    member = next((m for m in v.members if m.node_id == node_id), None)
    if member is not None and (member.forked_at is not None or member.cutoff is not None):
        return _member_state(v, member)
    if peer.last is not None and peer.last.forks:
        return v.tr("the last sync found a feed split in two (fork); see the collectives above")
    return ""


def _peers(v: View) -> list[dict[str, Any]] | None:
    state = v.state
    if state.daemon is None:
        return None
    known = peer_ids(v)
    last_row = state.data.mark()[0]
    kept = records.sync_records(state.data.store)
    rows = []
    for url, peer in sorted(state.daemon.peers.items()):
        node_id = peer_node(peer, known)
        record = records.shown_backoff(kept.get(url), peer)
        next_try = record["next_try"] if record["failures"] else None
        behind = None
        if peer.last_ok is not None:
            seen_ok, row = state.peer_marks.get(url, (None, last_row))
            behind = last_row - row if seen_ok == peer.last_ok else 0
        rows.append(
            {
                "url": url,
                "name": v.name(node_id) if node_id is not None else url,
                "node_id": node_id,
                "last_ok": peer.last_ok,
                "ago": v.ago(peer.last_ok) if peer.last_ok is not None else None,
                "behind": behind,
                "sent": peer.last.sent if peer.last is not None else None,
                "received": peer.last.received if peer.last is not None else None,
                "problem": _peer_trouble(v, node_id, peer, record),
                "failures": record["failures"],
                "next_try": None if next_try is None else v.moment_iso(next_try),
                "next_try_words": None if next_try is None else v.until(next_try),
            }
        )
    # Members that call this node (it need not know their addresses).
    listed = {r["node_id"] for r in rows}
    for node_id, when in sorted(state.daemon.server.callers.items()):
        if node_id in listed:
            continue
        rows.append(
            {
                "url": v.tr("calls this node"),
                "name": v.name(node_id),
                "node_id": node_id,
                "last_ok": when,
                "ago": v.ago(when),
                "behind": None,
                "sent": None,
                "received": None,
                "problem": "",
                "failures": 0,
                "next_try": None,
                "next_try_words": None,
            }
        )
    return rows


async def overview(request: web.Request) -> web.Response:
    v = View(request)
    data = v.state.data
    heads = data.heads()
    members = []
    problems: list[str] = []
    for m in v.members:
        seq, ts = heads.get(m.node_id, (0, 0))
        members.append(
            {
                "id": m.node_id.hex(),
                "name": m.name,
                "state": _member_state(v, m),
                "bad": m.forked_at is not None or m.cutoff is not None,
                "founder": m.node_id == v.founder,
                "me": m.node_id == v.me,
                "events": seq,
                "last": ts or None,
            }
        )
        if m.forked_at is not None:
            problems.append(v.tr("{name}: {problem}", name=m.name, problem=_member_state(v, m)))
    peers = _peers(v)
    for peer in peers or []:
        if peer["problem"]:
            problems.append(v.tr("{name}: {problem}", name=peer["name"], problem=peer["problem"]))
    names = {m.node_id: m.name for m in v.members}
    for author, (count, _) in sorted(v.state.node.held_back().items()):
        problems.append(
            v.tr.plural(
                "{name}: {n} event held back, over the network's daily budget.",
                "{name}: {n} events held back, over the network's daily budget.",
                count,
                name=names.get(author, author.hex()[:12]),
            )
        )
    held = data.held()
    if held:
        problems.append(
            v.tr.plural(
                "{n} event waits for earlier ones that have not arrived yet.",
                "{n} events wait for earlier ones that have not arrived yet.",
                held,
            )
        )
    unknown = data.unknown(v.state.node.projector.counts)
    if unknown:
        problems.append(
            v.tr.plural(
                "{n} event is of a kind this version cannot show; it is kept and passed on.",
                "{n} events are of a kind this version cannot show; they are kept and passed on.",
                unknown,
            )
        )
    return v.render(
        "overview.html",
        nav="overview",
        title=v.tr("Overview"),
        live="peers",
        members=members,
        peers=peers,
        problems=problems,
        numbers=_numbers(v),
        events=data.count_events(),
    )


def _numbers(v: View) -> list[dict[str, Any]]:
    """How many items of each kind, for the overview: a public kind's visible items and
    the private ones this node can open, a private kind's that this node can open (none
    shown without the keys)."""
    data = v.state.data
    out = []
    for spec in POSTABLE.values():
        # as the kind's list counts them: the public ones and the private ones this
        # node can open (a private kind: those alone, and none without the keys)
        opened = v.private_items(spec.name)
        if spec.private and opened is None:
            continue
        count = len(opened or []) + (0 if spec.private else data.count_items(spec.name))
        texts = KindTexts.of(spec)
        overdue = 0
        if texts.overdue_many:
            overdue = data.count_overdue(spec, v.today) + sum(
                1 for r in opened or [] if spec.listing.is_overdue(r, v.today)
            )
        out.append(
            {
                "href": "/" + spec.plural,
                "count_text": v.tr.kind_plural(spec.name, texts.one, texts.many, count),
                "overdue": overdue,
                "overdue_text": v.tr.kind_plural(
                    spec.name, texts.overdue_one, texts.overdue_many, overdue
                )
                if overdue
                else "",
            }
        )
    return out


# --- the list of each kind -----------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.Response]]


def list_page(spec: KindSpec) -> Handler:
    """The handler of ``/<plural>``: the list of ``spec``'s items."""

    async def handler(request: web.Request) -> web.Response:
        return _items(request, spec)

    handler.__name__ = spec.plural
    return handler


def _items(request: web.Request, spec: KindSpec) -> web.Response:
    v = View(request)
    filters, notes = v.filters(spec)
    listing = spec.listing
    dates_late = OVERDUE in listing.filters
    opened = v.private_items(spec.name)
    page = shown = None
    pager = None
    if spec.private:
        if opened is not None:
            rows = [r for r in filter_rows(opened, filters) if _matches(r, spec, filters, v.today)]
            page = page_of(rows, filters.page)
            pager = v.pager(page)
    else:
        page = v.state.data.items_page(spec, filters, v.today)
        pager = v.pager(page)
        if opened:
            # the private items of a public kind that match are shown above the first
            # page, and counted with the public ones: the count is of every card the
            # filters let through (filtered first, then cut to a page, so none is missed)
            matching = [
                r for r in filter_rows(opened, filters) if _matches(r, spec, filters, v.today)
            ]
            pager["total"] += len(matching)
            if filters.page == 1 and matching:
                shown = [dict(r) for r in matching[:PAGE_SIZE]]
                for row in shown if dates_late else []:
                    row["overdue"] = listing.is_overdue(row, v.today)
    texts = KindTexts.of(spec)
    return v.render(
        "items.html",
        nav=spec.plural,
        title=v.tr.kind(spec.name, spec.list_label),
        spec=spec,
        action="/" + spec.plural,
        columns=[spec.field_named(name) for name in listing.columns],
        offered=[(name, spec.field_named(name), _any(v, spec, name)) for name in listing.filters],
        from_label=v.tr.kind(spec.name, texts.date_from),
        to_label=v.tr.kind(spec.name, texts.date_to),
        locked=spec.private and opened is None,
        locked_note=v.tr.kind(spec.name, texts.locked) if texts.locked else "",
        private_note=v.tr.kind(spec.name, texts.opened) if texts.opened else "",
        page=page,
        pager=pager,
        private=shown,
        filters=filters,
        notes=notes,
        query=request.query,
        collectives=v.collectives(),
        sorts=[(key, v.tr.kind(spec.name, label)) for key, label in listing.sorts],
        today=v.today,
        tomorrow=_next_day(v.today),
        dates_late=dates_late,
        overdue_on=listing.is_overdue,
        slots=_slots(v, spec, opened),
    )


#: a kind with slots: its list shows the slots of the coming weeks of at most this many
#: of its items (the last written), at most this many slots
SLOT_WEEKS = 4
SLOT_ITEMS = 500
SLOT_ROWS = 200


def _slots(v: View, spec: KindSpec, opened: list[dict[str, Any]] | None) -> list[Any] | None:
    """A kind with slots (shifts): its slots from today for :data:`SLOT_WEEKS` weeks,
    soonest first, with who is on each (protocol/kinds/base.py ``Slots.rows``)."""
    if spec.slots is None:
        return None
    items = [*(opened or []), *v.state.data.latest_items(spec.name, SLOT_ITEMS)]
    first = datetime.date.fromisoformat(v.today)
    last = first + datetime.timedelta(weeks=SLOT_WEEKS, days=-1)
    return spec.slots.rows(items, first, last)[:SLOT_ROWS]


def _matches(row: dict[str, Any], spec: KindSpec, filters: Filters, today: str) -> bool:
    """The filters of a kind's listing, over a private item opened in memory (the store
    applies them to public items, node/web/data.py)."""
    for name, value in filters.fields:
        f = spec.field_named(name)
        if f is None or not value:
            continue
        held = str(row.get(name) or "")
        if f.many:  # one of its words: a tag, whole
            if fold(value) not in fold(held).split():
                return False
        elif (held != value) if f.choices else (fold(value) not in fold(held)):
            return False
    listing = spec.listing
    if listing.dated_by:
        day = str(row.get(listing.dated_by) or "")
        if filters.dated_from and day < filters.dated_from:
            return False
        if filters.dated_to and not ("0" <= day <= filters.dated_to):
            return False
    return not filters.overdue or listing.is_overdue(row, today)


def _any(v: View, spec: KindSpec, name: str) -> str:
    """The first choice of the filter by a field with choices ("Any status"), or ""."""
    f = spec.field_named(name)
    return v.tr.kind(spec.name, any_of(name)) if f is not None and f.choices else ""


def _next_day(today: str) -> str:
    return (datetime.date.fromisoformat(today) + datetime.timedelta(days=1)).isoformat()
