"""Sync bodies coded with zstd (node/coding.py; docs/PROTOCOL.md §10.2, "Content
coding"): negotiated by the hello and Accept-Encoding, used only when it pays, never
with an older node, decoded a step at a time within the limits of an uncoded body.

The parts that decode are driven with real zstd bytes, among them bombs built block by
block (4 GiB of zeros in 128 KiB); the rest with real nodes on 127.0.0.1 over mutual
TLS, one of them a ``commune serve`` process whose memory is read from /proc.

Why this module is long: a coding is tested whole in one place, both directions, old
and new peers on either side, and a bomb for each limit it must meet."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.texts import report_text
from node import coding, daemon, private, sync
from protocol import sync as proto
from protocol.kinds import POSTABLE
from tests.faultproxy import FaultProxy, Faults
from tests.net import Member, close_all, free_port, make_network, serve_process

GiB = 2**30
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def reports(m: Member, n: int, start: int = 0) -> list[bytes]:
    """``n`` reports of about 1.1 KB of prose by ``m`` (bench/texts.py); their ids."""
    spec = POSTABLE["report"]
    items = []
    for i in range(start, start + n):
        title, body = report_text(i)
        items.append(("report", spec.build({"title": title, "body": body})))
    return [e.id for e in m.node.post(m.keys, items)]  # type: ignore[arg-type]


def zstd_blocks(*blocks: tuple[str, bytes | int, int]) -> bytes:
    """A zstd frame (RFC 8878) of raw blocks ("raw", data, 0) and run-length blocks
    ("rle", byte, count): a bomb costs 4 bytes for each 128 KiB it expands to."""
    out = bytearray(ZSTD_MAGIC + b"\x00\x38")  # no content size; a 128 KiB window
    for i, (kind, data, count) in enumerate(blocks):
        last = int(i == len(blocks) - 1)
        if kind == "raw":
            assert isinstance(data, bytes)
            out += ((len(data) << 3) | last).to_bytes(3, "little") + data
        else:
            assert isinstance(data, int)
            out += ((count << 3) | 2 | last).to_bytes(3, "little") + bytes([data])
    return bytes(out)


def zeros(size: int, prefix: bytes = b"") -> bytes:
    """A zstd frame of ``prefix``, then ``size`` zero bytes."""
    step = 128 * 1024
    blocks: list[tuple[str, bytes | int, int]] = [("raw", prefix, 0)] if prefix else []
    blocks += [("rle", 0, step)] * (size // step)
    return zstd_blocks(*blocks)


def pieces(data: bytes, size: int) -> coding.Read:
    """A body arriving ``size`` bytes at a time, as aiohttp's readany gives it."""
    chunks: Iterator[bytes] = (data[i : i + size] for i in range(0, len(data), size))

    async def read() -> bytes:
        return next(chunks, b"")

    return read


async def drain(decoding: coding.Decoding) -> tuple[bytes, int, proto.SyncError | None]:
    """What a body decodes to, the largest step handed on, and its refusal, if any."""
    out, largest = bytearray(), 0
    try:
        while data := await decoding.read():
            out += data
            largest = max(largest, len(data))
    except proto.SyncError as e:
        return bytes(out), largest, e
    return bytes(out), largest, None


async def decode_all(body: bytes, piece: int = 1000) -> tuple[bytes, int]:
    """The whole body decoded, and the largest step handed on; SyncError if refused."""
    out, largest, error = await drain(coding.Decoding(pieces(body, piece), coding.ZSTD))
    if error is not None:
        raise error
    return out, largest


# --- the parts, on their own ------------------------------------------------------------


def test_accept_encoding_is_read_with_its_weights() -> None:
    assert coding.accepted("zstd") == {"zstd"}
    assert coding.accepted("gzip, deflate") == {"gzip", "deflate"}
    assert coding.accepted("ZSTD;q=0.5, gzip;q=0, br; q=0.0") == {"zstd"}
    assert coding.accepted("zstd;q=nonsense") == set()
    assert coding.accepted("") == coding.accepted(None) == set()
    # the hello and the header must both name it; the header alone proves nothing
    assert coding.common(["zstd"], ["zstd"], "zstd") == ["zstd"]
    assert coding.common([], ["zstd"], "gzip, deflate, zstd") == []
    assert coding.common(["zstd"], ["zstd"], "") == []
    assert coding.common(["gzip", "zstd"], ["zstd"]) == ["zstd"]


def test_a_body_is_coded_only_when_it_pays() -> None:
    text = " ".join(report_text(i)[1] for i in range(20)).encode()
    small = text[: coding.SMALLEST - 1]
    noise = os.urandom(64 * 1024)  # as sealed events are: ciphertext
    assert coding.start(small, ["zstd"]) == (None, small)
    assert coding.start(noise, ["zstd"]) == (None, noise)
    assert coding.start(text, []) == (None, text)
    encoding, first = coding.start(text, ["zstd"])
    assert encoding is not None
    assert first.startswith(ZSTD_MAGIC)
    assert len(first) < 0.5 * len(text)


async def test_a_coded_body_decodes_in_any_pieces_a_step_at_a_time() -> None:
    text = " ".join(report_text(i)[1] for i in range(400)).encode()
    encoding = coding.Encoding(coding.ZSTD)
    body = encoding.encode(text[:100_000]) + encoding.encode(text[100_000:]) + encoding.end()
    for piece in (1, 7, 4096, len(body)):
        decoded, largest = await decode_all(body, piece)
        assert decoded == text
        assert largest <= coding.STEP
    # two frames one after the other are one body (RFC 8878 §3)
    again = coding.Encoding(coding.ZSTD)
    decoded, _ = await decode_all(body + again.encode(b"more") + again.end())
    assert decoded == text + b"more"


async def test_each_flushed_slice_decodes_before_the_rest_arrives() -> None:
    """What a broken stream keeps: every slice of FLUSH_EVERY bytes whose coded bytes
    all came decodes, without the end of the write it belongs to."""
    text = " ".join(report_text(i)[1] for i in range(100)).encode()[: 64 * 1024]
    encoding = coding.Encoding(coding.ZSTD)
    body = encoding.encode(text)
    first = coding.Encoding(coding.ZSTD).encode(text[: coding.FLUSH_EVERY])
    assert body.startswith(first)  # the first slice's bytes, whatever follows
    got, _, error = await drain(coding.Decoding(pieces(first, 100), coding.ZSTD))
    assert got == text[: coding.FLUSH_EVERY]
    assert error is not None
    assert error.message == "the peer's coded body ended inside a zstd frame"


async def test_a_bomb_is_decoded_a_step_at_a_time_and_refused_past_1024_fold() -> None:
    bomb = zeros(4 * GiB)
    assert len(bomb) < 140_000  # 4 GiB in 128 KiB
    decoding = coding.Decoding(pieces(bomb, 16 * 1024), coding.ZSTD)
    _, largest, error = await drain(decoding)
    assert error is not None
    assert error.message == "the peer's coded body expands more than 1024-fold"
    assert largest <= coding.STEP
    assert decoding.decoded <= coding.MAX_EXPANSION * decoding.coded + coding.SLACK


async def test_a_cut_or_corrupt_coded_body_is_refused() -> None:
    text = " ".join(report_text(i)[1] for i in range(50)).encode()
    encoding = coding.Encoding(coding.ZSTD)
    body = encoding.encode(text) + encoding.end()
    with pytest.raises(proto.SyncError, match="ended inside a zstd frame"):
        await decode_all(body[:-10])
    with pytest.raises(proto.SyncError, match="does not decode"):
        await decode_all(body + b"junk after the end")
    with pytest.raises(proto.SyncError, match="does not decode"):
        await decode_all(ZSTD_MAGIC + b"\x00\x7f" + bytes(100))  # a 60 MiB window
    assert coding.coding_of(None, ["zstd"]) is None
    assert coding.coding_of("identity", ["zstd"]) is None
    with pytest.raises(proto.SyncError, match="'gzip', not decoded here"):
        coding.coding_of("gzip", ["zstd"])


# --- real nodes -------------------------------------------------------------------------


def plain_size(m: Member, ids: list[bytes]) -> int:
    events = (m.node.store.get(i) for i in ids)
    return sum(len(proto.frame(proto.EVENT, e.raw)) for e in events if e is not None)


async def test_nodes_code_the_pull_and_the_push_and_converge(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"], roomy=True)
    pulled = reports(la, 300)
    pushed = reports(sv, 100, start=1000)
    try:
        daemon = await la.start()
        served: list[sync.Stats] = []
        daemon.server.on_served = lambda _p, _r, stats, _e="": served.append(stats)  # type: ignore[arg-type,misc]
        service = sync.Sync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, la.url)
        assert (stats.received, stats.sent) == (300, 100)
        assert stats.bytes_received < 0.5 * plain_size(la, pulled)
        push = served[-1]
        assert push.received == 100
        assert push.bytes_received < 0.5 * plain_size(sv, pushed)
        assert sv.state() == la.state()
        assert sv.node.verify() == la.node.verify() == []
        # in step: the next rounds are as small as ever (full hellos, then short ones:
        # under 512 bytes, never coded)
        async with sync.client_session(service) as session:
            full = await sync.sync_with(service, session, la.url)
            short = await sync.sync_with(service, session, la.url)
        assert full.bytes_sent + full.bytes_received < 500
        assert short.bytes_sent + short.bytes_received == 90 + 109
    finally:
        await la.stop()
        close_all(members)


async def test_sealed_contacts_cross_coded_or_not_as_it_pays_and_open(tmp_path: Path) -> None:
    """Sealed events are ciphertext: a stream of long ones is sent as it is; one of
    contacts of about 1 KB still shrinks by an eighth (their envelopes repeat) and is
    coded. Either way the reader opens every contact."""
    la, sv, za = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Johannesburg"], roomy=True
    )
    spec = POSTABLE["contact"]

    def contacts(size: int, start: int) -> list[bytes]:
        readers = private.recipients(la.node, la.keys, ("San Salvador", "Johannesburg"))
        items = []
        for i in range(start, start + 60):
            name, notes = report_text(i, size)
            payload = spec.build({"name": name, "phone": f"+27 82 555 {i:04d}", "notes": notes})
            items.append(private.seal_item(la.node, la.keys, "contact", payload, readers))
        return [e.id for e in la.node.post(la.keys, items)]

    short = contacts(300, 0)
    try:
        await la.start()
        service = sync.Sync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, la.url)
        assert stats.received == len(short)
        assert stats.bytes_received < 0.9 * plain_size(la, short)  # coded
        other = sync.Sync(za.node, za.keys)
        async with sync.client_session(other) as session:
            await sync.sync_with(other, session, la.url)  # the short ones
            long = contacts(1500, 100)
            stats = await sync.sync_with(other, session, la.url)
        assert stats.received == len(long)
        assert stats.bytes_received >= plain_size(la, long)  # as it is
        names = {report_text(i, 300)[0] for i in range(60)}
        assert {c["name"] for c in private.items(sv.node, sv.keys, "contact")} == names
        opened = {c["name"] for c in private.items(za.node, za.keys, "contact")}
        assert opened == names | {report_text(i, 1500)[0] for i in range(100, 160)}
    finally:
        await la.stop()
        close_all(members)


async def _pull(
    service: sync.Sync, url: str, hello: proto.Hello, **kw: object
) -> tuple[str, bytes]:
    """A raw /sync request with ``hello``: the answer's Content-Encoding and body."""
    async with (
        sync.client_session(service) as session,
        session.post(
            url + sync.PREFIX + "/sync",
            data=proto.frame(proto.HELLO, hello.encode()),
            **kw,  # type: ignore[arg-type]
        ) as response,
    ):
        assert response.status == 200
        return response.headers.get("Content-Encoding", ""), await response.read()


async def test_an_older_client_gets_the_answer_it_always_got(tmp_path: Path) -> None:
    """An older node lists no coding in its hello while its HTTP library sends
    Accept-Encoding: gzip, deflate (and zstd on Python 3.14): never coded for. A hello
    that lists zstd without the header is not coded for either; with both, it is."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"], roomy=True)
    reports(la, 100)
    try:
        await la.start()
        older = sync.Sync(sv.node, sv.keys, codings=())
        hello = older.hello()
        assert hello.codings == ()
        assert b"codings" not in hello.encode()  # an older node's hello, byte for byte
        plain = (await _pull(older, la.url, hello))[1]
        assert plain[:1] in (b"\xc4", b"\xc5")  # frames from the first byte
        for header in ("gzip, deflate", "gzip, deflate, br, zstd"):
            assert await _pull(older, la.url, hello, headers={"Accept-Encoding": header}) == (
                "",
                plain,
            )
        newer = proto.Hello(hello.network, hello.frontier, hello.forks, codings=("zstd",))
        no_header = await _pull(older, la.url, newer, skip_auto_headers=["Accept-Encoding"])
        assert no_header == ("", plain)
        coded, body = await _pull(older, la.url, newer, headers={"Accept-Encoding": "zstd"})
        assert coded == "zstd"
        assert body.startswith(ZSTD_MAGIC)
        assert len(body) < 0.5 * len(plain)
        assert (await decode_all(body))[0] == plain
        # and a whole round of an older client works as before
        async with sync.client_session(older) as session:
            stats = await sync.sync_with(older, session, la.url)
        assert stats.received == 100
        assert stats.bytes_received >= len(plain) - 200  # not coded
        assert sv.state() == la.state()
    finally:
        await la.stop()
        close_all(members)


async def test_a_newer_client_with_an_older_server(tmp_path: Path) -> None:
    """A server that lists no coding (an older node) is neither asked for a coded
    answer nor sent a coded push (it would refuse one: 415)."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"], roomy=True)
    reports(la, 100)
    pushed = reports(sv, 100, start=500)
    try:
        daemon = await la.start()
        daemon.sync.codings = ()
        served: list[sync.Stats] = []
        daemon.server.on_served = lambda _p, _r, stats, _e="": served.append(stats)  # type: ignore[arg-type,misc]
        service = sync.Sync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            stats = await sync.sync_with(service, session, la.url)
            assert (stats.received, stats.sent) == (100, 100)
            assert served[-1].bytes_received >= plain_size(sv, pushed)  # not coded
            async with session.post(
                la.url + sync.PREFIX + "/push",
                data=zeros(1024 * 1024),
                headers={"Content-Encoding": "zstd"},
            ) as response:
                assert response.status == 415
                assert "'zstd', not decoded here" in await response.text()
        assert sv.state() == la.state()
    finally:
        await la.stop()
        close_all(members)


async def test_a_coded_transfer_cut_keeps_every_whole_event_and_resumes(tmp_path: Path) -> None:
    """The link is cut halfway through a coded pull: the receiver keeps every event that
    arrived whole and decodable, and the next round brings the rest, none twice."""
    la, sv, lagos = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Lagos"], roomy=True
    )
    posted = reports(la, 600)
    total = len(posted)
    try:
        daemon = await la.start()
        proxy = await FaultProxy(("127.0.0.1", daemon.port), random.Random(1)).start()
        try:
            service = sync.Sync(sv.node, sv.keys)
            async with sync.client_session(service) as session:
                whole = await sync.sync_with(service, session, proxy.url)
            assert whole.received == total
            coded = whole.bytes_received
            assert coded < 0.5 * plain_size(la, posted)
            # the same transfer to another node, cut halfway through its bytes
            proxy.set(Faults(cut_at=coded // 2))
            before = lagos.node.store.count()
            other = sync.Sync(lagos.node, lagos.keys)
            with pytest.raises(sync.PeerRefused):
                async with sync.client_session(other) as session:
                    await sync.sync_with(other, session, proxy.url)
            kept = lagos.node.store.count() - before
            # every event that arrived whole was kept: about half, less the TLS
            # handshake, what was in flight and the slice cut in half (8 KiB)
            assert 0.3 * total < kept < total
            assert lagos.node.verify() == []
            proxy.set(Faults())
            async with sync.client_session(other) as session:
                rest = await sync.sync_with(other, session, proxy.url)
            assert rest.received == total - kept
            assert rest.known == 0  # nothing came twice
            assert lagos.state() == la.state()
        finally:
            await proxy.stop()
    finally:
        await la.stop()
        close_all(members)


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


async def _push(m: Member, url: str, body: bytes) -> tuple[int, str]:
    """A member pushes ``body``, coded with zstd: the answer's status and text."""
    service = sync.Sync(m.node, m.keys)
    async with (
        sync.client_session(service) as session,
        session.post(
            url + sync.PREFIX + "/push", data=body, headers={"Content-Encoding": "zstd"}
        ) as response,
    ):
        return response.status, await response.text()


def _frames(m: Member, ids: list[bytes]) -> bytes:
    events = [m.node.store.get(i) for i in ids]
    return b"".join(proto.frame(proto.EVENT, e.raw) for e in events if e is not None)


async def test_bombs_and_corrupt_bodies_are_refused_and_the_node_keeps_serving(
    tmp_path: Path,
) -> None:
    """A ``commune serve`` takes pushes that expand to gigabytes, or do not decode: each
    is one clear refusal (400, with what was wrong), what came whole before the bad
    part is kept and nothing of it, the server's memory stays flat, and it goes on
    serving its members."""
    names = ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg", "Lagos", "Quito"]
    la, sv, mumbai, joburg, lagos, quito = members = make_network(tmp_path, names, roomy=True)
    good = reports(sv, 40)  # before its bomb, events the server lacks
    corrupt = reports(lagos, 300, start=100)
    quito.post("after the bombs")
    for m in members:
        m.node.close()
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = serve_process(la.home.path, port)
    try:
        for m in members[1:]:
            m.node = type(m.node).open(m.home)
        rss = _status(server.pid, "VmRSS")
        # 4 GiB of zeros after whole events: those are kept, the zeros are refused at once
        status, text = await _push(sv, url, zeros(4 * GiB, _frames(sv, good)))
        assert (status, text) == (400, "a frame starts with byte 0x00, not a bin header")
        # one frame that says it holds 4 GiB: refused by the frame limit, unbuffered
        header = b"\xc6\xff\xff\xff\xff" + proto.EVENT
        status, text = await _push(mumbai, url, zeros(4 * GiB, header))
        assert (status, text) == (400, "a E frame of 4294967294 bytes; at most 65536")
        # frames of the largest size, of zeros: refused at the first batch (2 MiB)
        frame = b"\xc6" + (65_537).to_bytes(4, "big") + proto.EVENT
        blocks: list[tuple[str, bytes | int, int]] = []
        for _ in range(40_000):
            blocks += [("raw", frame, 0), ("rle", 0, 65_536)]
        status, text = await _push(joburg, url, zstd_blocks(*blocks))
        assert status == 400
        assert text.startswith("the peer sent an invalid event (")
        # a coded body damaged in the middle
        encoding = coding.Encoding(coding.ZSTD)
        body = bytearray(encoding.encode(_frames(lagos, corrupt)) + encoding.end())
        for i in range(len(body) // 2, len(body) // 2 + 8):
            body[i] ^= 0x5A
        status, text = await _push(lagos, url, bytes(body))
        assert status == 400
        assert "does not decode" in text or "invalid event" in text, text
        grown = _status(server.pid, "VmHWM") - rss
        assert grown < 64 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"
        # it goes on serving: a member's round brings everything it kept
        results = await daemon.sync_once(quito.node, quito.keys, [url])
        assert results[0][2] is None, results
    finally:
        server.terminate()
        server.wait(10)
        close_all(members)
    la.node = type(la.node).open(la.home)
    try:
        assert la.node.verify() == []
        assert all(la.node.store.get(i) is not None for i in good)
        kept = [i for i in corrupt if la.node.store.get(i) is not None]
        assert kept == corrupt[: len(kept)]  # what came before the damage, in order
        assert len(kept) < len(corrupt)
        assert la.titles() >= {"after the bombs"}
    finally:
        la.node.close()


async def test_a_member_serving_a_bomb_is_refused_by_the_client(tmp_path: Path) -> None:
    """The client's side: a hostile member (a real TLS server with its key) answers a
    pull with a coded bomb, or in a coding it was not offered: one clear refusal each,
    and the client's memory bounded (it decodes 64 KiB at a time)."""
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"], roomy=True)
    hostile = sync.Sync(la.node, la.keys)
    hello = proto.frame(proto.HELLO, hostile.hello().encode())
    answers = {
        "bomb": ("zstd", zeros(4 * GiB, hello)),
        "brotli": ("br", b"whatever"),
    }
    answer = ["bomb"]

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        coded, body = answers[answer[0]]
        return web.Response(
            body=body,
            headers={"Content-Type": "application/x-commune-sync", "Content-Encoding": coded},
        )

    app = web.Application()
    app.router.add_post(sync.PREFIX + "/sync", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=hostile.context(server=True))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}"
    try:
        service = sync.Sync(sv.node, sv.keys)
        before = sv.node.store.count()
        with pytest.raises(sync.PeerRefused, match="a frame starts with byte 0x00"):
            async with sync.client_session(service) as session:
                await sync.sync_with(service, session, url)
        answer[0] = "brotli"
        with pytest.raises(sync.PeerRefused, match="'br', not decoded here"):
            async with sync.client_session(service) as session:
                await sync.sync_with(service, session, url)
        assert sv.node.store.count() == before
    finally:
        await runner.cleanup()
        close_all(members)
