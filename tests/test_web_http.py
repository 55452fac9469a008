"""The web view over real HTTP: a real aiohttp server on 127.0.0.1 in front of real
nodes (real folders, real SQLite, real signed and sealed events)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from node import network, private, records
from node.daemon import Daemon, PeerState
from node.failures import Failure
from node.sync import Stats
from node.web import SECURITY_HEADERS, PublicBind, check_bind, start_web
from node.web.bind import host_allowed
from node.web.state import STATE
from protocol.kinds import POSTABLE
from tests.helpers import forge, payload
from tests.net import Member, close_all, make_network
from tests.web_owner import owner_session

ROUTES = ["/", "/reports", "/plans", "/contacts", "/events", "/activity"]

SPANISH = "Reunión con vecinas en San Salvador"
HINDI = "किसानों के साथ बैठक की रिपोर्ट"
ZULU = "Umhlangano nabasebenzi basepulazini eThekwini"
ARABIC = "تقرير عن اجتماع الحي"
HEBREW = "דו״ח על אסיפת השכונה"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
OWN_CONTACT = "Thandiwe Mokoena"
FOR_LA = "Ana Lucía Martínez"
NOT_FOR_LA = "Sipho Dlamini"
ERASED = "Notes that must be erased"


@dataclass
class World:
    members: list[Member]
    la: Member
    sv: Member
    ids: dict[str, bytes]

    def names(self) -> dict[str, Member]:
        return {m.name: m for m in self.members}


def _report(m: Member, title: str, body: str = "…") -> bytes:
    spec = POSTABLE["report"]
    return m.node.post(m.keys, [("report", spec.build({"title": title, "body": body}))])[0].id


def _plan(m: Member, title: str, owner: str, due: str, status: str) -> bytes:
    spec = POSTABLE["plan"]
    values = {"title": title, "owner": owner, "due": due, "status": status}
    return m.node.post(m.keys, [("plan", spec.build(values))])[0].id


def _contact(m: Member, name: str, *to: str) -> bytes:
    fields = POSTABLE["contact"].build({"name": name, "phone": "+27 82 555 0147"})
    readers = private.recipients(m.node, m.keys, to)
    sealed = private.seal_item(m.node, m.keys, "contact", fields, readers)
    return m.node.post(m.keys, [sealed])[0].id


def _share(source: Member, target: Member) -> None:
    target.node.ingest([e.raw for e in source.node.store.events()])


def build(tmp_path: Path) -> World:
    members = make_network(
        tmp_path, ["Los Angeles", "El Salvador", "Bay Area India", "South Africa"]
    )
    la, sv, india, za = members
    ids: dict[str, bytes] = {}
    ids["spanish"] = _report(sv, SPANISH, "Hablamos de la clínica y del agua.")
    ids["for_la"] = _contact(sv, FOR_LA, "Los Angeles")
    ids["not_for_la"] = _contact(sv, NOT_FOR_LA)
    ids["hindi"] = _report(india, HINDI, "हमने पानी और बिजली के बारे में बात की।")
    ids["zulu"] = _report(za, ZULU, "Sikhulume ngamanzi nogesi.")
    za_last = za.node.post(
        za.keys, [("report", POSTABLE["report"].build({"title": "Later report"}))]
    )[0]
    ids["arabic"] = _report(la, ARABIC, "تحدثنا عن الماء")
    ids["hebrew"] = _report(la, HEBREW)
    ids["script"] = _report(la, SCRIPT, IMG)
    ids["img"] = _report(la, IMG)
    ids["overdue"] = _plan(la, "Paint the banner", "Marta", "2020-01-15", "open")
    ids["future"] = _plan(la, "March to city hall", "Joe", "2099-12-31", "doing")
    ids["done"] = _plan(la, "Print the flyers", "Marta", "2020-02-01", "done")
    ids["own_contact"] = _contact(la, OWN_CONTACT)
    ids["erased"] = _report(la, "A report to erase", ERASED)
    ids["redaction"] = network.redact(la.node, la.keys, ids["erased"].hex()).id
    for m in (sv, india, za):
        _share(m, la)
    # South Africa's feed forks: a second, different event at the seq of its last one
    ids["fork"] = za_last.id
    twin = forge(
        za.keys.signing,
        network=za_last.network,
        seq=za_last.seq,
        prev=za_last.prev,
        ts=za_last.ts + 1,
        body=payload("the other branch"),
    )
    assert la.node.ingest([twin]).forks == 1
    return World(members, la, sv, ids)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build(tmp_path)
    yield w
    close_all(w.members)


@dataclass
class Site:
    session: aiohttp.ClientSession
    port: int
    runner: aiohttp.web.AppRunner

    async def get(self, path: str, **kwargs: object) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(path, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, await response.text(), response


@contextlib.asynccontextmanager
async def served(
    m: Member, *, keys: bool = True, daemon: Daemon | None = None
) -> AsyncIterator[Site]:
    runner, port = await start_web(
        m.node, m.keys if keys else None, host="127.0.0.1", port=0, daemon=daemon
    )
    try:
        # let in as the owner: the address with its one-time token, visited once
        session, _ = await owner_session(m.home.path)
    except BaseException:
        await runner.cleanup()
        raise
    try:
        yield Site(session, port, runner)
    finally:
        await session.close()
        await runner.cleanup()


def _content(html: str, text: str) -> bool:
    """``text`` is shown in an element whose direction follows its content."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
    return re.search(r'dir="auto"[^>]*>' + re.escape(escaped), html) is not None


# --- every page ------------------------------------------------------------------------


async def test_every_page_answers_with_its_data(world: World) -> None:
    async with served(world.la) as site:
        status, html, response = await site.get("/")
        assert status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        for name in ("Red", "Los Angeles", "El Salvador", "Bay Area India", "South Africa"):
            assert name in html
        assert "feed split in two (fork) at event" in html
        assert "1 overdue" in html

        status, html, _ = await site.get("/reports")
        assert status == 200
        for title in (SPANISH, HINDI, ZULU, ARABIC, HEBREW):
            assert _content(html, title), title
        assert "A report to erase" not in html  # redacted: gone from the list

        status, html, _ = await site.get("/plans")
        assert status == 200
        assert "Paint the banner" in html
        assert "March to city hall" in html
        overdue_row = re.search(r'<tr class="status-open overdue">.*?</tr>', html, re.S)
        assert overdue_row is not None
        assert "Paint the banner" in overdue_row.group(0)
        assert "overdue by" in overdue_row.group(0)
        # the done one is late but not overdue
        assert len(re.findall(r'<tr class="status-\w+ overdue">', html)) == 1

        status, html, _ = await site.get("/events")
        assert status == 200
        assert "network founded" in html

        status, html, _ = await site.get("/activity")
        assert status == 200
        assert html.count("<svg") >= 2
        assert "Los Angeles" in html

        status, html, _ = await site.get(f"/event/{world.ids['spanish'].hex()}")
        assert status == 200
        assert _content(html, SPANISH)

        status, _, _ = await site.get("/event/" + "ab" * 32)
        assert status == 404
        status, _, _ = await site.get("/nowhere")
        assert status == 404


async def test_content_is_escaped_everywhere(world: World) -> None:
    async with served(world.la) as site:
        for path in ["/reports", "/events", f"/event/{world.ids['script'].hex()}", "/activity"]:
            _, html, _ = await site.get(path)
            assert SCRIPT not in html, path
            assert IMG not in html, path
            assert "<img" not in html
            assert "<script>" not in html
        _, html, _ = await site.get("/reports")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        # the only script is the same-origin file
        _, html, _ = await site.get("/")
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/live.js" defer>']


async def test_content_in_any_script_shows_with_its_own_direction(world: World) -> None:
    async with served(world.la) as site:
        _, html, _ = await site.get("/reports")
        assert html.startswith("<!doctype html>")
        assert '<html lang="en"' in html
        assert '<meta charset="utf-8">' in html
        for title in (SPANISH, HINDI, ZULU, ARABIC, HEBREW):
            assert _content(html, title)
        _, html, _ = await site.get(f"/event/{world.ids['hindi'].hex()}")
        assert _content(html, "हमने पानी और बिजली के बारे में बात की।")


async def test_spanish_by_switch_cookie_and_accept_language(world: World) -> None:
    async with served(world.la) as site:
        _, html, response = await site.get("/reports?lang=es")
        assert '<html lang="es"' in html
        assert "Informes" in html
        assert "Buscar" in html
        assert "lang=es" in response.headers["Set-Cookie"]
        assert "SameSite=Strict" in response.headers["Set-Cookie"]
        # the cookie keeps the choice
        _, html, _ = await site.get("/plans")
        assert '<html lang="es"' in html
        assert "atrasado" in html
        site.session.cookie_jar.clear(lambda c: c.key == "lang")  # the owner stays in
        _, html, _ = await site.get("/", headers={"Accept-Language": "es-SV,es;q=0.9,en;q=0.5"})
        assert '<html lang="es"' in html
        assert "Resumen" in html
        assert "Colectivos" in html
        _, html, _ = await site.get("/", headers={"Accept-Language": "fr, en;q=0.2"})
        assert '<html lang="en"' in html
        assert "Overview" in html
        # the switch links keep the page and its filters
        _, html, _ = await site.get("/plans?status=open")
        assert 'href="/plans?status=open&amp;lang=es"' in html


# --- security ----------------------------------------------------------------------------


async def test_nothing_can_be_written(world: World) -> None:
    node = world.la.node
    before = (node.projector.state_hash(), node.store.count())
    async with served(world.la) as site:
        for path in [*ROUTES, "/live", "/static/style.css", "/event/" + "ab" * 32, "/nowhere"]:
            for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
                async with site.session.request(
                    method, path, data=b'{"kind": "report", "title": "x"}'
                ) as response:
                    assert response.status == 405, (method, path)
                    assert response.headers["Allow"] == "GET,HEAD"
                    for name, value in SECURITY_HEADERS.items():
                        assert response.headers[name] == value
    assert (node.projector.state_hash(), node.store.count()) == before


async def test_every_response_carries_the_security_headers(world: World) -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    async with served(world.la) as site:
        paths = [*ROUTES, "/static/style.css", "/static/live.js", "/nowhere", "/static/x"]
        paths.append(f"/event/{world.ids['own_contact'].hex()}")
        for path in paths:
            for method in ("GET", "HEAD"):
                async with site.session.request(method, path) as response:
                    for name, value in SECURITY_HEADERS.items():
                        assert response.headers.get(name) == value, (method, path, name)
        async with site.session.get("/live") as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value
        async with site.session.get("/", headers={"Host": "evil.example"}) as response:
            assert response.status == 421
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value
        _, css, response = await site.get("/static/style.css")
        assert response.headers["Content-Type"] == "text/css; charset=utf-8"
        assert "@import" not in css
        assert "url(" not in css


async def test_a_host_header_of_another_name_is_refused(world: World) -> None:
    async with served(world.la) as site:
        port = site.port
        for host in (
            f"evil.example:{port}",
            "evil.example",
            f"127.0.0.1.nip.io:{port}",
            f"localhost.evil.example:{port}",
            f"127.0.0.1:{port + 1}",
            "127.0.0.1",
        ):
            status, html, _ = await site.get("/", headers={"Host": host})
            assert status == 421, host
            assert "Red" not in html
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            status, _, _ = await site.get("/", headers={"Host": host})
            assert status == 200, host


async def test_listening_beyond_this_machine_needs_a_flag(world: World) -> None:
    assert check_bind("127.0.0.1", allow_public=False) is None
    assert check_bind("::1", allow_public=False) is None
    assert check_bind("localhost", allow_public=False) is None
    for host in ("0.0.0.0", "192.0.2.10", "::", "example.org"):
        with pytest.raises(PublicBind, match="--web-public"):
            check_bind(host, allow_public=False)
        warning = check_bind(host, allow_public=True)
        assert warning is not None
        assert warning.startswith("WARNING")
    with pytest.raises(PublicBind):
        await start_web(world.la.node, None, host="0.0.0.0", port=0)


def test_which_host_headers_name_the_view() -> None:
    assert host_allowed("127.0.0.1:8471", "127.0.0.1", 8471)
    assert host_allowed("localhost:8471", "127.0.0.1", 8471)
    assert host_allowed("[::1]:8471", "::1", 8471)
    assert host_allowed("localhost:8471", "::1", 8471)
    assert host_allowed("example.org", "example.org", 80)
    assert host_allowed("192.0.2.10:8471", "0.0.0.0", 8471)
    assert host_allowed("[2001:db8::1]:8471", "::", 8471)
    for header in (
        None,
        "",
        "127.0.0.1:8472",
        "evil.example:8471",
        "localhost.evil.example:8471",
        "[::1]x:8471",
        "127.0.0.1:8471:8471",
    ):
        assert not host_allowed(header, "127.0.0.1", 8471), header
    # a wildcard address accepts addresses, never a name (a name can be rebound)
    assert not host_allowed("evil.example:8471", "0.0.0.0", 8471)
    assert not host_allowed("192.0.2.10:8471", "192.0.2.11", 8471)


# --- lists --------------------------------------------------------------------------------


def _articles(html: str) -> list[str]:
    return re.findall(r'<article class="item">.*?</article>', html, re.S)


async def test_lists_are_paged_searched_and_filtered(world: World) -> None:
    la = world.la
    spec = POSTABLE["report"]
    la.node.post(
        la.keys, [("report", spec.build({"title": f"Batch report {i}"})) for i in range(250)]
    )
    async with served(la) as site:
        _, html, _ = await site.get("/reports")
        assert len(_articles(html)) == 50
        assert "Page 1 of 6" in html
        assert "257 results" in html
        assert "Batch report 249" in html  # newest first
        _, html, _ = await site.get("/reports?page=6")
        assert "Page 6 of 6" in html
        assert len(_articles(html)) == 7
        assert SPANISH in html
        _, html, _ = await site.get("/reports?page=99")
        assert _articles(html) == []

        _, html, _ = await site.get("/reports?q=batch+REPORT+17")
        titles = re.findall(r'dir="auto">(Batch report \d+)<', html)
        assert sorted(titles) == sorted(
            ["Batch report 17", *(f"Batch report 17{i}" for i in range(10))]
        )
        _, html, _ = await site.get("/reports", params={"q": "बैठक"})
        assert len(_articles(html)) == 1
        assert HINDI in html

        _, html, _ = await site.get(f"/reports?by={world.sv.node.node_id.hex()}")
        assert len(_articles(html)) == 1
        assert SPANISH in html
        _, html, _ = await site.get("/reports?from=2099-01-01")
        assert _articles(html) == []
        assert "Nothing matches." in html
        today = time.strftime("%Y-%m-%d")
        _, html, _ = await site.get(f"/reports?from={today}&to={today}")
        assert "257 results" in html
        _, html, _ = await site.get("/reports?from=yesterday")
        assert "yesterday is not a date; it was left out." in html
        assert "257 results" in html

        _, html, _ = await site.get("/plans?overdue=1")
        assert "Paint the banner" in html
        assert "March to city hall" not in html
        assert "Print the flyers" not in html
        _, html, _ = await site.get("/plans?status=done")
        assert "Print the flyers" in html
        assert "Paint the banner" not in html
        _, html, _ = await site.get("/plans?owner=mar")
        assert "Print the flyers" in html
        assert "Paint the banner" in html
        assert "March to city hall" not in html
        _, html, _ = await site.get("/plans?from=2030-01-01")  # a plan's date: when it is due
        assert "March to city hall" in html
        assert "Paint the banner" not in html
        _, html, _ = await site.get("/plans?to=2020-01-31")
        assert "Paint the banner" in html
        assert "Print the flyers" not in html
        assert "March to city hall" not in html
        _, html, _ = await site.get("/plans?sort=due")
        assert html.index("Paint the banner") < html.index("Print the flyers")
        assert html.index("Print the flyers") < html.index("March to city hall")

        _, html, _ = await site.get("/events?kind=redact")
        assert "1 result" in html
        assert "erasure" in html


async def read_a_page_at_a_time(tmp_path: Path, events: int) -> None:
    members = make_network(tmp_path, ["Los Angeles"], roomy=True)
    la = members[0]
    spec = POSTABLE["report"]
    try:
        for start in range(0, events, 5000):
            la.node.post(
                la.keys,
                [
                    ("report", spec.build({"title": f"Report {i}", "body": "ok"}))
                    for i in range(start, start + 5000)
                ],
            )
        async with served(la) as site:
            statements: list[str] = []
            reader = site.runner.app[STATE].data
            reader.store.conn.set_trace_callback(statements.append)
            last = events // 50
            for path in [
                "/reports",
                f"/reports?page={last}",
                f"/reports?q=report+{events - 1}",
                f"/events?page={last // 2}&kind=report",
                "/",
                "/activity",
            ]:
                status, html, _ = await site.get(path)
                assert status == 200, path
            _, html, _ = await site.get(f"/reports?q=report+{events - 1}")
            assert "1 result" in html
        reads = [s for s in statements if re.match(r"\s*SELECT (state|raw) FROM", s)]
        assert reads
        assert all("LIMIT" in s for s in reads), reads
    finally:
        close_all(members)


async def test_ten_thousand_events_are_read_a_page_at_a_time(tmp_path: Path) -> None:
    await read_a_page_at_a_time(tmp_path, 10_000)


@pytest.mark.long
async def test_a_hundred_thousand_events_are_read_a_page_at_a_time(tmp_path: Path) -> None:
    await read_a_page_at_a_time(tmp_path, 100_000)


# --- private content -------------------------------------------------------------------------


async def test_contacts_shows_only_what_this_node_opens_and_writes_nothing(
    world: World,
) -> None:
    la = world.la

    def disk() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(la.home.path.rglob("*")) if p.is_file())

    async with served(la) as site:
        _, html, _ = await site.get("/contacts")
        assert OWN_CONTACT in html
        assert FOR_LA in html
        assert NOT_FOR_LA not in html
        assert "Los Angeles" in html
        assert "El Salvador" in html
        _, html, _ = await site.get("/contacts", params={"q": "lucía"})
        assert FOR_LA in html
        assert OWN_CONTACT not in html
        _, html, _ = await site.get(f"/event/{world.ids['for_la'].hex()}")
        assert FOR_LA in html
        assert "2 collectives (private)" in html
        _, html, _ = await site.get(f"/event/{world.ids['not_for_la'].hex()}")
        assert NOT_FOR_LA not in html
        assert "cannot open it" in html
        assert "1 collective (private)" in html
        _, html, _ = await site.get("/")
        assert "2 contacts" in html
    written = disk()
    for secret in (OWN_CONTACT, FOR_LA, NOT_FOR_LA, "+27 82 555 0147"):
        assert secret.encode() not in written

    async with served(la, keys=False) as site:
        _, html, _ = await site.get("/contacts")
        assert "Contacts are private" in html
        assert OWN_CONTACT not in html
        assert FOR_LA not in html
        _, html, _ = await site.get(f"/event/{world.ids['for_la'].hex()}")
        assert FOR_LA not in html
        assert "2 collectives (private)" in html


# --- event detail --------------------------------------------------------------------------


async def test_event_detail_checks_the_signature_again(world: World) -> None:
    la = world.la
    report = world.ids["arabic"]
    async with served(la) as site:
        _, html, _ = await site.get(f"/event/{report.hex()}")
        assert re.search(r'id="signature">verified: Los Angeles wrote exactly this<', html)
        seq = la.node.store.get(report).seq  # type: ignore[union-attr]
        count = la.node.store.head(la.node.node_id).seq  # type: ignore[union-attr]
        assert f"Event {seq} of {count} in the feed of Los Angeles." in html
        prev_id = la.node.store.id_at(la.node.node_id, seq - 1)
        assert prev_id is not None
        assert f'href="/event/{prev_id.hex()}" rel="prev"' in html
        assert "everyone in the network" in html
        assert "not erased" in html

        _, html, _ = await site.get(f"/event/{world.ids['erased'].hex()}")
        assert "its contents were erased for good by Los Angeles" in html
        assert ERASED not in html
        assert "verified" in html  # the envelope still checks

        _, html, _ = await site.get(f"/event/{world.ids['fork'].hex()}")
        assert "no: it comes after its author" in html

        # a stored event whose signature was damaged on disk
        raw = la.node.store.get(report).raw  # type: ignore[union-attr]
        broken = raw[:-80] + bytes([raw[-80] ^ 1]) + raw[-79:]
        with la.node.store.write():
            la.node.store.execute("UPDATE events SET raw = ? WHERE id = ?", (broken, report))
        _, html, _ = await site.get(f"/event/{report.hex()}")
        assert re.search(r'id="signature">NOT valid: ', html)


# --- live updates and sync news --------------------------------------------------------------


async def _next_event(stream: aiohttp.StreamReader, kind: str) -> str:
    async with asyncio.timeout(15):
        while True:
            line = (await stream.readline()).decode()
            if line == f"event: {kind}\n":
                return (await stream.readline()).decode()


async def test_the_live_stream_says_when_the_log_grows(world: World) -> None:
    async with served(world.la) as site, site.session.get("/live") as response:
        assert response.status == 200
        await _next_event(response.content, "hello")
        _report(world.la, "Something new")
        data = await _next_event(response.content, "grew")
        assert data.startswith("data: ")
        _, js, headers = await site.get("/static/live.js")
        assert headers.headers["Content-Type"].startswith("text/javascript")
        assert 'new EventSource("/live")' in js


async def test_stopping_the_view_ends_the_open_streams(world: World) -> None:
    runner, port = await start_web(world.la.node, None, host="127.0.0.1", port=0)
    session, _ = await owner_session(world.la.home.path)
    async with session:
        async with session.head(f"http://127.0.0.1:{port}/live") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
        async with session.get(f"http://127.0.0.1:{port}/live") as response:
            await _next_event(response.content, "hello")
            async with asyncio.timeout(15):
                await runner.cleanup()
                await response.content.read()  # ends: the server closed the stream
                assert response.content.at_eof()


async def test_the_overview_tells_how_syncing_goes(world: World) -> None:
    la, sv = world.la, world.sv
    daemon = Daemon(la.node, la.keys, host="127.0.0.1", port=0)
    good = PeerState("https://127.0.0.1:9")
    good.last = Stats(peer=good.url, node_id=sv.node.node_id, sent=2, received=5, forks=1)
    good.last_ok = time.time() - 185
    bad = PeerState("https://127.0.0.1:10")
    refused = Failure(
        "down",
        "cannot sync with https://127.0.0.1:10: ClientConnectorError: Cannot connect to host",
    )
    for _ in range(3):  # as the scheduler records its rounds, which status reads too
        records.record_sync(la.node, bad.url, None, refused, retry=lambda n: 3600.0)
    bad.failures = 3
    async with served(la, daemon=daemon) as site, site.session.get("/live") as response:
        # the rounds end once the page listens: the view tells it (a change before it
        # listened, while a busy machine let it in, would not reach it)
        await _next_event(response.content, "hello")
        daemon.peers = {good.url: good, bad.url: bad}
        await _next_event(response.content, "peers")  # the view saw the sync round
        _, html, _ = await site.get("/")
        assert "synced 3 minutes ago" in html
        assert "up to date" in html
        assert "last time: 2 sent, 5 received" in html
        assert "Nothing answers at that address: the node is down" in html
        assert "(3 tries in a row)" in html
        assert "next try in 1 hour" in html
        assert "the last sync found a feed split in two" in html
        assert "El Salvador" in html
        _report(la, "One")
        _report(la, "Two")
        await _next_event(response.content, "grew")
        _, html, _ = await site.get("/")
        assert "2 new events here" in html
        _, html, _ = await site.get("/activity")
        assert "3 minutes ago" in html
        assert "never" in html
        _, html, _ = await site.get("/?lang=es")
        assert "sincronizado hace 3 minutos" in html
