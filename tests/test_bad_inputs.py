"""A catalogue of bad inputs, one table: each input, the real entry point it goes
through, and what must come out (an error code, or what happens to an event that is
not an error). Many of these are tested one by one elsewhere (test_encoding,
test_validate, test_sync, test_membership); here they are one readable list.

Entry points:

- ``decode``: ``protocol.validate.check_event``, what every way in runs first;
- ``ingest``: ``Node.ingest`` into a copy of a node that holds San Salvador's seq 1 and
  Johannesburg's seq 1, and has revoked Johannesburg with cutoff 1. Outcomes that are
  not errors: ``known`` (a replay), ``held`` (a gap, or an author not admitted),
  ``fork`` (kept as evidence), ``uncounted`` (kept, past its author's cutoff);
- ``frames``: ``protocol.sync.FrameReader`` and the hello and end decoders;
- ``server``: a running sync server (real TLS) fed by a client: the HTTP status it
  answers, or ``handshake`` when the TLS handshake fails.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto.errors import CommuneError
from crypto.sign import SigningKey
from node import network, sync
from node.daemon import Daemon
from node.home import Home
from node.service import IngestResult, Node
from protocol import encoding, signed
from protocol import sync as proto
from protocol.envelope import MAX_EVENT_SIZE, Event, decode_event, strip_body
from protocol.frontier import Frontier
from protocol.kinds import member
from protocol.validate import check_event
from tests.helpers import fixed_key, forge, payload
from tests.net import Member, close_all, make_network, new_member

SMALL_ORDER = bytes.fromhex("01" + "00" * 31)
STRANGER = fixed_key(42)
OTHER = fixed_key(43)


@dataclass
class World:
    """Los Angeles (admin), San Salvador and Johannesburg (revoked with cutoff 1), and
    a stranger with its own network."""

    base: Path
    la: Member
    sv: Member
    za: Member
    stranger: Member
    sv_feed: list[Event]
    za_feed: list[Event]
    net: bytes
    other_net: bytes

    @property
    def sv_key(self) -> SigningKey:
        return self.sv.keys.signing

    def receiver(self, name: str) -> Node:
        """A copy of Los Angeles's node folder, for one case."""
        folder = self.base / f"case-{name}"
        shutil.copytree(self.la.home.path, folder)
        return Node.open(Home(folder))

    def next_sv(self, **fields: Any) -> bytes:
        """San Salvador's seq 2 as Los Angeles expects it, with ``fields`` changed."""
        first = self.sv_feed[0]
        values: dict[str, Any] = {
            "network": self.net,
            "seq": 2,
            "prev": first.id,
            "ts": first.ts + 1,
            "body": payload("seq 2"),
        }
        values.update(fields)
        return forge(self.sv_key, **values)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("bad-inputs")
    la, sv, za = make_network(base, ["Los Angeles", "San Salvador", "Johannesburg"])
    sv_feed = [sv.node.post(sv.keys, [("report", {"v": 1, "title": f"sv {i}"})])[0] for i in "123"]
    za_feed = [za.node.post(za.keys, [("report", {"v": 1, "title": f"za {i}"})])[0] for i in "12"]
    la.node.ingest([sv_feed[0].raw, za_feed[0].raw])
    network.revoke(la.node, la.keys, "Johannesburg")  # cutoff: seq 1, the last seen
    stranger = new_member(base, "Stranger")
    network.found(stranger.node, stranger.keys, "Otra red")
    net, other_net = la.node.network, stranger.node.network
    la.node.close()  # copied for each case; reopened for the server cases
    yield World(base, la, sv, za, stranger, sv_feed, za_feed, net, other_net)
    close_all([sv, za, stranger])


# --- the entry points -------------------------------------------------------------------


def decode(raw: bytes) -> str:
    try:
        check_event(raw)
    except CommuneError as e:
        return e.code
    return "valid"


def outcome(result: IngestResult) -> str:
    if result.refused:
        return ",".join(sorted(result.refused))
    for name, count in (
        ("fork", result.forks),
        ("uncounted", result.uncounted),
        ("held", result.held),
        ("known", result.known),
    ):
        if count:
            return name
    return "new"


def frames(data: bytes) -> str:
    decoders: dict[bytes, Callable[[bytes], object]] = {
        proto.HELLO: proto.Hello.decode,
        proto.END: proto.End.decode,
    }
    reader = proto.FrameReader()
    try:
        for kind, body in reader.feed(data):
            decoders.get(kind, bytes)(body)
        reader.finish()
    except CommuneError as e:
        return e.code
    return "ok"


def hello_frame(net: bytes, **changes: Any) -> bytes:
    doc = {"v": 1, "network": net, "frontier": Frontier().to_value(), "forks": []}
    doc.update(changes)
    return proto.frame(proto.HELLO, encoding.encode(doc))


# --- the server cases: each returns the status the server answered -------------------------


async def post_as(member: Member, url: str, route: str, data: Any) -> str:
    client = sync.Sync(member.node, member.keys)
    try:
        async with (
            sync.client_session(client) as session,
            session.post(url + sync.PREFIX + route, data=data) as response,
        ):
            await response.read()
            return str(response.status)
    except (aiohttp.ClientConnectorError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        return "handshake"


def push(data: Callable[[World], bytes], member: str = "sv") -> Callable[..., Awaitable[str]]:
    async def send(w: World, url: str) -> str:
        return await post_as(getattr(w, member), url, "/push", data(w))

    return send


def hello_to(data: Callable[[World], bytes], member: str = "sv") -> Callable[..., Awaitable[str]]:
    async def send(w: World, url: str) -> str:
        return await post_as(getattr(w, member), url, "/sync", data(w))

    return send


async def stalled(w: World, url: str) -> str:
    """Half a hello, then nothing: the server's read timeout (0.3 s here) cuts it off."""
    never = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield hello_frame(w.net)[:5]
        await never.wait()

    return await post_as(w.sv, url, "/sync", body())


async def slow(w: World, url: str) -> str:
    """Eight bytes every 0.05 s: never silent for the read timeout, but the request lasts
    longer than the request time (1 s here)."""

    data = proto.frame(proto.EVENT, w.sv_feed[1].raw) * 4

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 8):
            await asyncio.sleep(0.05)  # the slow peer's pace is the input, not a wait
            yield data[start : start + 8]

    return await post_as(w.sv, url, "/push", body())


@dataclass(frozen=True)
class Case:
    name: str
    entry: str
    make: Callable[[World], Any]
    expect: str


def _frame(kind: bytes, body: bytes) -> Callable[[World], bytes]:
    return lambda w: proto.frame(kind, body)


CASES = [
    # --- malformed and non-canonical encodings (decode) ---
    Case("empty input", "decode", lambda w: b"", "truncated"),
    Case("cut short", "decode", lambda w: w.sv_feed[0].raw[:-3], "truncated"),
    Case("trailing bytes", "decode", lambda w: w.sv_feed[0].raw + b"\x00", "trailing-bytes"),
    Case(
        "integer in a longer form",
        "decode",
        lambda w: b"\x9a\xcc\x01" + w.sv_feed[0].raw[2:],
        "non-minimal-int",
    ),
    Case("map keys unsorted", "decode", lambda w: b"\x82\xa1b\x01\xa1a\x02", "unsorted-keys"),
    Case("duplicate map key", "decode", lambda w: b"\x82\xa1a\x01\xa1a\x02", "duplicate-key"),
    Case("a float", "decode", lambda w: b"\xcb" + bytes(8), "forbidden-type"),
    Case("nested too deep", "decode", lambda w: b"\x91" * 100 + b"\x01", "too-deep"),
    Case("text not UTF-8", "decode", lambda w: b"\xa1\xff", "invalid-utf8"),
    Case("a map, not an array", "decode", lambda w: encoding.encode({"v": 1}), "bad-shape"),
    Case("an eleventh field", "decode", lambda w: forge(OTHER, extra=[None]), "bad-shape"),
    Case(
        "unknown envelope version", "decode", lambda w: forge(OTHER, version=2), "unknown-version"
    ),
    Case("seq 0", "decode", lambda w: forge(OTHER, seq=0), "bad-field"),
    Case("kind in capitals", "decode", lambda w: forge(OTHER, kind="Report"), "bad-field"),
    Case(
        "oversized event",
        "decode",
        lambda w: forge(OTHER, body=b"x" * MAX_EVENT_SIZE),
        "too-large",
    ),
    # --- forgeries (decode) ---
    Case(
        "small-order author key",
        "decode",
        lambda w: forge(None, author=SMALL_ORDER, signature=SMALL_ORDER + bytes(32)),
        "bad-author",
    ),
    Case(
        "body swapped after signing",
        "decode",
        lambda w: forge(OTHER, body=payload("evil"), body_hash=signed.body_hash(payload("good"))),
        "bad-body-hash",
    ),
    Case(
        "signed by another key",
        "decode",
        lambda w: forge(OTHER, author=w.sv_key.public),
        "bad-signature",
    ),
    Case(
        "a membership event without its body",
        "decode",
        lambda w: strip_body(decode_event(forge(OTHER, kind=member.ADMIT))).raw,
        "missing-body",
    ),
    # --- wrong chains, forks, replays, strangers, revoked members (ingest) ---
    Case("replay of a stored event", "ingest", lambda w: [w.sv_feed[0].raw], "known"),
    Case("seq gap", "ingest", lambda w: [w.sv_feed[2].raw], "held"),
    # signed by SV at its next seq after another predecessor: its feed forked (§4.5)
    Case("prev not the previous id", "ingest", lambda w: [w.next_sv(prev=bytes(32))], "fork"),
    Case("ts not rising", "ingest", lambda w: [w.next_sv(ts=w.sv_feed[0].ts)], "bad-timestamp"),
    Case(
        "feed moved to another network",
        "ingest",
        lambda w: [w.next_sv(network=w.other_net)],
        "wrong-network",
    ),
    Case(
        "fork: two events at one seq",
        "ingest",
        lambda w: [w.sv_feed[1].raw, w.next_sv(body=payload("the other seq 2"))],
        "fork",
    ),
    Case(
        "author not a member",
        "ingest",
        lambda w: [forge(STRANGER, network=w.net)],
        "held",
    ),
    Case("revoked member past its cutoff", "ingest", lambda w: [w.za_feed[1].raw], "uncounted"),
    Case(
        "forged signature",
        "ingest",
        lambda w: [forge(OTHER, author=w.sv_key.public)],
        "bad-signature",
    ),
    # --- sync frames ---
    Case("frame not a bin", "frames", lambda w: b"\x92\x01\x02", "sync-protocol"),
    Case("empty frame", "frames", lambda w: b"\xc4\x00\xc4\x01Z", "sync-protocol"),
    Case("stream ends inside a frame", "frames", lambda w: b"\xc4\x05Zab", "sync-protocol"),
    Case("unknown frame type", "frames", _frame(b"Q", b"x"), "sync-protocol"),
    Case(
        "event frame over 64 KiB",
        "frames",
        lambda w: b"\xc6" + (MAX_EVENT_SIZE + 2).to_bytes(4, "big") + proto.EVENT,
        "sync-protocol",
    ),
    Case("frame length not shortest", "frames", lambda w: b"\xc5\x00\x02Zx", "sync-protocol"),
    Case(
        "hello not canonical",
        "frames",
        _frame(proto.HELLO, b"\x82\xa1b\x01\xa1a\x02"),
        "sync-protocol",
    ),
    Case("hello of sync version 2", "frames", lambda w: hello_frame(w.net, v=2), "sync-protocol"),
    Case(
        "hello naming too many authors",
        "frames",
        lambda w: hello_frame(w.net, frontier=[[bytes(32), 1, bytes(32)]] * 10_001),
        "sync-protocol",
    ),
    Case(
        "end frame with a negative count",
        "frames",
        _frame(proto.END, b"\x82\xa6events\xff\xa5forks\x00"),
        "sync-protocol",
    ),
    # --- a running server ---
    Case("garbage pushed", "server", push(lambda w: b"\x00" * 64), "400"),
    Case(
        "oversized frame pushed",
        "server",
        push(lambda w: b"\xc6" + (70_000).to_bytes(4, "big") + proto.EVENT + bytes(100)),
        "400",
    ),
    Case(
        "forged event pushed",
        "server",
        push(lambda w: proto.frame(proto.EVENT, forge(OTHER, author=w.sv_key.public))),
        "400",
    ),
    Case(
        "end frame that does not match",
        "server",
        push(lambda w: proto.frame(proto.END, proto.End(3, 0).encode())),
        "400",
    ),
    Case(
        "hello for another network",
        "server",
        hello_to(lambda w: hello_frame(w.other_net)),
        "400",
    ),
    Case("a stranger connects", "server", hello_to(lambda w: b"", member="stranger"), "handshake"),
    Case("a revoked member connects", "server", hello_to(lambda w: b"", member="za"), "handshake"),
    Case("stalled peer", "server", stalled, "400"),
    Case("slow peer", "server", slow, "408"),
]


@pytest.mark.parametrize("case", [c for c in CASES if c.entry != "server"], ids=lambda c: c.name)
def test_bad_input(case: Case, world: World) -> None:
    if case.entry == "decode":
        assert decode(case.make(world)) == case.expect
    elif case.entry == "frames":
        assert frames(case.make(world)) == case.expect
    else:
        with world.receiver(case.name.replace(" ", "-").replace(":", "")) as node:
            before = {e.id for e in node.store.events()}
            result = node.ingest(case.make(world))
            assert outcome(result) == case.expect, result.summary()
            assert node.verify() == []
            after = {e.id for e in node.store.events()}
            assert before <= after  # nothing stored before is lost
            if result.refused:
                assert after == before


@pytest.mark.parametrize("case", [c for c in CASES if c.entry == "server"], ids=lambda c: c.name)
async def test_bad_input_to_a_running_server(case: Case, world: World) -> None:
    with world.receiver(f"server-{case.name.replace(' ', '-')}") as node:
        before = node.store.count()
        limits = sync.Timeouts(read=0.3, request=1.0)
        daemon = Daemon(
            node, world.la.keys, host="127.0.0.1", port=0, interval=3600.0, timeouts=limits
        )
        await daemon.start()
        try:
            assert await case.make(world, daemon.url) == case.expect
            # the node keeps serving members (the offender is backed off, not others)
            daemon.server.penalties.pop(world.sv.keys.node_id, None)
            member = sync.Sync(world.sv.node, world.sv.keys)
            async with sync.client_session(member) as session:
                await sync.sync_with(member, session, daemon.url)
        finally:
            await daemon.stop()
        assert node.verify() == []
        assert node.store.count() >= before
