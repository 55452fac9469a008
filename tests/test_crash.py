"""A writer killed with SIGKILL at any instant leaves a log that `verify` accepts, and
nothing it acknowledged is missing (docs/PROTOCOL.md §7)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.home import Home
from node.service import Node
from tests.helpers import ROOT

WRITER = """
import sys
from node.home import Home
from node.service import Node
from protocol.kinds import POSTABLE
home = Home(__import__("pathlib").Path(sys.argv[1]))
keys = home.unlock(None)
spec = POSTABLE["report"]
with Node.open(home) as node:
    n = 0
    while True:
        size = 1 + n % 7
        events = node.post(keys, [("report", spec.build({"title": f"r{n}-{i}", "body": "x" * 900}))
                                  for i in range(size)])
        n += 1
        print(events[-1].seq, events[-1].id.hex(), flush=True)
"""


def run_cycles(tmp_path: Path, cycles: int) -> None:
    home = Home(tmp_path / "node")
    _, keys = home.init("Los Angeles", None)
    rng = random.Random(1234)
    acknowledged: dict[int, str] = {}
    for _ in range(cycles):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home.path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # wait until it is writing
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0.0, 0.15))  # a random instant, not a wait for a condition
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        # Only whole lines: the kill may cut the last one in the middle.
        for line in [first, *rest.split("\n")[:-1]]:
            if line.strip():
                seq, event_id = line.split()
                acknowledged[int(seq)] = event_id
        with Node.open(home) as node:
            # every event checks, and the search index and the counts of visible items
            # are what the items make of them (written in the items' transaction)
            assert node.verify() == []
            assert node.search_faults() == []
            for seq, event_id in acknowledged.items():
                assert node.store.id_at(keys.node_id, seq) == bytes.fromhex(event_id)
    assert acknowledged


def test_kill_nine_while_appending_short(tmp_path: Path) -> None:
    run_cycles(tmp_path, 10)


@pytest.mark.long
def test_kill_nine_while_appending_long(tmp_path: Path) -> None:
    run_cycles(tmp_path, 100)
