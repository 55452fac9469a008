"""A round stopped by its own time limit (REQUEST_TIME) keeps the whole frames that came,
as a broken connection does: a link too slow to carry a whole batch in one round still
makes progress round after round."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bench.texts import report_text
from node import sync
from protocol.kinds import POSTABLE
from tests.net import close_all, make_network

HOLD_AFTER = 120_000  # bytes from the server before the relay holds the rest


async def _relay(target: int) -> tuple[asyncio.Server, int, list[asyncio.Task[None]]]:
    """A loopback relay that passes the server's first HOLD_AFTER bytes, then holds the
    rest without closing anything (a link that has gone silent)."""
    tasks: list[asyncio.Task[None]] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cap: int) -> None:
        sent = 0
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(16384):
                if sent + len(data) > cap:
                    data = data[: max(0, cap - sent)]
                    writer.write(data)
                    await writer.drain()
                    await asyncio.Event().wait()  # hold for ever
                sent += len(data)
                writer.write(data)
                await writer.drain()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        tasks.append(asyncio.create_task(pump(reader, up_writer, 1 << 40)))
        tasks.append(asyncio.create_task(pump(up_reader, writer, HOLD_AFTER)))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], tasks


async def test_a_round_cut_by_its_time_limit_keeps_what_came(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    spec = POSTABLE["report"]
    texts = [report_text(i) for i in range(600)]
    la.node.post(
        la.keys,
        [("report", spec.build({"title": t, "body": b})) for t, b in texts],
    )
    limits = sync.Timeouts(request=3.0)
    await la.start()
    assert la.daemon is not None
    la.daemon.sync.timeouts = limits  # the server's requests too
    server, port, tasks = await _relay(la.daemon.port)
    before = sv.node.store.count()
    try:
        service = sync.Sync(sv.node, sv.keys, limits)
        async with sync.client_session(service) as session:
            with pytest.raises(sync.PeerRefused, match="took longer than 3 s"):
                await sync.sync_with(service, session, f"https://127.0.0.1:{port}")
        kept = sv.node.store.count() - before
        # about 120 kB of the coded stream (zstd: about 410 B for each 1.1 kB event)
        # came before the link went silent: all whole frames of it are kept, though no
        # batch (2,000 events) was full
        assert 50 < kept < 600
        assert sv.node.verify() == []
    finally:
        for task in tasks:
            task.cancel()
        server.close()
        await la.stop()
        close_all(members)
