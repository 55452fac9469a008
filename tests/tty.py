"""The real ``commune`` command at a terminal: a pseudo-terminal (Python's ``pty``) that
is the process's controlling terminal, of a given width, so that what a person sees
(the prompt, read from /dev/tty as ``getpass`` reads it; the output cut to the width)
is tested as a person meets it."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.helpers import ROOT


class Terminal:
    """``commune --home HOME ARGS`` with stdin, stdout and stderr on a pseudo-terminal
    ``columns`` wide; :meth:`expect` waits for text, :meth:`type` answers a prompt."""

    def __init__(
        self, home: Path, *args: str, env: dict[str, str] | None = None, columns: int = 80
    ) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNE_")}
        full_env.pop("COLUMNS", None)
        full_env.update(env or {})
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node", "--home", str(home), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            cwd=ROOT,
            start_new_session=True,
            # the pseudo-terminal becomes the new session's controlling terminal, as a
            # terminal window's is: what /dev/tty (getpass) opens
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509
        )
        os.close(slave)
        self.master = master
        self.output = ""
        self._seen = 0

    def _read(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False once the process is gone."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every end of the terminal's other side is closed
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """Wait for ``text`` after what earlier calls saw; all output up to it."""
        deadline = time.monotonic() + timeout
        while text not in self.output[self._seen :]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout} s in {self.output!r}")
            if not self._read(deadline):
                raise AssertionError(f"the command ended before {text!r}: {self.output!r}")
        self._seen = self.output.index(text, self._seen) + len(text)
        return self.output[: self._seen]

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 60.0) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"still running after {timeout} s: {self.output!r}")
        code = self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code
