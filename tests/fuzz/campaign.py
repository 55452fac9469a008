"""The long fuzz campaigns: each atheris harness for a while, from fresh seeds, then
the figures (executions, time, corpus, crashes, memory) into docs/RELIABILITY.md
("Fuzzing"), with the short hypothesis run timed beside them.

    .venv/bin/python -m tests.fuzz.campaign --seconds 180
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import RELIABILITY, write_section
from tests.fuzz._common import ROOT

HARNESSES = ("envelope", "bundle", "sync")


@dataclass
class Outcome:
    name: str
    runs: int
    seconds: int
    corpus_files: int
    corpus_kib: int
    crashes: int
    rss_first: int
    rss_last: int
    rss_max: int
    extra: str
    code: int


def run(name: str, seconds: int, work: Path) -> Outcome:
    corpus = work / f"corpus-{name}"
    artifacts = work / f"crashes-{name}"
    artifacts.mkdir(parents=True)
    done = subprocess.run(
        [
            sys.executable,
            f"tests/fuzz/fuzz_{name}.py",
            f"-max_total_time={seconds}",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    log = done.stderr
    (work / f"{name}.log").write_text(log, encoding="utf-8")
    found = re.search(r"Done (\d+) runs in (\d+) second", log)
    lines = [line for line in log.splitlines() if line.startswith(f"FUZZ {name} ")]
    rss = [int(m.group(1)) for line in lines if (m := re.search(r"rss_kib=(\d+)", line))]
    # memory after the first seconds (imports, seeds, first corpus) against the end
    warm = rss[min(1, len(rss) - 1)] if rss else 0
    last = lines[-1] if lines else ""
    extra = " ".join(w for w in last.split() if w.startswith(("stored=", "other_syncs=")))
    files = list(corpus.iterdir()) if corpus.exists() else []
    return Outcome(
        name,
        int(found.group(1)) if found else 0,
        int(found.group(2)) if found else 0,
        len(files),
        sum(f.stat().st_size for f in files) // 1024,
        len(list(artifacts.iterdir())),
        warm,
        rss[-1] if rss else 0,
        max(rss, default=0),
        extra,
        done.returncode,
    )


def hypothesis_run() -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "tests/test_fuzz.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    return tail, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=180, help="per harness")
    parser.add_argument("--only", choices=HARNESSES, action="append")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the docs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fuzz-campaign-"))
    outcomes = []
    for name in args.only or HARNESSES:
        outcome = run(name, args.seconds, work)
        print(outcome, flush=True)
        outcomes.append(outcome)
    tail, took = hypothesis_run()
    rows = "\n".join(
        f"| {o.name} | {o.runs:,} | {o.seconds} s | {o.runs / max(o.seconds, 1):,.0f}/s | "
        f"{o.corpus_files} files, {o.corpus_kib} KiB | {o.crashes} | "
        f"{o.rss_first / 1024:.0f} → {o.rss_last / 1024:.0f} MiB (max {o.rss_max / 1024:.0f}) | "
        f"{o.extra or '-'} |"
        for o in outcomes
    )
    body = f"""
Two layers. **hypothesis** (tests/test_fuzz.py, in CI): arbitrary bytes and arbitrary
ten-field arrays to the envelope decoder, spliced events, sync streams cut into any
pieces and mutated, arbitrary hello maps, truncated and altered bundles through the
reader and through the node's import path, and mutated batches through ingest; plus a
3,000-run atheris pass of the envelope harness. Last run: `{tail}`, {took:.0f} s
(`.venv/bin/pytest -p no:randomly tests/test_fuzz.py`).

**atheris** (coverage-guided libFuzzer; tests/fuzz/, README there), each harness run
once for {args.seconds} s from its seeds on this 2-core machine, shared with other work:

    .venv/bin/python -m tests.fuzz.campaign --seconds {args.seconds}

| Harness | Executions | Time | Rate | Corpus | Crashes | Memory (RSS) | Other |
|---|---|---|---|---|---|---|---|
{rows}

- *envelope*: `check_event` on any bytes; anything but an `InvalidEvent` is a crash,
  and an accepted event must be exactly canonical.
- *bundle*: `node.bundles.import_bundle` into a real node, on raw files (plain or
  sealed) and on files rebuilt with a correct checksum, plain or sealed to the node (so
  the fuzzer gets past the checksum and the seal); anything but `BadBundle` is a crash;
  `verify` passes and only valid events are ever stored.
- *sync*: a running node (Daemon, real mutual TLS on 127.0.0.1) fed mutated `/push`
  and `/sync` bodies by a member; any answer but 200, 400 or 408 is a crash; meanwhile
  another member posts and syncs with the same node every 0.2 s (`other_syncs`: rounds
  that succeeded during the campaign; one failure would stop it); `verify` passes and
  only valid events are stored (`stored`: the node's log at the end). Memory is the
  whole fuzzing process (libFuzzer's corpus included): after the first seconds, and
  at the end.
"""
    print(body)
    if not args.no_write:
        write_section("Fuzzing", body, doc=RELIABILITY)


if __name__ == "__main__":
    main()
