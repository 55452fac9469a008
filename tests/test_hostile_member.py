"""The log's rules against a member that lies (issue 13): a clock set ahead does not win
over a causally later edit (docs/PROTOCOL.md §5.3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from node.service import Node
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, commune_async, make_network
from tests.web_owner import owner_session


def test_an_edit_dated_ahead_loses_to_an_edit_made_after_it(tmp_path: Path) -> None:
    """§5.3: SV's clock is 47 hours ahead; its edit is taken in (dated tomorrow, §4.6)
    but suspect, so LA's clock does not follow it; LA's edit, made after it was seen,
    wins anyway, on every node whatever the order, and LA's clock stays its own."""
    from protocol import encoding  # noqa: PLC0415
    from protocol.projections import read_payload  # noqa: PLC0415

    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    day = (int(time.time()) // 86400 + 1) * 86400.0  # a day's start: the test's "now"
    try:
        at_la = Node(la.home, la.node.store, clock=lambda: day + 1800)
        plan = at_la.post(la.keys, [("plan", POSTABLE["plan"].build({"title": "Carta"}))])[0]
        for m in (sv, india):
            m.node.ingest([e.raw for e in la.node.store.events()])
        ahead = Node(sv.home, sv.node.store, clock=lambda: day + 1800 + 47 * 3600)
        future = ahead.post(
            sv.keys, [("plan.update", {"v": 1, "of": plan.id, "status": "dropped"})]
        )[0]
        assert at_la.ingest([future.raw]).new == 1
        assert la.node.projector.rows("plan")[0]["status"] == "dropped"
        after = at_la.projector.item_latest("plan", plan.id)
        assert after == future.ts
        mine = at_la.post(
            la.keys, [("plan.update", {"v": 1, "of": plan.id, "after": after, "status": "done"})]
        )[0]
        assert mine.ts < future.ts  # LA's clock was not dragged ahead
        for m in (sv, india):  # in either order
            m.node.ingest([mine.raw] if m is india else [future.raw, mine.raw])
        india.node.ingest([future.raw])
        for m in (la, sv, india):
            assert m.node.projector.rows("plan")[0]["status"] == "done"
        assert la.state() == sv.state() == india.state()
        assert read_payload(mine) == encoding.decode(mine.body or b"")
    finally:
        close_all(members)


async def test_an_edit_from_the_command_line_names_what_it_had_seen(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        plan = la.node.post(la.keys, [("plan", POSTABLE["plan"].build({"title": "Carta"}))])[0]
        sv.node.ingest([e.raw for e in la.node.store.events()])
        ahead = Node(sv.home, sv.node.store, clock=lambda: time.time() + 3600)
        future = ahead.post(
            sv.keys, [("plan.update", {"v": 1, "of": plan.id, "status": "dropped"})]
        )[0]
        la.node.ingest([future.raw])
        la.node.close()
        code, out, err = await commune_async(
            la.home.path, "post", "plan", "--edit", plan.id.hex(), "--status", "done"
        )
        assert code == 0, err
        la.node = Node.open(la.home)
        edit = la.node.store.get(bytes.fromhex(out.strip()))
        assert edit is not None
        from protocol.projections import read_payload  # noqa: PLC0415

        payload = read_payload(edit)
        assert payload is not None
        assert payload["after"] == future.ts
        code, out, _ = await commune_async(la.home.path, "show", "plans", "--json")
        assert json.loads(out)[0]["status"] == "done"
    finally:
        close_all(members)


ESCAPES = ["\x1b]0;pwned\x07", "\x1b[2J", "\u202egnp.exe", "a\u2028b", "\x9b31m"]


def test_text_a_post_would_refuse_is_refused_from_a_peer_on_every_node(tmp_path: Path) -> None:
    """§3.8: an event of a known kind whose text holds a terminal escape or a bidi
    override is refused on ingest, as the command line refuses it when posting."""
    from protocol import encoding  # noqa: PLC0415
    from protocol.envelope import create_event  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        head = sv.node.store.head(sv.keys.node_id)
        seq, prev, ts = (head.seq, head.id, head.ts) if head else (0, None, 1 << 20)
        for i, bad in enumerate(ESCAPES):
            for kind, payload in (
                ("report", {"v": 1, "title": f"t{i}{bad}", "body": "ok"}),
                ("plan", {"v": 1, "title": "ok", "owner": bad}),
                ("plan.update", {"v": 1, "of": bytes(32), "status": "open", "owner": bad}),
            ):
                event = create_event(
                    sv.keys.signing,
                    network=sv.node.network,
                    seq=seq + 1,
                    prev=prev,
                    ts=ts + 1,
                    kind=kind,
                    body=encoding.encode(payload),
                )
                result = la.node.ingest([event.raw])
                assert result.refused["bad-text"] == 1, (kind, bad)
        # a multi-line field keeps its line breaks and tabs, as a post does
        fine = create_event(
            sv.keys.signing,
            network=sv.node.network,
            seq=seq + 1,
            prev=prev,
            ts=ts + 1,
            kind="report",
            body=encoding.encode({"v": 1, "title": "ok", "body": "una\n\tdos"}),
        )
        assert la.node.ingest([fine.raw]).refused_total == 0
    finally:
        close_all(members)


async def test_what_a_peer_says_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """A hostile member's refusal text, shown by `sync` and then by `status`, and an
    unknown kind's fields: every escape shows as \\uXXXX, never raw."""
    from aiohttp import web  # noqa: PLC0415

    from node import peers as peer_list  # noqa: PLC0415
    from node import sync  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])

    class Hostile(sync.Server):
        async def handle_sync(self, request: web.Request) -> web.StreamResponse:
            raise web.HTTPForbidden(text="".join(ESCAPES))

    server = Hostile(sync.Sync(sv.node, sv.keys))
    runner, listener = await sync.start_server(server, "127.0.0.1", 0)
    url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        peer_list.add_manual(la.node, url)
        la.node.close()
        for args in (
            ("sync",),
            ("sync", "--verbose"),
            ("status",),
            ("status", "--verbose"),
            ("status", "--json"),
            ("peer", "list"),
        ):
            _, out, err = await commune_async(la.home.path, *args)
            for bad in ESCAPES:
                assert bad not in out + err, (args, bad)
        # its words are the detail of the failure: shown with --verbose, escaped
        _, out, err = await commune_async(la.home.path, "status", "--verbose")
        assert "\\u001b]0;pwned" in out + err
    finally:
        await sync.stop_server(runner, listener)
        close_all(members)


async def test_the_copy_whose_feed_forked_is_told_why_and_what_to_do(tmp_path: Path) -> None:
    import shutil  # noqa: PLC0415

    from node import daemon  # noqa: PLC0415
    from node import peers as peer_list  # noqa: PLC0415
    from node.home import Home  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        sv.post("antes")
        la.node.ingest([e.raw for e in sv.node.store.events()])
        sv.node.close()
        twin_home = tmp_path / "sv-twin"
        shutil.copytree(sv.home.path, twin_home)  # a copy of SV's folder, run elsewhere
        sv.node = Node.open(sv.home)
        sv.post("una")
        twin = Node.open(Home(twin_home))
        twin.accept_feed_at_store()  # a copy that writes past the guard
        twin.post(sv.keys, [("report", POSTABLE["report"].build({"title": "otra"}))])
        la.node.ingest([e.raw for e in sv.node.store.events()])
        la.node.ingest([e.raw for e in twin.store.events()])
        assert sv.keys.node_id in la.node.store.fork_seqs()  # LA holds the evidence
        await la.start()
        # The copy calls LA: refused, and told why in words, with the evidence
        peer_list.add_manual(twin, la.url)
        results = await daemon.sync_once(twin, sv.keys)
        assert results[0][1] is None
        assert "feed forked" in str(results[0][2])
        assert "Stop every copy but one" in str(results[0][2])
        assert sv.keys.node_id in twin.store.fork_seqs()  # it holds the evidence now
        twin.close()
        code, out, _ = await commune_async(twin_home, "status")
        assert "THIS NODE'S FEED FORKED" in out
        code, out, _ = await commune_async(twin_home, "doctor", "--timeout", "5")
        assert code != 0
        assert "own feed split in two" in out
        assert "no fork evidence" not in out
    finally:
        await la.stop()
        close_all(members)


def _two_branches(tmp_path: Path, before: int, a: int, b: int) -> list[Member]:
    """A network where SV's folder was copied after ``before`` events of its own, then
    SV wrote ``a`` more and the copy ``b`` more: two branches of one feed. LA holds
    SV's branch, Mumbai the copy's; neither has seen the other."""
    import shutil  # noqa: PLC0415

    from node.home import Home  # noqa: PLC0415

    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    for i in range(before):
        sv.post(f"shared {i}")
    sv.node.close()
    shutil.copytree(sv.home.path, tmp_path / "twin")
    sv.node = Node.open(sv.home)
    twin = Node.open(Home(tmp_path / "twin"))
    twin.accept_feed_at_store()
    for i in range(a):
        sv.post(f"branch a {i}")
    for i in range(b):
        twin.post(sv.keys, [("report", POSTABLE["report"].build({"title": f"branch b {i}"}))])
    la.node.ingest([e.raw for e in sv.node.store.events()])
    india.node.ingest([e.raw for e in twin.store.events()])
    twin.close()
    return members


async def _one_round(client: Member, server: Member) -> None:
    from node import sync  # noqa: PLC0415

    await server.start()
    try:
        service = sync.Sync(client.node, client.keys)
        async with sync.client_session(service) as session:
            await sync.sync_with(service, session, server.url)
    finally:
        await server.stop()


async def test_two_branches_that_parted_before_the_shorter_head_are_found_in_one_round(
    tmp_path: Path,
) -> None:
    for a, b in ((6, 9), (9, 9), (9, 6), (40, 150)):
        root = tmp_path / f"{a}-{b}"
        la, sv, india = members = _two_branches(root, before=4, a=a, b=b)
        try:
            head = sv.node.store.head(sv.keys.node_id)
            assert head is not None
            parted = head.seq - a + 1  # the first seq where the branches differ
            assert sv.keys.node_id not in la.node.store.fork_seqs()
            await _one_round(la, india)  # LA calls Mumbai, once
            for m in (la, india):
                assert m.node.store.fork_seqs().get(sv.keys.node_id) == parted, (a, b, m.name)
            assert la.state() == india.state()
        finally:
            close_all(members)


async def test_an_author_held_back_over_the_budget_is_named_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§4.6: status, /metrics and the web view's problems name the author whose events
    were held back."""

    from node.web import start_web  # noqa: PLC0415
    from protocol.kinds import member  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        for i in range(6):
            sv.post(f"r{i}")
        monkeypatch.setattr(member, "DEFAULT_EVENTS_PER_DAY", 3)
        result = la.node.ingest([e.raw for e in sv.node.store.events()])
        assert result.held_back[sv.keys.node_id] == 1
        runner, port = await start_web(la.node, la.keys, host="127.0.0.1", port=0)
        try:
            web, _ = await owner_session(la.home.path)
            async with web:
                async with web.get(f"http://127.0.0.1:{port}/") as page:
                    html = await page.text()
                async with web.get(f"http://127.0.0.1:{port}/metrics") as page:
                    metrics = await page.text()
        finally:
            await runner.cleanup()
        assert "San Salvador: 1 event held back, over the network&#39;s daily budget" in html
        assert 'collective="San Salvador"} 1' in metrics.split("commune_events_held_back{")[-1]
        la.node.close()
        _, out, _ = await commune_async(la.home.path, "status")
        assert "San Salvador: 1 event held back" in out
        _, out, _ = await commune_async(la.home.path, "status", "--json")
        assert json.loads(out)["held_back"][0]["name"] == "San Salvador"
    finally:
        close_all(members)
