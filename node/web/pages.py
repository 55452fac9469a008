"""The overview, and the lists of reports, plans and contacts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.daemon import PeerState
from node.web.data import PAGE_SIZE, Filters, filter_rows, is_overdue, page_of
from node.web.view import View, peer_ids, peer_node
from protocol.kinds.plan import STATUSES

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


_REFUSED = ("SSL", "ertificate", "refused the sync", "refused what we sent", "answered", "broke")
_UNREACHABLE = ("Cannot connect", "Connect call failed", "took longer", "Timeout", "Disconnected")


def peer_problem(v: View, error: str, failures: int) -> str:
    """A failed sync in plain words: could not reach it, or it refused."""
    refused = any(s in error for s in _REFUSED) or not any(s in error for s in _UNREACHABLE)
    if refused:
        return v.tr.plural(
            "it refused the sync ({n} try in a row)",
            "it refused the sync ({n} tries in a row)",
            failures,
        )
    return v.tr.plural(
        "could not reach it ({n} try in a row)",
        "could not reach it ({n} tries in a row)",
        failures,
    )


def _peer_trouble(v: View, node_id: bytes | None, peer: PeerState) -> str:
    """What is wrong with a peer, in plain words, or "": its sync fails, or its
    collective's feed forked, or it was removed from the network."""
    if peer.failures:
        return peer_problem(v, peer.last_error, peer.failures)
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
    rows = []
    for url, peer in sorted(state.daemon.peers.items()):
        node_id = peer_node(peer, known)
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
                "problem": _peer_trouble(v, node_id, peer),
                "error": peer.last_error,
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
                "error": "",
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
    contacts = v.private_items("contact")
    counts = {
        "reports": data.count_items("report"),
        "plans": data.count_items("plan"),
        "overdue": data.count_overdue(v.today),
        "contacts": None if contacts is None else len(contacts),
        "events": data.count_events(),
    }
    return v.render(
        "overview.html",
        nav="overview",
        title=v.tr("Overview"),
        live="peers",
        members=members,
        peers=peers,
        problems=problems,
        counts=counts,
    )


# --- reports, plans, contacts ----------------------------------------------------------------


async def reports(request: web.Request) -> web.Response:
    return _items(request, "report", "reports.html", "Reports")


async def plans(request: web.Request) -> web.Response:
    return _items(request, "plan", "plans.html", "Plans")


def _items(request: web.Request, kind: str, template: str, title: str) -> web.Response:
    v = View(request)
    filters, notes = v.filters(plans=kind == "plan")
    page = v.state.data.items_page(kind, filters, v.today)
    opened = v.private_items(kind)
    shown = None
    if opened and filters.page == 1:
        shown = filter_rows(opened, filters)[:PAGE_SIZE]
        if kind == "plan":
            shown = [r for r in shown if _plan_matches(r, filters, v.today)]
            for row in shown:
                row["overdue"] = is_overdue(row, v.today)
    return v.render(
        template,
        nav=kind + "s",
        title=v.tr(title),
        page=page,
        pager=v.pager(page),
        private=shown,
        filters=filters,
        notes=notes,
        query=request.query,
        collectives=v.collectives(),
        statuses=STATUSES,
        sorts=[
            ("due", v.tr("due date")),
            ("status", v.tr("status")),
            ("owner", v.tr("owner")),
            ("newest", v.tr("newest")),
        ],
        today=v.today,
    )


def _plan_matches(row: dict[str, Any], filters: Filters, today: str) -> bool:
    if filters.status and row.get("status") != filters.status:
        return False
    if filters.owner and filters.owner.casefold() not in str(row.get("owner", "")).casefold():
        return False
    due = str(row.get("due") or "")
    if filters.due_from and due < filters.due_from:
        return False
    if filters.due_to and not ("0" <= due <= filters.due_to):
        return False
    return not filters.overdue or is_overdue(row, today)


async def contacts(request: web.Request) -> web.Response:
    v = View(request)
    filters, notes = v.filters()
    opened = v.private_items("contact")
    page = page_of(filter_rows(opened, filters), filters.page) if opened is not None else None
    return v.render(
        "contacts.html",
        nav="contacts",
        title=v.tr("Contacts"),
        locked=opened is None,
        page=page,
        pager=v.pager(page) if page is not None else None,
        filters=filters,
        notes=notes,
        query=request.query,
        collectives=v.collectives(),
    )
