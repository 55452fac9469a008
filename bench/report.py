"""Writes a benchmark's (or a campaign's) figures into docs/BENCHMARKS.md (or
docs/RELIABILITY.md), one section per benchmark, replacing that section only."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "BENCHMARKS.md"
RELIABILITY = DOCS / "RELIABILITY.md"
HEAD = """# Benchmarks

Speed is measured here, never asserted in tests. Each section is written by the
benchmark named in it; run it again to refresh the figures on your machine.
"""


RELIABILITY_HEAD = """# Reliability

Fault, partition and fuzz campaigns, and what each found. Each section is written by
the campaign named in it, with the command that runs it again.

Machine: x86_64 (Intel Xeon), 2 cores, 24 GiB, Linux 6.18, Python 3.11.7, run as root in
a container (which allows tmpfs and loop mounts for the disk-full campaign). It was
shared with other work while the campaigns ran (load average 2 to 12), which slows the
rates below but not the outcomes. The short version of every campaign runs in CI
(`python3 run.py test`); the long ones carry the `long` mark (`.venv/bin/pytest -m long`).
"""


def write_section(title: str, body: str, doc: Path = DOC) -> None:
    """Put ``body`` under ``## title`` in ``doc``, replacing that section if it exists."""
    head = RELIABILITY_HEAD if doc == RELIABILITY else HEAD
    text = doc.read_text(encoding="utf-8") if doc.exists() else head
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    doc.write_text(text, encoding="utf-8")
