#!/usr/bin/env python3
"""The project's two jobs, on a machine that has only Python 3.11:

    python3 run.py demo     set up, then run the demo
    python3 run.py test     set up, then run the whole test suite (what CI runs)

Each makes the project's own virtual environment in .venv and installs what it needs
there; run again, it only reinstalls when pyproject.toml has changed.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


#: the exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it
STOPPED = 130


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    process = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=env)  # noqa: S603 - our own fixed commands
    # Ctrl-C reaches the command too (the terminal sends SIGINT to the whole foreground
    # group): let it stop cleanly (the demo deletes its folders) and then stop quietly,
    # rather than leave a traceback here and kill it before it is done.
    interrupted = False
    while True:
        try:
            code = process.wait()
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        sys.exit(STOPPED)
    if code:
        sys.exit(STOPPED if code == -signal.SIGINT else code)


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        print(f"Making the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".stamp-{digest}"
    if not stamp.exists():
        sh(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        sh(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        for old in VENV.glob(".stamp-*"):
            old.unlink()
        stamp.touch()


CHROMIUM = Path("/usr/bin/chromium")
#: fonts for the scripts the web view's screenshots show (Devanagari among them)
FONTS = Path("/usr/share/fonts/truetype/noto")
#: a SOCKS5 server for the tests of dialling peers through a proxy (Tor's part)
MICROSOCKS = Path("/usr/bin/microsocks")


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (Playwright cannot download its own
    browsers here), with fonts for every script; the proxy tests use microsocks.
    Install them when they are missing."""
    if CHROMIUM.exists() and FONTS.exists() and MICROSOCKS.exists():
        return
    if not Path("/usr/bin/apt-get").exists():
        print("Chromium is missing and there is no apt-get: browser tests will be skipped.")
        return
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(*prefix, "apt-get", "update", "-qq", env=env)
    packages = ["chromium", "fonts-noto-core", "microsocks"]
    sh(*prefix, "apt-get", "install", "-y", "-qq", *packages, env=env)


def commune_line() -> str:
    """The line to type for the ``commune`` command that ensure_venv installed."""
    here = Path.cwd()
    venv = VENV.relative_to(here) if VENV.is_relative_to(here) else VENV
    return (
        f"The `commune` command is in {BIN / 'commune'}: to have it as `commune` in this "
        f"terminal, run `. {shlex.quote(str(venv / 'bin' / 'activate'))}`"
    )


def test(extra: list[str]) -> None:
    ensure_venv()
    print(commune_line(), flush=True)
    ensure_chromium()
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "mypy")
    # On every core (pytest-xdist): most of a test's time is spent waiting on the real
    # processes, sockets and disks it drives. A worker that runs out steals from the
    # other, so the longest tests do not finish alone (docs/BENCHMARKS.md, "The test
    # suite's time"). `python3 run.py test -n 0 ...` runs in one process.
    sh(BIN / "python", "-m", "pytest", "-q", "-n", "auto", "--dist", "worksteal", *extra)


def demo(extra: list[str]) -> None:
    ensure_venv()
    print(commune_line(), flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        sh(BIN / "python", "-m", "node", "demo", *extra, env=env)
    finally:  # said again when the demo stops, as what to do next
        print(commune_line(), flush=True)


def main() -> None:
    jobs = {"test": test, "demo": demo}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        sys.exit(f"usage: python3 run.py {{{'|'.join(jobs)}}} [args...]")
    try:
        jobs[sys.argv[1]](sys.argv[2:])
    except KeyboardInterrupt:  # while making the environment, say: one line, no traceback
        print("\nStopped.", file=sys.stderr)
        sys.exit(STOPPED)


if __name__ == "__main__":
    main()
