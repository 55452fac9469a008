"""Ctrl-C, as a user presses it: each command runs in a pseudo-terminal of its own (its
controlling terminal), and the test types ``\\x03`` into it, so that the terminal sends
SIGINT to the whole foreground process group (run.py and the demo it started, both).
What is asserted is what the user sees: one line and no traceback, the exit status, how
soon it stops, and that the node folder still verifies (`commune verify`)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from protocol.kinds import POSTABLE
from tests.helpers import ROOT, commune
from tests.net import Member, close_all, free_port, make_network, serve_process
from tests.test_kill_sync import stored_count


def _take_terminal() -> None:
    """In the child, after setsid: the pseudo-terminal on stdin becomes its controlling
    terminal, so \\x03 typed into it signals the child's process group. SIGINT is given
    its default action back, as a shell does for a command it runs in the foreground: a
    suite started in the background (``pytest &`` from a script) inherits it ignored, and
    every command would then ignore Ctrl-C."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A command in a pseudo-terminal of its own, as a user's shell would run it."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        primary, secondary = os.openpty()
        self.primary = primary
        self.proc = subprocess.Popen(
            argv,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_take_terminal,  # noqa: PLW1509 - only the terminal, set in the child
        )
        os.close(secondary)
        self.output = b""
        self.closed = False

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def _read(self, timeout: float) -> None:
        if self.closed:
            time.sleep(min(timeout, 0.05))  # only the exit is left to wait for
            return
        ready, _, _ = select.select([self.primary], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.primary, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            data = b""
        if data:
            self.output += data
        else:
            self.closed = True

    def read_until(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.text)) is None:
            assert not self.closed, f"ended before {pattern!r}:\n{self.text[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} in {timeout} s:\n{self.text}"
            self._read(0.1)
        return found

    def ctrl_c(self) -> float:
        os.write(self.primary, b"\x03")
        return time.monotonic()

    def wait(self, timeout: float) -> int:
        """The exit status, once the command has ended and its output is all read."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or not self.closed:
            assert time.monotonic() < deadline, f"still running after {timeout} s:\n{self.text}"
            self._read(0.1)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.primary)


@contextlib.contextmanager
def terminal(argv: list[str], env: dict[str, str] | None = None) -> Iterator[Terminal]:
    term = Terminal(argv, env)
    try:
        yield term
    finally:
        term.close()


def test_ctrl_c_stops_the_demo_of_run_py_quietly() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    # run.py reinstalls when pyproject.toml changed: not here, where the suite runs
    # after `python3 run.py test` set the environment up
    assert (ROOT / ".venv" / f".stamp-{digest}").exists(), "run `python3 run.py test` first"
    with terminal([sys.executable, "run.py", "demo"]) as term:
        term.read_until(r"Ctrl-C stops the demo and deletes its folders", timeout=240)
        folder = Path(term.read_until(r"Making four nodes in (\S+)", 1)[1])
        assert folder.is_dir()
        pressed = term.ctrl_c()
        code = term.wait(timeout=60)
        took = time.monotonic() - pressed
    out = term.text
    assert code == 130, out
    assert "Traceback" not in out, out
    assert "KeyboardInterrupt" not in out, out
    after = out.rsplit("^C", 1)[-1]
    assert "Stopping…" in after, out
    assert not folder.exists()  # the demo had the time to delete its folders
    # and the user is told how to have `commune` (README, "Using it")
    assert ". .venv/bin/activate" in after, out
    assert took < 30, f"{took:.1f} s to stop"


def test_ctrl_c_stops_serve_cleanly(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles"])
    home = members[0].home.path
    close_all(members)
    port = free_port()
    argv = [sys.executable, "-m", "node", "--home", str(home), "serve"]
    argv += ["--listen", f"127.0.0.1:{port}", "--no-web"]
    with terminal(argv) as term:
        term.read_until(r"Serving on 127\.0\.0\.1:\d+", timeout=60)
        pressed = term.ctrl_c()
        code = term.wait(timeout=30)
        took = time.monotonic() - pressed
    # Ctrl-C is how serve is meant to stop (docs/CLI.md: cleanly, exit status 0)
    assert code == 0, term.text
    assert "Traceback" not in term.text, term.text
    assert took < 10, f"{took:.1f} s to stop"
    checked = commune(home, "verify")
    assert checked.returncode == 0, checked.stderr


def large_network(tmp_path: Path, names: list[str]) -> list[Member]:
    """A network whose first node wrote 20,000 reports; the nodes closed."""
    members = make_network(tmp_path, names)
    spec = POSTABLE["report"]
    reports = [("report", spec.build({"title": f"{i}", "body": "…"})) for i in range(20_000)]
    members[0].node.post(members[0].keys, reports)
    close_all(members)
    return members


def stopped_once(argv: list[str], begun: Callable[[], bool], what: str) -> None:
    """Run ``argv`` in a terminal, press Ctrl-C once ``begun`` holds (``what`` if it does
    not within 120 s): it stops in one line, "error: stopped", exit status 130, no
    traceback."""
    with terminal(argv) as term:
        deadline = time.monotonic() + 120
        while not begun():
            assert term.proc.poll() is None, term.text
            assert time.monotonic() < deadline, what
            time.sleep(0.005)
        term.ctrl_c()
        code = term.wait(timeout=60)
    assert "Traceback" not in term.text, term.text
    assert code == 130, term.text
    assert term.text.rstrip().splitlines()[-1] == "error: stopped", term.text


def test_ctrl_c_stops_export_and_import_leaving_nothing_half_done(tmp_path: Path) -> None:
    """A bundle of 20,000 events: Ctrl-C while `export` writes it leaves no file (nor
    its temporary one); Ctrl-C once `import` has stored some leaves a store that
    verifies, with what it stored, and the next import takes the rest."""
    la, india = large_network(tmp_path, ["Los Angeles", "India"])
    total = stored_count(la.home)
    bundle = tmp_path / "all.bundle"
    writing = tmp_path / ".all.bundle.tmp"  # node/home.py write_private
    argv = [sys.executable, "-m", "node", "--home", str(la.home.path), "export", str(bundle)]
    stopped_once(argv, writing.exists, "export wrote nothing in 120 s")
    assert not bundle.exists()
    assert not writing.exists()

    exported = commune(la.home.path, "export", str(bundle))
    assert exported.returncode == 0, exported.stderr
    before = stored_count(india.home)
    argv = [sys.executable, "-m", "node", "--home", str(india.home.path), "import", str(bundle)]
    stopped_once(argv, lambda: stored_count(india.home) > before, "import stored nothing in 120 s")
    kept = stored_count(india.home)
    assert before < kept < total, (before, kept, total)
    checked = commune(india.home.path, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = commune(india.home.path, "import", str(bundle))
    assert again.returncode == 0, again.stderr
    assert stored_count(india.home) == total


def test_ctrl_c_stops_a_large_sync_mid_transfer_and_keeps_what_came(tmp_path: Path) -> None:
    """20,000 reports from a real `serve` over loopback: the receiving node is busy
    placing batches most of the time, which is when a Ctrl-C used to be lost (Python
    3.11's ``asyncio.wait_for`` swallowed the cancellation when the read it waited for had
    just finished) and the round ran on to the end, exit status 0. Once the first batch
    of 2,000 has come, Ctrl-C stops it within seconds, with what came kept."""
    la, sv = large_network(tmp_path, ["Los Angeles", "El Salvador"])
    total = stored_count(la.home)
    port = free_port()
    server = serve_process(la.home.path, port)
    url = f"https://127.0.0.1:{port}"
    try:
        argv = [sys.executable, "-m", "node", "--home", str(sv.home.path), "sync"]
        with terminal([*argv, "--peer", url]) as term:
            progress = term.read_until(r"(\d+) events received so far", timeout=120)
            pressed = term.ctrl_c()
            code = term.wait(timeout=120)
            took = time.monotonic() - pressed
        out = term.text
        assert "Traceback" not in out, out
        assert code == 130, out
        assert out.rstrip().splitlines()[-1] == "error: stopped", out
        assert took < 5, f"{took:.1f} s to stop"
        kept = stored_count(sv.home)
        # what had come stays, and the round did not run on to the end
        assert int(progress[1]) <= kept < total, (kept, total)
        checked = commune(sv.home.path, "verify")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # and the next sync goes on from there to the end
        done = commune(sv.home.path, "sync", "--peer", url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert stored_count(sv.home) == total
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
