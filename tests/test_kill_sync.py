"""A node *receiving* a large sync, killed with SIGKILL at random instants: the real
``commune sync`` process pulling from a real ``commune serve`` over mutual TLS, into a
real SQLite file (docs/RELIABILITY.md, "kill -9"). After each kill: ``commune verify``
passes, every event the receiver had committed before the kill is still there, and the
next sync completes to the source's state-hash.

Some cycles also run a writer appending to the receiver's own feed (the one of
tests/test_crash.py) in a second process, and kill both at once: two processes writing
one store, both cut, nothing they committed lost.

A pull of several batches stores the log first and the items follow behind it
(node/projector.py, "Items behind the log"); some kills are aimed at that catch-up,
once the whole log is stored and the items are still behind. After every kill, the
items the node holds once opened again are those a rebuild from its log gives.

tests/test_crash.py kills a writer alone; tests/test_sync.py kills the *sending* side.
Run the long campaign with ``pytest -m long tests/test_kill_sync.py``; set
``COMMUNE_CAMPAIGN_SEED`` to replay one.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from node import cipherdb, daemon
from node.home import Home
from node.projector import ITEMS_UPTO
from node.service import Node
from protocol.kinds import POSTABLE
from tests.helpers import ROOT, commune, read_only_db
from tests.net import Member, close_all, free_port, make_network, serve_process
from tests.test_crash import WRITER


@dataclass
class Report:
    """What a campaign did, for its assertion messages and docs/RELIABILITY.md."""

    seed: int
    events: int
    cycles: int = 0
    #: where each kill landed: before the first batch, mid-pull, after the round
    landed: Counter[str] = field(default_factory=Counter)
    with_writer: int = 0
    writer_acknowledged: int = 0
    #: events committed before a kill, summed over the cycles (all found again)
    committed_before_kills: int = 0
    seconds: float = 0.0


def committed_ids(home: Home) -> dict[bytes, bytes]:
    """Id → author of every event in the store's committed state, read by a separate
    read-only connection (as any other process would see them)."""
    conn = read_only_db(home)
    try:
        return {bytes(i): bytes(a) for i, a in conn.execute("SELECT id, author FROM events")}
    finally:
        conn.close()


def stored_count(home: Home) -> int:
    if not home.store_path.exists():
        return 0
    conn = read_only_db(home)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except cipherdb.sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def items_mark(home: Home) -> str | None:
    """How far the items hold the log (node/projector.py ITEMS_UPTO), None when they
    hold all of it, as another process reads it."""
    if not home.store_path.exists():
        return None
    conn = read_only_db(home)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (ITEMS_UPTO,)).fetchone()
        return None if row is None else str(row[0])
    except cipherdb.sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def projections(node: Node) -> list[object]:
    """Everything the items hold: each item (with the list keys beside a dated one),
    the counts, the search index's rows."""
    return [
        node.store.execute(
            "SELECT kind, id, author, ts, visible, state, dated_key, open FROM items "
            "ORDER BY kind, id"
        ),
        node.store.execute("SELECT kind, visible FROM item_counts ORDER BY kind"),
        node.store.execute("SELECT rowid FROM item_text ORDER BY rowid"),
        node.store.execute("SELECT id, kind FROM unreadable ORDER BY id"),
    ]


def build_source(tmp_path: Path, receivers: int, events: int) -> list[Member]:
    """Los Angeles holds ``events`` reports of about 1 KB; one fresh member per cycle
    receives them (each its own identity, so a writer's feed never meets an older copy)."""
    members = make_network(tmp_path, ["Los Angeles", *(f"Receiver {i}" for i in range(receivers))])
    la = members[0]
    spec = POSTABLE["report"]
    for block in range(0, events, 2000):
        la.node.post(
            la.keys,
            [
                ("report", spec.build({"title": f"{block + i}", "body": "x" * 900}))
                for i in range(min(2000, events - block))
            ],
        )
    return members


def kill_cycle(
    rng: random.Random,
    receiver: Member,
    url: str,
    source_count: int,
    source_state: bytes,
    source_home: Path,
    writer: bool,
    report: Report,
    starting: bool = False,
    catching_up: bool = False,
) -> tuple[int, bytes]:
    """One cycle; the number of events and the state-hash both ends reach. ``starting``:
    the kill lands while the process starts, before it can have stored anything;
    ``catching_up``: once the whole log is stored and the items are still behind it."""
    home = receiver.home
    start_count = stored_count(home)
    errors = home.path.parent / f"{home.path.name}-sync.err"
    with errors.open("w") as stderr:
        sync = subprocess.Popen(
            [sys.executable, "-m", "node", "--home", str(home.path), "sync", "--peer", url],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    writing = None
    if writer:
        writing = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home.path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
    # A random instant: mostly in the middle of the pull (once a random share of the log
    # has arrived, then a little more), sometimes while the process starts or shakes hands
    # (within 0.1 s of its start when ``starting``: Python alone takes longer to import
    # what the command needs, however fast the machine).
    if catching_up:
        deadline = time.monotonic() + 120
        while sync.poll() is None and not (
            stored_count(home) >= source_count and items_mark(home) is not None
        ):
            assert time.monotonic() < deadline, "the receiver made no progress in 120 s"
            time.sleep(0.005)
    elif starting or rng.random() < 0.2:
        time.sleep(rng.uniform(0.0, 0.1 if starting else 1.0))
    else:
        target = start_count + rng.randrange(source_count - start_count)
        deadline = time.monotonic() + 120
        while stored_count(home) < target and sync.poll() is None:
            assert time.monotonic() < deadline, "the receiver made no progress in 120 s"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
    committed = committed_ids(home)  # a lower bound: all of it must survive the kill
    behind = items_mark(home) is not None  # the items were behind the log before the kill
    victims = [p for p in (sync, writing) if p is not None]
    rng.shuffle(victims)
    ended = [p.poll() for p in victims]  # before the kill, a process may only have finished
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    finished = sync.wait() == 0
    assert all(code in (None, 0) for code in ended), (
        f"a process died by itself before the kill (exit codes {ended}; -7 is SIGBUS): "
        + errors.read_text()[-600:]
    )
    acknowledged: dict[int, str] = {}
    if writing is not None:
        assert writing.stdout is not None
        out = writing.stdout.read()
        writing.wait()
        for line in out.split("\n")[:-1]:  # whole lines only: the kill may cut the last
            number, event_id = line.split()
            acknowledged[int(number)] = event_id
    pulled = sum(1 for author in committed.values() if author != receiver.keys.node_id)
    report.landed[
        "after the round ended"
        if finished
        else "during the items' catch-up"
        if pulled == source_count and behind
        else "after the pull"
        if pulled == source_count
        else "mid-pull"
        if pulled > start_count
        else "before any batch"
    ] += 1
    report.committed_before_kills += len(committed)
    report.writer_acknowledged += len(acknowledged)
    report.with_writer += writer

    # After the restart: the log checks out, and nothing committed is missing.
    checked = commune(home.path, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with Node.open(home) as node:
        now = {bytes(r[0]) for r in node.store.execute("SELECT id FROM events")}
        lost = committed.keys() - now
        assert not lost, f"{len(lost)} committed events lost"
        # Opened, the node's items hold its whole log, as a rebuild from it gives them.
        assert node.projector.held_upto() is None
        held = projections(node)
        node.rebuild()
        assert projections(node) == held, "the items differ from a rebuild of the log"
        for seq, event_id in acknowledged.items():
            assert node.store.id_at(receiver.keys.node_id, seq) == bytes.fromhex(event_id)
        # The next sync completes, to the source's state.
        results = asyncio.run(daemon.sync_once(node, receiver.keys, [url]))
        assert results[0][1] is not None, results[0][2]
        if not writer:
            assert node.store.count() == source_count  # nothing twice, nothing missing
        count, mine = node.store.count(), node.projector.state_hash()
    if not writer:
        assert mine == source_state
    else:  # the writer's events went to the source too: ask the running source
        code = commune(source_home, "state-hash")
        assert code.returncode == 0, code.stderr
        assert bytes.fromhex(code.stdout.strip()) == mine
    report.cycles += 1
    return count, mine


def run_campaign(
    tmp_path: Path,
    cycles: int,
    events: int,
    writer_every: int,
    seed: int | None = None,
    max_seconds: float | None = None,
) -> Report:
    """``cycles`` kill cycles (fewer if ``max_seconds`` runs out first)."""
    seed = int(os.environ.get("COMMUNE_CAMPAIGN_SEED", seed if seed is not None else 0)) or (
        random.randrange(1, 2**31)
    )
    rng = random.Random(seed)
    report = Report(seed=seed, events=events)
    began = time.monotonic()
    members = build_source(tmp_path, cycles, events)
    la, receivers = members[0], members[1:]
    source_count, source_state = la.node.store.count(), la.state()
    close_all(members)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = serve_process(la.home.path, port)
    try:
        for i, receiver in enumerate(receivers):
            if max_seconds is not None and time.monotonic() - began > max_seconds:
                break
            writer = writer_every > 0 and i % writer_every == writer_every - 1
            try:
                # The first kill lands before any batch, whatever the machine's speed: a
                # campaign never has all its kills after the pull (as a short one could,
                # its log being one batch, when each kill came late by chance).
                source_count, source_state = kill_cycle(
                    rng,
                    receiver,
                    url,
                    source_count,
                    source_state,
                    la.home.path,
                    writer,
                    report,
                    starting=i == 0,
                    catching_up=i % 4 == 1,
                )
            except AssertionError as e:
                raise AssertionError(f"seed {seed}, cycle {i} (writer: {writer}): {e}") from e
            print(f"cycle {i}: {dict(report.landed)}", flush=True)
    finally:
        server.kill()
        server.wait()
    report.seconds = time.monotonic() - began
    print(report)
    return report


def test_kill_nine_while_receiving_a_sync_short(tmp_path: Path) -> None:
    # three batches: the items of the first two follow the log after the pull
    report = run_campaign(tmp_path, cycles=5, events=4500, writer_every=3)
    assert report.cycles == 5
    assert report.landed["mid-pull"] >= 1 or report.landed["before any batch"] >= 1
    assert report.landed["during the items' catch-up"] >= 1, report.landed


@pytest.mark.long
def test_kill_nine_while_receiving_a_sync_long(tmp_path: Path) -> None:
    report = run_campaign(tmp_path, cycles=100, events=20_000, writer_every=4)
    assert report.cycles == 100
    assert report.landed["mid-pull"] >= 50


def main() -> None:
    """The long campaign with a time cap, its figures written to docs/RELIABILITY.md."""
    import argparse  # noqa: PLC0415
    import datetime  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from bench.report import RELIABILITY, write_section  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--writer-every", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_campaign(
            Path(tmp),
            args.cycles,
            args.events,
            args.writer_every,
            seed=args.seed,
            max_seconds=args.minutes * 60,
        )
    landed = ", ".join(f"{n} {where}" for where, n in report.landed.most_common())
    body = f"""
A node **receiving** a large sync is killed with SIGKILL at random instants: the real
`commune sync --peer URL` process pulling from a `commune serve` process over mutual
TLS, into a real SQLite file. In one cycle of {args.writer_every}, a second process
appends to the receiver's own feed (tests/test_crash.py's writer) and both are killed at
once. After each kill: `commune verify` passes; every event committed before the kill
(read from the store by another process just before it) is still there, and every event
the writer had acknowledged; the node opened again holds items equal to what a rebuild
of its log gives (items, counts, search index rows, unreadable events, row by row); the
next sync completes, to the source's state-hash. Each cycle uses a fresh receiver, so
every cycle pulls the whole log. A pull of several batches stores the log first and the
items follow once it ends, a chunk of 2,000 events per transaction with the mark of how
far they hold the log (node/projector.py, "Items behind the log"): one cycle in four
aims its kill at that catch-up, once the whole log is stored and the mark is there.

Command: `.venv/bin/python -m tests.test_kill_sync --cycles {args.cycles} --events \
{args.events} --minutes {args.minutes:g} --seed {report.seed}` (`pytest -m long
tests/test_kill_sync.py` runs 100 cycles without a time cap; CI runs 5 cycles of 4,500
events, three batches, and fails unless a kill landed during the catch-up).

| | |
|---|---|
| Run | {datetime.date.today().isoformat()}, seed {report.seed}, {report.seconds / 60:.1f} min |
| Log pulled each cycle | {report.events:,} reports of about 1.1 KB from one author |
| Cycles | {report.cycles} (of {args.cycles} asked; time cap {args.minutes:g} min) |
| Where the kills landed | {landed} |
| Writer killed too | {report.with_writer} cycles ({report.writer_acknowledged:,} events acked) |
| Events committed before a kill, all found again | {report.committed_before_kills:,} |
| Outcome | all passed: verify clean, nothing lost, items as rebuilt, state-hash reached |
"""
    print(body)
    if not args.no_doc:
        write_section("kill -9", body, doc=RELIABILITY)


if __name__ == "__main__":
    main()
