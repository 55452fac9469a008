"""Activity: events per week per collective, and the peer graph, drawn as SVG."""

from __future__ import annotations

import datetime

from aiohttp import web

from node.web import svg
from node.web.lists import week_of
from node.web.view import View, peer_ids, peer_node

WEEKS = 26

# --- activity ------------------------------------------------------------------------------


async def activity(request: web.Request) -> web.Response:
    v = View(request)
    this_week = week_of(int(v.now * 1000))
    first = this_week - WEEKS + 1
    counts = v.state.data.weekly(first)
    authors = sorted({a for a, _ in counts}, key=lambda a: (v.name(a).casefold(), a))
    series = [
        svg.Series(
            v.name(a),
            v.colours.get(a, svg.colour(len(v.members) + i)),
            tuple(counts.get((a, w), 0) for w in range(first, this_week + 1)),
        )
        for i, a in enumerate(authors)
    ]
    week_days = [
        datetime.date(1970, 1, 1) + datetime.timedelta(days=(w * 7 - 3))
        for w in range(first, this_week + 1)
    ]
    labels = [v.tr.short_date(d) for d in week_days]
    title = v.tr("Events per week, by collective, over the last {n} weeks.", n=WEEKS)
    chart = svg.weekly_chart(series, labels, title, v.tr.number)
    table = [
        (week_days[i], [s.counts[i] for s in series], sum(s.counts[i] for s in series))
        for i in range(len(week_days))
        if any(s.counts[i] for s in series)
    ]
    links, linked = _links(v)
    others = [m.name for m in v.members if m.node_id != v.me and m.node_id not in linked]
    graph_title = v.tr("Who this node syncs with")
    graph = svg.peer_graph(v.name(v.me), links, others, graph_title)
    return v.render(
        "activity.html",
        nav="activity",
        title=v.tr("Activity"),
        live="peers",
        chart=chart,
        series=series,
        table=table,
        graph=graph,
        links=links,
        running=v.state.daemon is not None,
        legend=[
            (svg.FRESH, v.tr("less than an hour")),
            (svg.STALE, v.tr("less than a day")),
            (svg.OLD, v.tr("older, or never")),
        ],
        weeks=WEEKS,
    )


def _links(v: View) -> tuple[list[svg.Link], set[bytes]]:
    daemon = v.state.daemon
    if daemon is None:
        return [], set()
    known = peer_ids(v)
    links = []
    linked: set[bytes] = set()
    for url, peer in sorted(daemon.peers.items()):
        node_id = peer_node(peer, known)
        if node_id is not None:
            linked.add(node_id)
        age = v.now - peer.last_ok if peer.last_ok is not None else None
        label = v.tr.ago(age) if age is not None else v.tr("never")
        links.append(svg.Link(v.name(node_id) if node_id else url, age, label))
    for node_id, when in sorted(daemon.server.callers.items()):  # members that call here
        if node_id not in linked:
            linked.add(node_id)
            age = v.now - when
            links.append(svg.Link(v.name(node_id), age, v.tr.ago(age)))
    return links, linked
