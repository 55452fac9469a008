"""Short hellos (docs/PROTOCOL.md §10.3): a round between peers that were in step at the
end of the last one costs one small exchange, whatever the number of authors; anything
new on either side still goes through a full round; a peer that does not understand
short hellos is never sent one."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import records, sync
from protocol import sync as proto
from protocol.errors import SyncError
from protocol.frontier import Frontier
from protocol.kinds import member
from tests.helpers import feed, fixed_key
from tests.net import close_all, make_network

NETWORK = bytes(range(32))


def test_a_short_hello_round_trips_and_a_mixed_one_is_refused() -> None:
    author = fixed_key(3).public
    full = proto.Hello(NETWORK, Frontier({author: (4, bytes(32))}), frozenset({bytes(32)}))
    decoded = proto.Hello.decode(full.encode())
    assert decoded == full
    assert decoded.accepts_short
    short = full.short()
    assert short.digest == full.summary()
    assert len(short.encode()) < 90  # whatever the number of authors
    again = proto.Hello.decode(short.encode())
    assert again.digest == full.summary()
    assert again.summary() == full.summary()
    assert len(again.frontier) == 0
    # the summary covers every head and every fork id
    other = proto.Hello(NETWORK, Frontier({author: (5, bytes(32))}), frozenset({bytes(32)}))
    assert other.summary() != full.summary()
    assert proto.Hello(NETWORK, full.frontier).summary() != full.summary()
    # an older node's hello (no "short" key) is read as not understanding them
    older = proto.Hello(NETWORK, full.frontier, accepts_short=False)
    assert not proto.Hello.decode(older.encode()).accepts_short
    mixed = short.encode()[:-1]  # cut: not canonical
    with pytest.raises(SyncError):
        proto.Hello.decode(mixed)
    with pytest.raises(SyncError, match="32-byte digest"):
        proto.Hello.decode(proto.encoding.encode({"v": 1, "network": NETWORK, "digest": b"x"}))
    with pytest.raises(SyncError, match="both a digest and a frontier"):
        proto.Hello.decode(
            proto.encoding.encode(
                {"v": 1, "network": NETWORK, "digest": bytes(32), "frontier": [], "forks": []}
            )
        )


async def round_(a, b) -> sync.Stats:  # type: ignore[no-untyped-def]
    return await sync.sync_with(a.service, a.session, b.url)


async def test_in_step_rounds_are_short_and_news_still_arrives(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    # fifty authors' feeds on both sides, so a full hello is large
    authors = [fixed_key(100 + i) for i in range(50)]
    admits = [
        (member.ADMIT, member.action_payload(member.Admit(k.public, f"m{i}", bytes(32), False)))
        for i, k in enumerate(authors)
    ]
    la.node.post(la.keys, admits)
    for key in authors:
        la.node.ingest([e.raw for e in feed(key, 1, network=la.node.network)])
    assert len(la.node.store.heads()) == 51  # LA and the fifty
    la.post("before")
    await la.start()
    service = sync.Sync(sv.node, sv.keys)
    try:
        async with sync.client_session(service) as session:
            first = await sync.sync_with(service, session, la.url)
            assert first.received > 50  # LA's admissions, the fifty feeds and its report
            assert la.url in service.in_step
            await sync.sync_with(service, session, la.url)  # SV now names them all
            full_bytes = len(proto.frame(proto.HELLO, service.hello().encode()))
            assert full_bytes > 50 * 60  # a full hello names every author

            served = records.served_records(la.node.store)[sv.node.node_id.hex()]
            calls = served["requests_ok"]
            second = await sync.sync_with(service, session, la.url)
            assert (second.sent, second.received) == (0, 0)
            assert second.bytes_sent < 100
            assert second.bytes_received < 120
            served = records.served_records(la.node.store)[sv.node.node_id.hex()]
            assert served["requests_ok"] == calls + 1  # one request: no push

            # LA writes while SV is not told (no live channel here): the short hello
            # does not match, and a full round in the same call brings the report
            la.post("after")
            third = await sync.sync_with(service, session, la.url)
            assert third.received == 1
            assert "after" in sv.titles()
            # SV writes: its own summary changed, so it starts with a full hello
            sv.post("from SV")
            fourth = await sync.sync_with(service, session, la.url)
            assert fourth.sent == 1
            assert fourth.bytes_sent > full_bytes - 200
            assert "from SV" in la.titles()
            assert la.state() == sv.state()

            # a peer that does not understand short hellos is never sent one
            service.in_step.clear()
            la.daemon.sync.hello = lambda: proto.Hello(  # type: ignore[method-assign]
                la.node.network,
                Frontier({a: (h.seq, h.id) for a, h in la.node.store.heads().items()}),
                accepts_short=False,
            )
            await sync.sync_with(service, session, la.url)
            assert la.url not in service.in_step
            older = await sync.sync_with(service, session, la.url)
            assert older.bytes_sent > full_bytes - 200  # a full hello again
    finally:
        await la.stop()
        close_all(members)
