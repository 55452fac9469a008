"""atheris: the sync endpoint of a running node. Los Angeles's node serves on
127.0.0.1 with real mutual TLS (a Daemon on an event loop in a thread); San Salvador, a
member, sends it mutated request bodies: the first byte picks /push or /sync, the rest
is the body. Meanwhile Mumbai, another member, posts and syncs with the same node in a
loop.

A crash is: an answer other than 200, 400 or 408 (a 500 is an unexpected exception in
the server), a request that does not finish, Mumbai failing to sync, ``verify`` failing,
or an event stored that was never valid. The process's memory is printed as it goes
(the campaign runner reads it).

    .venv/bin/python tests/fuzz/fuzz_sync.py -max_total_time=300 /tmp/corpus-sync
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import _common
import atheris

with atheris.instrument_imports(  # the modules that take a peer's bytes in
    include=[
        "protocol",
        "node.sync",
        "node.sync_base",
        "node.sync_server",
        "node.intake",
        "node.service",
    ]
):
    from node import sync
    from protocol import sync as proto
    from protocol.frontier import Frontier

from tests.net import make_network

progress = _common.Progress("sync")
LOOP = asyncio.new_event_loop()
threading.Thread(target=LOOP.run_forever, daemon=True).start()
WORK = Path(tempfile.mkdtemp(prefix="fuzz-sync-"))
LA, SV, IN = make_network(WORK, ["Los Angeles", "San Salvador", "Mumbai"])
SEEDED = [SV.node.post(SV.keys, [("report", {"v": 1, "title": f"r{i}"})])[0] for i in range(6)]
VALID = {e.id for e in LA.node.store.events()} | {e.id for e in SEEDED}
STATE: dict[str, Any] = {"other_ok": 0, "other_failed": 0, "other_error": ""}
TASKS: set[asyncio.Task[None]] = set()


def run(coro: Any, timeout: float = 60.0) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, LOOP).result(timeout)


async def start() -> tuple[Any, Any, Any]:
    await LA.start()
    client = sync.Sync(SV.node, SV.keys)
    session = sync.client_session(client)
    TASKS.add(LOOP.create_task(other_member()))
    return client, session, LA.daemon


async def other_member() -> None:
    """Mumbai posts and syncs with Los Angeles all through the campaign."""
    service = sync.Sync(IN.node, IN.keys)
    n = 0
    while True:
        n += 1
        if n % 10 == 0:
            IN.post(f"from Mumbai {n}")
            VALID.add(IN.node.store.head(IN.keys.node_id).id)  # type: ignore[union-attr]
        try:
            async with sync.client_session(service) as session:
                await sync.sync_with(service, session, LA.url)
            STATE["other_ok"] += 1
        except Exception as e:
            STATE["other_failed"] += 1
            STATE["other_error"] = repr(e)
        await asyncio.sleep(0.2)  # a member's pace between rounds, not a wait for a result


CLIENT, SESSION, DAEMON = run(start())


def seeds() -> list[bytes]:
    hello = proto.frame(proto.HELLO, proto.Hello(LA.node.network, Frontier()).encode())
    events = b"".join(proto.frame(proto.EVENT, e.raw) for e in SEEDED)
    end = proto.frame(proto.END, proto.End(len(SEEDED), 0).encode())
    return [b"\x00" + events + end, b"\x01" + hello, b"\x00" + events[:300] + end]


async def send(route: str, body: bytes) -> int:
    DAEMON.server.penalties.clear()  # each input is judged on its own
    async with SESSION.post(LA.url + sync.PREFIX + route, data=body) as response:
        await response.read()
        return response.status


def test_one_input(data: bytes) -> None:
    if not data:
        return
    route = "/push" if data[0] % 2 == 0 else "/sync"
    status = run(send(route, data[1:]))
    if status not in (200, 400, 408):
        raise AssertionError(f"the server answered {status} to {route}")
    if progress.tick():
        check()


def check() -> None:
    async def inspect() -> tuple[list[Any], set[bytes]]:
        return LA.node.verify(), {e.id for e in LA.node.store.events()}

    faults, stored = run(inspect())
    if faults:
        raise AssertionError(f"verify fails: {faults[0]}")
    if not stored <= VALID:
        raise AssertionError(f"{len(stored - VALID)} events stored that were never valid")
    if STATE["other_failed"]:
        raise AssertionError(f"the other member could not sync: {STATE['other_error']}")
    progress.figures.update(stored=len(stored), other_syncs=STATE["other_ok"])


if __name__ == "__main__":
    _common.seed(sys.argv, seeds())
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
