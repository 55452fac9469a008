"""``/healthz`` and ``/metrics`` over real HTTP: a real web view on 127.0.0.1 in front of
real nodes (real folders, SQLite, signed and sealed events, real sync over mutual TLS),
read with a strict reader of the Prometheus text format (0.0.4)."""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from node import metrics, private, records
from node.daemon import Daemon, sync_once
from node.sync import Stats
from node.web import SECURITY_HEADERS, start_web
from node.web.state import STATE
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, free_port, link, make_network, serve_process, until
from tests.web_owner import scrape_headers

SECRET_TITLE = "Meeting with the dock workers"
SECRET_BODY = "We agreed to meet again on Friday"
CONTACT = "Thandiwe Mokoena"
ODD_NAME = 'Bar "Sur" \\ Norte'
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# --- a strict reader of the text format ----------------------------------------------------

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"({_METRIC})(?:\{{(.*)\}})? (\S+)\Z")
_VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|Inf)\Z|NaN\Z")


@dataclass
class Family:
    help: str = ""
    kind: str = ""
    samples: dict[frozenset[tuple[str, str]], float] = field(default_factory=dict)

    def value(self, **labels: str) -> float:
        return self.samples[frozenset(labels.items())]

    def labelled(self) -> list[dict[str, str]]:
        return [dict(key) for key in self.samples]


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        assert m is not None, f"bad label at {text[i:]!r}"
        name, i = m.group(1), m.end()
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                escaped = text[i + 1]
                assert escaped in '\\"n', f"bad escape \\{escaped}"
                value.append({"\\": "\\", '"': '"', "n": "\n"}[escaped])
                i += 2
            else:
                assert text[i] != "\n"
                value.append(text[i])
                i += 1
        i += 1
        assert name not in out, f"label {name} twice"
        out[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", text
            i += 1
    return out


def parse(text: str) -> dict[str, Family]:
    """Every family, checking the format: HELP then TYPE once per name and before its
    samples, the samples of a family together, valid names, labels and values."""
    assert text.endswith("\n")
    families: dict[str, Family] = {}
    current = ""
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_METRIC, name), name
            assert name not in families, f"{name} twice"
            assert "\n" not in help_text
            families[name] = Family(help=help_text.replace("\\n", "\n").replace("\\\\", "\\"))
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current, f"TYPE of {name} out of place"
            assert not families[name].kind, f"TYPE of {name} twice"
            assert kind in ("counter", "gauge", "untyped"), kind
            families[name].kind = kind
        else:
            assert not line.startswith("#"), line
            m = _SAMPLE.match(line)
            assert m is not None, f"not a sample line: {line!r}"
            name, labels, value = m.groups()
            assert name == current, f"{name} outside its family"
            assert families[name].kind, f"{name} before its TYPE"
            assert _VALUE.match(value), value
            key = frozenset(_labels(labels or "").items())
            assert key not in families[name].samples, f"{line} twice"
            number = float(value.replace("Inf", "inf"))
            if families[name].kind == "counter":
                assert name.endswith("_total")
                assert number >= 0 or math.isnan(number)
            families[name].samples[key] = number
    return families


# --- the nodes -------------------------------------------------------------------------------


def _report(m: Member, title: str, body: str = "…") -> bytes:
    spec = POSTABLE["report"]
    return m.node.post(m.keys, [("report", spec.build({"title": title, "body": body}))])[0].id


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador", ODD_NAME])
    la, sv, odd = members
    _report(la, SECRET_TITLE, SECRET_BODY)
    _report(sv, "Informe de la asamblea")
    _report(odd, "Otro informe")
    fields = POSTABLE["contact"].build({"name": CONTACT, "phone": "+27 82 555 0147"})
    readers = private.recipients(la.node, la.keys, ("El Salvador",))
    la.node.post(la.keys, [private.seal_item(la.node, la.keys, "contact", fields, readers)])
    for m in (sv, odd):
        la.node.ingest([e.raw for e in m.node.store.events()])
    yield members
    close_all(members)


@dataclass
class Site:
    session: aiohttp.ClientSession
    runner: aiohttp.web.AppRunner

    async def get(self, path: str, **kwargs: object) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(path, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, await response.text(), response

    async def metrics(self) -> dict[str, Family]:
        status, text, response = await self.get("/metrics")
        assert status == 200
        assert response.headers["Content-Type"] == METRICS_TYPE
        return parse(text)


@contextlib.asynccontextmanager
async def served(m: Member, daemon: Daemon | None = None) -> AsyncIterator[Site]:
    """The view of ``m``, read as a watchdog or Prometheus reads it: with the scrape token
    of ``NODE_HOME/metrics-token``."""
    runner, port = await start_web(m.node, m.keys, host="127.0.0.1", port=0, daemon=daemon)
    session = aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{port}", headers=scrape_headers(m.home.path)
    )
    try:
        yield Site(session, runner)
    finally:
        await session.close()
        await runner.cleanup()


# --- /healthz ---------------------------------------------------------------------------------


async def test_healthz_says_ok_and_what_it_knows(nodes: list[Member]) -> None:
    la = nodes[0]
    async with served(la) as site:
        status, text, response = await site.get("/healthz")
        assert status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        health = json.loads(text)
        assert health["status"] == "ok"
        assert health["store"] == "ok"
        assert health["events"] == la.node.store.count()
        assert health["sync"] == "off"  # this view runs without the sync service
        assert abs(health["last_write"] - time.time()) < 120
        assert abs(health["newest_event"] - time.time()) < 120
        async with site.session.head("/healthz") as head:
            assert head.status == 200
            assert await head.read() == b""
        for method in ("POST", "PUT", "DELETE"):
            async with site.session.request(method, "/healthz") as refused:
                assert refused.status == 405
                assert refused.headers["Allow"] == "GET,HEAD"
        status, _, response = await site.get("/healthz", headers={"Host": "evil.example"})
        assert status == 421
        assert response.headers["X-Frame-Options"] == "DENY"


async def test_healthz_follows_the_sync_service(nodes: list[Member]) -> None:
    la, sv = nodes[0], nodes[1]
    await sv.start()
    daemon = await la.start()
    link(la, sv)
    await until(lambda: sv.url in daemon.peers, what="la knows sv")
    try:
        async with served(la, daemon) as site:
            status, text, _ = await site.get("/healthz")
            assert status == 200
            health = json.loads(text)
            assert health["sync"] == "running"
            assert health["peers"] == 1
            await daemon.stop()
            status, text, _ = await site.get("/healthz")
            assert status == 503
            assert json.loads(text)["status"] == "failing"
            assert json.loads(text)["sync"] == "stopped"
            families = await site.metrics()
            assert families["commune_sync_running"].value() == 0
    finally:
        la.daemon = None
        await sv.stop()


async def test_healthz_and_metrics_are_503_when_the_store_cannot_be_read(
    nodes: list[Member],
) -> None:
    la = nodes[0]
    async with served(la) as site:
        reader = site.runner.app[STATE].data
        reader.store.close()  # the view's own connection to the store is gone
        status, text, _ = await site.get("/healthz")
        assert status == 503
        assert json.loads(text) | {"last_write": None} == {
            "status": "failing",
            "store": "unreadable",
            "last_write": None,
            "sync": "off",
        }
        status, text, response = await site.get("/metrics")
        assert status == 503
        assert text == "the store cannot be read\n"
        assert response.headers["Cache-Control"] == "no-store"


# --- /metrics ---------------------------------------------------------------------------------


async def test_metrics_count_the_log_the_members_and_the_sync_rounds(nodes: list[Member]) -> None:
    la, sv, odd = nodes
    await sv.start()
    daemon = await la.start()
    link(la, sv)
    await until(
        lambda: sv.url in daemon.peers and daemon.peers[sv.url].last_ok is not None,
        what="a first round from la to sv",
    )
    sv_url = sv.url
    # What the scheduler records after each round (node/daemon.py calls record_sync):
    # one more round, recorded as it does.
    for url, stats, error in await sync_once(la.node, la.keys, [sv_url]):
        records.record_sync(la.node, url, stats, error)
    try:
        async with served(la, daemon) as site:
            await site.get("/healthz")
            await site.get("/nowhere")
            families = await site.metrics()
            status, text, _ = await site.get("/metrics")
    finally:
        await la.stop()
        await sv.stop()
    assert status == 200
    assert text.startswith("# HELP ")

    short = {m.name: m.node.node_id.hex()[:12] for m in nodes}
    events = families["commune_events"]
    assert events.kind == "gauge"
    counted = {
        row[0]: row[1]
        for row in la.node.store.execute("SELECT author, count(*) FROM events GROUP BY author")
    }
    for m in nodes:
        value = events.value(node=short[m.name], collective=m.name)
        assert value == counted[m.node.node_id]
    assert families["commune_events_stored"].value() == la.node.store.count()
    assert families["commune_events_held"].value() == 0
    assert families["commune_fork_evidence"].value() == 0
    members = families["commune_members"]
    assert members.value(state="admitted") == 3
    assert members.value(state="revoked") == 0
    assert members.value(state="forked") == 0
    info = families["commune_node_info"].labelled()
    assert info == [{"node": short["Los Angeles"], "collective": "Los Angeles", "network": "Red"}]

    rounds = families["commune_sync_rounds_total"]
    assert rounds.kind == "counter"
    # one here, and the scheduler's own once it records them
    assert rounds.value(peer=sv_url, result="ok") >= 1
    assert families["commune_sync_bytes_sent_total"].value(peer=sv_url) > 0
    assert families["commune_sync_bytes_received_total"].value(peer=sv_url) > 0
    assert families["commune_sync_events_sent_total"].value(peer=sv_url) >= 0
    assert families["commune_sync_events_received_total"].value(peer=sv_url) >= 0
    last = families["commune_sync_last_success_timestamp_seconds"].value(peer=sv_url)
    assert abs(last - time.time()) < 60
    assert families["commune_sync_failures_in_a_row"].value(peer=sv_url) == 0
    assert families["commune_sync_running"].value() == 1
    assert families["commune_sync_rounds_ok"].value() >= 1

    requests = parse(text)["commune_web_requests_total"]  # the second scrape counts the first
    assert requests.kind == "counter"
    assert requests.value(route="healthz", method="GET", code="200") == 1
    # the scrape token opens /healthz and /metrics only: another path is refused
    assert requests.value(route="other", method="GET", code="403") == 1
    assert requests.value(route="metrics", method="GET", code="200") == 1
    assert {r["route"] for r in requests.labelled()} <= {"healthz", "other", "metrics"}
    assert odd.name == ODD_NAME


async def test_the_called_node_tells_when_each_member_last_called(nodes: list[Member]) -> None:
    la, sv = nodes[0], nodes[1]
    sv_before = sv.node.store.count()
    sv_daemon = await sv.start()
    await la.start()
    link(la, sv)
    la_id = la.node.node_id.hex()

    def pushed() -> bool:
        record = records.served_records(sv.node.store).get(la_id, {})
        return bool(record.get("received")) and la.node.node_id in sv_daemon.server.callers

    await until(pushed, what="la calls sv and pushes its events")
    try:
        async with served(sv, sv_daemon) as site:
            families = await site.metrics()
    finally:
        await la.stop()
        await sv.stop()
    short = la_id[:12]
    called = families["commune_sync_last_called_timestamp_seconds"]
    moment = called.value(node=short, collective="Los Angeles")
    assert abs(moment - time.time()) < 60
    assert families["commune_sync_peers_penalised"].value() == 0
    # the traffic SV served to LA is counted on SV too, by caller
    requests = families["commune_served_requests_total"]
    assert requests.kind == "counter"
    assert requests.value(node=short, route="sync", result="ok") >= 1
    assert requests.value(node=short, route="push", result="ok") >= 1
    assert families["commune_served_bytes_sent_total"].value(node=short) > 0
    assert families["commune_served_bytes_received_total"].value(node=short) > 0
    received = families["commune_served_events_received_total"].value(node=short)
    assert received == la.node.store.count() - sv_before
    # and kept in SV's store, for `status` (another process)
    record = records.served_records(sv.node.store)[la_id]
    assert record["received"] == received
    assert record["requests_ok"] >= 2
    assert record["requests_refused"] == 0
    assert record["last_ok"] == pytest.approx(time.time(), abs=60)


async def test_refusals_failures_and_label_values_are_escaped(nodes: list[Member]) -> None:
    la = nodes[0]
    odd_url = 'https://127.0.0.1:9/"odd"\\path'
    refused = Stats(peer=odd_url, sent=1, received=2, bytes_sent=100, bytes_received=200)
    refused.refused = Counter({"bad-signature": 2, "wrong-network": 1})
    records.record_sync(la.node, odd_url, refused)
    records.record_sync(la.node, odd_url, None, "cannot sync: ConnectionRefusedError")
    records.record_sync(la.node, odd_url, None, "cannot sync: ConnectionRefusedError")
    async with served(la) as site:
        status, text, _ = await site.get("/metrics")
    assert status == 200
    families = parse(text)
    # names are public in the network, but escaped: a quote or a backslash cannot end
    # the label value early
    assert (
        f'collective="{ODD_NAME.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        in text
    )
    odd = nodes[2]
    assert families["commune_events"].value(node=odd.node.node_id.hex()[:12], collective=ODD_NAME)
    refusals = families["commune_sync_events_refused_total"]
    assert refusals.value(peer=odd_url, reason="bad-signature") == 2
    assert refusals.value(peer=odd_url, reason="wrong-network") == 1
    rounds = families["commune_sync_rounds_total"]
    assert rounds.value(peer=odd_url, result="ok") == 1
    assert rounds.value(peer=odd_url, result="failed") == 2
    assert families["commune_sync_failures_in_a_row"].value(peer=odd_url) == 2
    assert families["commune_sync_last_success_timestamp_seconds"].value(peer=odd_url) > 0
    assert families["commune_sync_events_received_total"].value(peer=odd_url) == 2
    assert families["commune_sync_bytes_received_total"].value(peer=odd_url) == 200


async def test_requests_served_and_refused_are_counted_by_caller(nodes: list[Member]) -> None:
    la, sv = nodes[0], nodes[1]
    caller = sv.node.node_id
    pushed = Stats(peer="x", node_id=caller, received=3, bytes_received=900, bytes_sent=40)
    pushed.refused = Counter({"bad-signature": 1})
    records.record_served(la.node, caller, "push", pushed)
    records.record_served(la.node, caller, "push", None, "a sync request starts with a hello")
    async with served(la) as site:
        families = await site.metrics()
    short = caller.hex()[:12]
    requests = families["commune_served_requests_total"]
    assert requests.value(node=short, route="push", result="ok") == 1
    assert requests.value(node=short, route="push", result="refused") == 1
    assert families["commune_served_events_received_total"].value(node=short) == 3
    assert families["commune_served_bytes_received_total"].value(node=short) == 900
    refused = families["commune_served_events_refused_total"]
    assert refused.value(node=short, reason="bad-signature") == 1
    record = records.served_records(la.node.store)[caller.hex()]
    assert record["requests_ok"] == 1
    assert record["requests_refused"] == 1
    assert record["last_error"] == "a sync request starts with a hello"
    assert record["refused"] == {"bad-signature": 1}


async def test_nothing_shows_content_or_keys(nodes: list[Member]) -> None:
    la = nodes[0]
    async with served(la) as site:
        _, text, _ = await site.get("/metrics")
        _, health, _ = await site.get("/healthz")
    for page in (text, health):
        for secret in (SECRET_TITLE, SECRET_BODY, CONTACT, "+27 82"):
            assert secret not in page
        # no id or key in full: node ids are cut to 12 hex digits
        assert not re.search(r"[0-9a-f]{13,}", page)
        for m in nodes:
            assert m.node.node_id.hex() not in page
            assert m.keys.sealing_public.hex() not in page


async def test_a_real_serve_answers_healthz_and_metrics(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    home = members[0].home.path
    count = members[0].node.store.count()
    close_all(members)
    server = serve_process(home, free_port())
    web_url: str = server.web_url  # type: ignore[attr-defined]
    try:
        async with aiohttp.ClientSession(headers=scrape_headers(home)) as session:
            async with session.get(web_url + "healthz") as response:
                assert response.status == 200
                health = await response.json()
            async with session.get(web_url + "metrics") as response:
                assert response.headers["Content-Type"] == METRICS_TYPE
                families = parse(await response.text())
    finally:
        server.terminate()
        server.wait(30)
    assert health["status"] == "ok"
    assert health["sync"] == "running"
    assert health["events"] == count
    assert families["commune_events_stored"].value() == count
    assert families["commune_sync_running"].value() == 1
    assert families["commune_members"].value(state="admitted") == 2


# --- the registry and the format ------------------------------------------------------------


def test_the_registry_keeps_its_rules() -> None:
    registry = metrics.Registry()
    c = registry.counter("x_total", "X.", ("a",))
    c.inc(a="1")
    c.inc(2, a="1")
    assert c.get(a="1") == 3
    assert registry.counter("x_total", "X.", ("a",)) is c
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, a="1")
    with pytest.raises(ValueError, match="labels"):
        c.inc(b="1")
    with pytest.raises(ValueError, match="another"):
        registry.gauge("x_total", "X.", ("a",))
    with pytest.raises(ValueError, match="another"):
        registry.counter("x_total", "X.", ("a", "b"))
    for bad in ("1x", "x-y", "x y", ""):
        with pytest.raises(ValueError, match="metric name"):
            metrics.Gauge(bad, "bad")
    for bad_label in ("__x", "a-b", "1a"):
        with pytest.raises(ValueError, match="label name"):
            metrics.Gauge("g", "g", (bad_label,))
    g = metrics.Gauge("g", 'Help with a \\ and a\nnew line and "quotes".', ("v",))
    g.set(float("inf"), v='a "quoted"\\ value\nover two lines')
    g.set(float("nan"), v="nan")
    g.set(-2.5, v="neg")
    text = metrics.render([c, g])
    assert '# HELP g Help with a \\\\ and a\\nnew line and "quotes".' in text
    assert 'g{v="a \\"quoted\\"\\\\ value\\nover two lines"} +Inf' in text
    assert 'g{v="nan"} NaN' in text
    assert 'g{v="neg"} -2.5' in text
    families = parse(text)
    assert families["g"].help == 'Help with a \\ and a\nnew line and "quotes".'
    assert families["g"].value(v='a "quoted"\\ value\nover two lines') == math.inf
    assert families["x_total"].value(a="1") == 3
    with pytest.raises(ValueError, match="twice"):
        metrics.render([c, c])
