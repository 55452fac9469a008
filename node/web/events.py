"""The log: every event, and one event in detail (its signature checked again)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node import private
from node.web import details
from node.web.view import View, local
from protocol import sealed
from protocol.envelope import SEALED, Event
from protocol.errors import InvalidEvent
from protocol.kinds import EDITS, KNOWN, POSTABLE, KindSpec, redact
from protocol.kinds.base import Field
from protocol.projections import read_payload
from protocol.validate import check_event

# --- events --------------------------------------------------------------------------------


def summary(v: View, event: Event) -> str:
    """One line saying what an event holds, as far as anyone can read it."""
    if event.body is None:
        return v.tr("erased")
    if event.kind == SEALED:
        try:
            n = sealed.recipients_count(event.body)
        except sealed.BadSealed:
            return v.tr("private")
        return v.tr.plural("{n} collective (private)", "{n} collectives (private)", n)
    payload = read_payload(event)
    if payload is None:
        return ""
    for key in ("title", "name"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    if event.kind == redact.KIND:
        target = redact.target(payload)
        return target.hex()[:12] if target else ""
    texts = [f"{k}: {val}" for k, val in sorted(payload.items()) if isinstance(val, str)]
    return ", ".join(texts)[:200]


async def events(request: web.Request) -> web.Response:
    v = View(request)
    filters, notes = v.filters(log=True)
    page = v.state.data.events_page(filters)
    projector = v.state.node.projector
    rows = [
        {
            "id": e.id.hex(),
            "author": v.name(e.author),
            "seq": e.seq,
            "ts": e.ts,
            "kind": v.kind(e.kind),
            "summary": summary(v, e),
            "counts": projector.counts(e.author, e.seq),
            "erased": e.body is None,
        }
        for e in page.rows
    ]
    kinds = sorted(v.state.data.kinds())
    return v.render(
        "events.html",
        nav="events",
        title=v.tr("All events"),
        rows=rows,
        page=page,
        pager=v.pager(page),
        filters=filters,
        notes=notes,
        query=request.query,
        collectives=v.collectives(),
        kinds=[(k, v.kind(k)) for k in kinds],
    )


def _fields(payload: dict[str, Any] | None, kind: str) -> list[tuple[str, Field | None, str]]:
    """A payload's fields as (name, its field of the kind or None, text), for showing: a
    known kind's (or the kind an edit changes) in its order."""
    if payload is None:
        return []
    spec = POSTABLE.get(kind)
    if spec is None and kind in EDITS:
        spec = POSTABLE.get(EDITS[kind].target)
    known = {f.name: f for f in (*spec.fields, *spec.occurrence_fields)} if spec else {}
    order = {name: i for i, name in enumerate(known)}
    out = []
    for key, value in sorted(payload.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])):
        if key == "v":
            continue
        if isinstance(value, bytes):
            text = value.hex()
        elif isinstance(value, list):
            text = ", ".join(str(x) for x in value)
        else:
            text = str(value)
        f = known.get(key)
        out.append((key, f if f is not None and isinstance(value, str) else None, text))
    return out


def _redaction_of(v: View, event_id: bytes) -> Event | None:
    for candidate in v.state.node.store.events_of_kinds([redact.KIND]):
        if redact.target(read_payload(candidate)) == event_id and v.state.node.projector.counts(
            candidate.author, candidate.seq
        ):
            return candidate
    return None


async def event(request: web.Request) -> web.Response:
    v = View(request)
    event_id = bytes.fromhex(request.match_info["id"])
    data = v.state.data
    found, is_fork = data.event(event_id)
    if found is None:
        raise web.HTTPNotFound()
    node = v.state.node
    try:
        check_event(found.raw)
        signature = (True, v.tr("verified: {name} wrote exactly this", name=v.name(found.author)))
    except InvalidEvent as e:
        signature = (False, v.tr("NOT valid: {reason}", reason=e.message))
    prev_id = data.id_at(found.author, found.seq - 1) if found.seq > 1 else None
    next_id = data.id_at(found.author, found.seq + 1)
    erased = found.body is None or found.id in node.projector.redacted()
    redaction = _redaction_of(v, found.id) if erased else None
    content: list[tuple[str, Field | None, str]] = []
    content_kind = found.kind
    recipients: str = v.tr("everyone in the network")
    readers: list[str] = []
    sealed_closed = False
    if found.kind == SEALED:
        recipients, readers, opened = _sealed(v, found)
        if opened is not None:
            content_kind = opened.kind
            content = _fields(opened.payload, opened.kind)
        else:
            sealed_closed = found.body is not None
    else:
        content = _fields(read_payload(found), found.kind)
    item = None
    if not erased and (found.kind in POSTABLE or (found.kind == SEALED and content)):
        item = details.item_now(v, content_kind, found.id)
    written = {name: text for name, f, text in content if f is not None}
    target = None
    if found.kind in EDITS or found.kind == redact.KIND:
        payload = read_payload(found)
        raw_target = payload.get("of") if payload else None
        target = raw_target.hex() if isinstance(raw_target, bytes) else None
    return v.render(
        "event.html",
        nav="events",
        title=v.tr("Event"),
        e=found,
        id=found.id.hex(),
        author=v.name(found.author),
        author_id=found.author.hex(),
        kind=v.kind(found.kind),
        known=found.kind in KNOWN,
        content_kind=v.kind(content_kind),
        spec=_spec_of(content_kind),
        is_fork=is_fork,
        counts=node.projector.counts(found.author, found.seq),
        feed_length=data.heads().get(found.author, (0, 0))[0],
        prev_id=prev_id.hex() if prev_id else None,
        next_id=next_id.hex() if next_id and next_id != found.id else None,
        signature=signature,
        erased=erased,
        redaction=redaction,
        redaction_text=_redaction_text(v, redaction),
        recipients=recipients,
        readers=readers,
        sealed_closed=sealed_closed,
        content=content,
        item=item,
        item_changed=item is not None and not item.same_as(written),
        target=target,
    )


def _spec_of(kind: str) -> KindSpec | None:
    """The spec whose fields an event of ``kind`` holds: its own, or the item's it edits."""
    edit = EDITS.get(kind)
    return POSTABLE.get(edit.target if edit is not None else kind)


def _redaction_text(v: View, redaction: Event | None) -> str:
    if redaction is None:
        return v.tr(
            "its contents were erased for good; the envelope stays, so every signature still checks"
        )
    return v.tr(
        "its contents were erased for good by {name} ({when}); the envelope stays, so every "
        "signature still checks",
        name=v.name(redaction.author),
        when=v.tr.moment(local(redaction.ts)),
    )


def _sealed(v: View, found: Event) -> tuple[str, list[str], sealed.Opened | None]:
    """Who a sealed event is addressed to (the count anyone can read; the names, when
    this node can open it), and its content opened in memory."""
    if found.body is None:
        return v.tr("private"), [], None
    try:
        count = sealed.recipients_count(found.body)
    except sealed.BadSealed:
        return v.tr("private"), [], None
    text = v.tr.plural("{n} collective (private)", "{n} collectives (private)", count)
    keys = v.state.keys
    opened = private.open_one(found, keys) if keys is not None else None
    if opened is None:
        return text, [], None
    return text, [v.name(r) for r in opened.recipients], opened
