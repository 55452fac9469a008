"""What the harnesses share: the repository on sys.path, seeds, and the figures."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rss_kib() -> int:
    """This process's resident memory now, in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def seed(argv: list[str], seeds: Iterable[bytes]) -> None:
    """Write the seeds into the first corpus folder named on the command line, if it is
    empty (libFuzzer then starts from them and keeps what it finds there)."""
    folders = [a for a in argv[1:] if not a.startswith("-")]
    if not folders:
        return
    folder = Path(folders[0])
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return
    for i, data in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(data)


class Progress:
    """Prints one ``FUZZ name key=value ...`` line now and then; the campaign runner
    (tests/fuzz/campaign.py) reads the last one."""

    def __init__(self, name: str, every: float = 5.0) -> None:
        self.name = name
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0
        self.runs = 0
        self.figures: dict[str, object] = {}

    def tick(self, force: bool = False) -> bool:
        """Count one run; True when a line was printed (a time to check invariants)."""
        self.runs += 1
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return False
        self.last = now
        figures = " ".join(f"{k}={v}" for k, v in self.figures.items())
        print(
            f"FUZZ {self.name} runs={self.runs} seconds={now - self.started:.0f} "
            f"rss_kib={rss_kib()} {figures}",
            file=sys.stderr,
            flush=True,
        )
        return True


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
