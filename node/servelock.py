"""The serve lock (:func:`serve_lock`): ``serve`` holds ``NODE_HOME/serve.pid`` locked
while it runs, so ``status`` can tell whether it runs (a lock dies with its process: a
file left by a crash does not count) and a second ``serve`` on the same folder is
refused; and when the store was last written.

While its web view runs, ``serve`` also keeps ``NODE_HOME/web-address`` (readable by its
owner only): the view's address with a one-time token (node/web/access.py), read here by
:func:`web_address` for ``status``, and removed when serve stops.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from node.errors import ServeRunning

if TYPE_CHECKING:
    pass

log = logging.getLogger("commune.sync")

SERVE_FILE = "serve.pid"
#: the web view's current address with its one-time token (node/web/access.py)
WEB_ADDRESS_FILE = "web-address"


# --- the serve lock ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServeInfo:
    """What a running ``serve`` says about itself in ``serve.pid``."""

    pid: int
    started: float
    listen: str = ""
    web: str = ""


def _read_info(text: str) -> ServeInfo | None:
    """``serve.pid``: the pid on its first line (as tools expect), then a JSON line."""
    first, _, rest = text.partition("\n")
    try:
        pid = int(first.strip())
        extra = json.loads(rest) if rest.strip() else {}
    except ValueError:
        return None
    if not isinstance(extra, dict):
        extra = {}
    return ServeInfo(
        pid,
        float(extra.get("started") or 0.0),
        str(extra.get("listen") or ""),
        str(extra.get("web") or ""),
    )


class ServeLock:
    """Held by a running ``serve``: see :func:`serve_lock`."""

    def __init__(self, home: Path, listen: str = "", web: str = "") -> None:
        self.path = home / SERVE_FILE
        self.info = ServeInfo(os.getpid(), time.time(), listen, web)
        self._fd: int | None = None

    def __enter__(self) -> ServeLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_info(os.read(fd, 4096).decode("utf-8", "replace"))
            os.close(fd)
            pid = f" (pid {other.pid})" if other is not None else ""
            raise ServeRunning(
                f"another `commune serve`{pid} is running on {self.path.parent}; stop it "
                "first (one folder, one serve)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write()
        return self

    def note(self, *, listen: str | None = None, web: str | None = None) -> None:
        """Say where it listens, once it knows (a port chosen by the system)."""
        info = self.info
        self.info = ServeInfo(
            info.pid,
            info.started,
            info.listen if listen is None else listen,
            info.web if web is None else web,
        )
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        info = self.info
        extra = {"started": info.started, "listen": info.listen, "web": info.web}
        data = f"{info.pid}\n{json.dumps(extra)}\n".encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # not unlinked: another serve may have it open
        os.close(self._fd)  # the lock goes with it
        self._fd = None


def serve_lock(home: Path, *, listen: str = "", web: str = "") -> ServeLock:
    """``with serve_lock(home, listen=...) as running:`` around ``serve``'s life; raises
    :class:`ServeRunning` when another process holds it. ``running.note(web=URL)`` once
    the web view listens."""
    return ServeLock(home, listen, web)


def serve_running(home: Path) -> ServeInfo | None:
    """The running ``serve`` of this folder (from any process), or None."""
    try:
        fd = os.open(home / SERVE_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 4096).decode("utf-8", "replace")
            return _read_info(text) or ServeInfo(0, 0.0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def web_address(home: Path) -> str | None:
    """The running web view's address with its current one-time token, as ``serve`` keeps
    it in ``NODE_HOME/web-address``; None when there is none (or it cannot be read: only
    the account that runs the node may)."""
    try:
        text = (home / WEB_ADDRESS_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def forget_web_address(home: Path) -> None:
    """Remove ``NODE_HOME/web-address`` (serve stopped, or one left by a crash)."""
    with contextlib.suppress(OSError):
        (home / WEB_ADDRESS_FILE).unlink(missing_ok=True)


def store_mtime(store_path: Path | str) -> float | None:
    """When the store was last written: the newer of the database and its WAL file."""
    times = []
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            times.append(os.stat(f"{store_path}{suffix}").st_mtime)
    return max(times) if times else None
